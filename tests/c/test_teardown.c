/* w3s_shutdown releases everything w3s_loop_close would (defect 2 of the
 * reliability issue: it left each loop's payload arena, the C memory that
 * w3s_loop_poll copies event payloads into, allocated).
 *
 * Three loops each receive a burst of UDP datagrams and take them in one
 * big poll, so each arena grows past 1 MB; then w3s_shutdown runs with the
 * loops still open. What it must free shows up in the sanitizer run
 * (make test-asan): LeakSanitizer fails the test at exit if an arena is
 * left. In the plain run the test checks that nothing is left live. */
#include <stdint.h>

#include "testutil.h"

#define LOOPS 3
#define DGRAMS 800
#define DGRAM_LEN 1400

static void count_messages(void *ctx, const w3s_event *ev) {
    if (ev->type == W3S_EV_MESSAGE && ev->len == DGRAM_LEN) ++*(int *)ctx;
}

static uint64_t received(int64_t h) {
    w3s_info in;
    return t_info(h, &in) == 0 ? in.messages_received : 0;
}

/* Sends DGRAMS datagrams to rx in batches no bigger than the kernel's
 * receive buffer, waiting for the library to have read each batch, then
 * takes every MESSAGE in one poll of up to 1024 events. */
static int burst(int64_t loop, int64_t rx, int64_t tx) {
    uint8_t buf[DGRAM_LEN];
    memset(buf, 'x', sizeof buf);
    for (int sent = 0; sent < DGRAMS;) {
        for (int k = 0; k < 64 && sent < DGRAMS; k++, sent++)
            if (w3s_send(tx, buf, sizeof buf) < 0) return 0;
        for (double end = t_now() + 10; received(rx) < (uint64_t)sent;) {
            if (t_now() > end) return 0;
            t_sleep_ms(1);
        }
    }
    static w3s_event evs[1024];
    int n = w3s_loop_poll(loop, evs, 1024, 1000), got = 0;
    for (int i = 0; i < n; i++) count_messages(&got, &evs[i]);
    return got == DGRAMS;
}

int main(void) {
    t_init();
    for (int l = 0; l < LOOPS; l++) {
        int64_t loop = w3s_loop_new();
        w3s_udp_options o;
        w3s_udp_options_init(&o);
        o.local_address = "127.0.0.1";
        o.receive_buffer_size = 1 << 20;
        int64_t rx = w3s_udp_open(loop, &o, 1);
        REQUIRE(loop > 0 && rx > 0, "loop %d and its receiving UDP socket", l);
        w3s_udp_options_init(&o);
        o.local_address = "127.0.0.1";
        o.remote_address = "127.0.0.1";
        o.remote_port = t_port(rx);
        int64_t tx = w3s_udp_open(loop, &o, 2);
        REQUIRE(tx > 0, "loop %d: sending UDP socket connected to port %d", l, o.remote_port);
        int opens = 0;
        for (double end = t_now() + 10; opens < 2 && t_now() < end;) {
            w3s_event evs[8];
            int n = w3s_loop_poll(loop, evs, 8, 50);
            for (int i = 0; i < n; i++) opens += evs[i].type == W3S_EV_OPEN;
        }
        REQUIRE(opens == 2, "loop %d: both sockets open", l);
        /* A datagram the kernel drops would be counted nowhere: a failed
         * burst is a failed test, not retried. */
        CHECK(burst(loop, rx, tx), "loop %d: %d datagrams of %d bytes taken by one poll", l, DGRAMS,
              DGRAM_LEN);
    }
    CHECK_CODE(w3s_shutdown(), W3S_OK);
    w3s_stats_t st = t_stats();
    CHECK(st.loops == 0 && st.sockets == 0, "after w3s_shutdown: %lld loops, %lld sockets",
          (long long)st.loops, (long long)st.sockets);
    return t_done();
}
