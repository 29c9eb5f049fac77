/* A w3s_send that cannot allocate after a partial write: part of the data
 * is already on the wire, so the call must not fail (and must not end the
 * socket: a failed call emits no event). The rest follows in order, and the
 * peer receives every byte.
 *
 * This program defines malloc, so the library's calls to it come here
 * (ELF symbol interposition); it fails large allocations on this thread
 * only while a flag is set, and hands everything else to glibc. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>

#include "testutil.h"

extern void *__libc_malloc(size_t n);

static __thread size_t fail_from; /* 0: never fail */
static __thread int failed;

void *malloc(size_t n) {
    if (fail_from != 0 && n >= fail_from) {
        failed++;
        return NULL;
    }
    return __libc_malloc(n);
}

#define TOTAL (16u << 20)
static uint8_t out[TOTAL];

static int64_t the_loop;

int main(void) {
    t_init();
    for (size_t i = 0; i < TOTAL; i++) out[i] = (uint8_t)(i * 7 % 251);
    the_loop = w3s_loop_new();
    REQUIRE(the_loop > 0, "loop");
    w3s_tcp_options o;
    w3s_tcp_options_init(&o);
    o.local_address = "127.0.0.1";
    int64_t l = w3s_tcp_listen(the_loop, &o, 0);
    REQUIRE(l > 0, "listener");
    w3s_info info;
    info.size = sizeof info;
    w3s_get_info(l, &info);
    int64_t c = w3s_tcp_connect(the_loop, "127.0.0.1", info.local_port, NULL, 0);
    REQUIRE(c > 0, "connect");

    int64_t a = 0;
    int open = 0;
    double end = t_now() + 5;
    w3s_event evs[64];
    while ((!a || !open) && t_now() < end) {
        int n = w3s_loop_poll(the_loop, evs, 64, 50);
        for (int i = 0; i < n; i++) {
            if (evs[i].type == W3S_EV_CONNECTION) a = evs[i].accepted;
            if (evs[i].handle == c && evs[i].type == W3S_EV_OPEN) open = 1;
        }
    }
    REQUIRE(a > 0 && open, "connected");
    w3s_pause(a); /* the kernel's buffers fill: the send below is partial */
    w3s_loop_poll(the_loop, evs, 64, 0);

    fail_from = 1u << 20;
    int64_t rc = w3s_send(c, out, TOTAL);
    fail_from = 0;
    REQUIRE(failed > 0, "the send met a failed allocation (%d)", failed);
    CHECK(rc > 0 && rc <= (int64_t)TOTAL, "the partial send succeeds, %lld bytes buffered (got %s)", (long long)rc,
          rc < 0 ? w3s_err_name((int)rc) : "a count");

    w3s_resume(a);
    uint64_t got = 0, bad = 0;
    int closed = 0, errors = 0;
    end = t_now() + 20;
    while (got < TOTAL && t_now() < end) {
        int n = w3s_loop_poll(the_loop, evs, 64, 50);
        for (int i = 0; i < n; i++) {
            if (evs[i].handle == c && (evs[i].type == W3S_EV_CLOSE || evs[i].type == W3S_EV_ERROR)) {
                closed += evs[i].type == W3S_EV_CLOSE;
                errors += evs[i].type == W3S_EV_ERROR;
            }
            if (evs[i].handle == a && evs[i].type == W3S_EV_DATA) {
                for (uint64_t k = 0; k < evs[i].len && got + k < TOTAL; k++)
                    bad += evs[i].data[k] != out[got + k];
                got += evs[i].len;
            }
        }
    }
    CHECK(closed == 0 && errors == 0, "no ERROR or CLOSE for the sender (%d, %d)", errors, closed);
    CHECK(got == TOTAL && bad == 0, "the peer received all %u bytes in order (%llu, %llu wrong)", TOTAL,
          (unsigned long long)got, (unsigned long long)bad);
    CHECK_CODE(w3s_send(c, "!", 1), 0);

    w3s_close(c);
    w3s_close(a);
    w3s_close(l);
    w3s_loop_close(the_loop);
    CHECK(t_stats_zero(5), "nothing leaks");
    return t_done();
}
