/* w3s_loop_poll_into: data the polling thread reads lands in the caller's
 * buffer (a buffer under 16 KiB is not used: then it lands in library
 * memory); every byte arrives once, in order, whichever memory it is in. */
#include <stdint.h>

#include "testutil.h"

#define TOTAL (4u << 20)
#define HOSTBUF (200u * 1024)

static uint8_t pattern(uint64_t i) { return (uint8_t)(i * 7 + 3 + (i >> 13)); }

static void run(size_t cap, int expect_in_buf) {
    int64_t loop = w3s_loop_new();
    REQUIRE(loop > 0, "loop");
    w3s_tcp_options lo;
    w3s_tcp_options_init(&lo);
    lo.local_address = "127.0.0.1";
    int64_t srv = w3s_tcp_listen(loop, &lo, 1);
    REQUIRE(srv > 0, "listen");
    w3s_info info;
    info.size = sizeof info;
    REQUIRE(w3s_get_info(srv, &info) == 0, "listener info");
    int64_t cli = w3s_tcp_connect(loop, "127.0.0.1", info.local_port, NULL, 2);
    REQUIRE(cli > 0, "connect");

    uint8_t *src = malloc(TOTAL);
    for (uint64_t i = 0; i < TOTAL; i++) src[i] = pattern(i);
    uint8_t *buf = cap ? malloc(cap) : NULL;
    w3s_event evs[64];
    int64_t acc = 0;
    uint64_t sent = 0, got = 0, bad = 0, in_buf = 0, in_lib = 0, events = 0;
    int opened = 0, closed = 0;
    double end = t_now() + 30;
    while (!closed && t_now() < end) {
        if (opened && sent < TOTAL) {
            size_t n = TOTAL - sent < 100000 ? TOTAL - sent : 100000;
            int64_t b = w3s_send(cli, src + sent, n);
            if (b < 0) {
                CHECK(0, "send failed: %s", w3s_err_name((int)b));
                break;
            }
            sent += n;
            if (sent == TOTAL) w3s_close(cli);
        }
        int n = w3s_loop_poll_into(loop, evs, 64, 10, buf, cap);
        if (n < 0) {
            CHECK(0, "poll_into: %s", w3s_err_name(n));
            break;
        }
        for (int i = 0; i < n; i++) {
            w3s_event *e = &evs[i];
            if (e->handle == cli && e->type == W3S_EV_OPEN) opened = 1;
            if (e->handle == srv && e->type == W3S_EV_CONNECTION) acc = e->accepted;
            if (acc && e->handle == acc && e->type == W3S_EV_DATA) {
                events++;
                if (buf && e->data >= buf && e->data + e->len < buf + cap)
                    in_buf++;
                else
                    in_lib++;
                for (uint64_t k = 0; k < e->len; k++) bad += e->data[k] != pattern(got + k);
                bad += e->data[e->len] != 0; /* the NUL after every payload */
                got += e->len;
            }
            if (acc && e->handle == acc && e->type == W3S_EV_END) w3s_close(acc);
            if (acc && e->handle == acc && e->type == W3S_EV_CLOSE) closed = 1;
        }
    }
    CHECK(got == TOTAL, "cap %zu: received %llu of %u bytes", cap, (unsigned long long)got, TOTAL);
    CHECK(bad == 0, "cap %zu: every byte in order, each payload NUL-terminated (%llu wrong)", cap,
          (unsigned long long)bad);
    if (expect_in_buf)
        CHECK(in_buf > 0 && in_buf * 2 > events, "cap %zu: most DATA read into the caller's buffer (%llu of %llu)",
              cap, (unsigned long long)in_buf, (unsigned long long)events);
    else
        CHECK(in_buf == 0, "cap %zu: nothing read into a buffer under 16 KiB (%llu of %llu)", cap,
              (unsigned long long)in_buf, (unsigned long long)events);
    w3s_close(srv);
    w3s_loop_close(loop);
    free(src);
    free(buf);
}

int main(void) {
    t_init();
    int64_t loop = w3s_loop_new();
    w3s_event ev[4];
    uint8_t b[64];
    CHECK_CODE(w3s_loop_poll_into(loop, ev, 4, 0, NULL, 100), W3S_EINVAL);
    CHECK_CODE(w3s_loop_poll_into(loop, ev, 4, 0, NULL, 0), 0);
    CHECK_CODE(w3s_loop_poll_into(loop, NULL, 4, 0, b, sizeof b), W3S_EINVAL);
    CHECK_CODE(w3s_loop_poll_into(loop, ev, 0, 0, b, sizeof b), W3S_EINVAL);
    CHECK_CODE(w3s_loop_poll_into(0, ev, 4, 0, b, sizeof b), W3S_EBADF);
    w3s_loop_close(loop);
    CHECK_CODE(w3s_loop_poll_into(loop, ev, 4, 0, b, sizeof b), W3S_EBADF);
    run(HOSTBUF, 1);
    run(8 * 1024, 0);
    run(0, 0);
    CHECK(t_stats_zero(10), "w3s_stats: nothing left");
    return t_done();
}
