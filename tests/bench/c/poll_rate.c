/* poll_rate: how many events per second a C poll loop drains.
 *
 *   poll_rate [events]     (default 200000)
 *
 * Fills a loop with N queued MESSAGE events (64-byte datagrams from a second
 * UDP socket, received while nobody polls), then times draining them with
 * w3s_loop_poll in batches of 1024, payload copies included. Also reports the
 * end-to-end rate with a sender and the drain running together. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "w3sock.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static w3s_event evs[1024];

static int64_t open_receiver(int64_t loop, int *port) {
    w3s_udp_options o;
    w3s_udp_options_init(&o);
    o.local_address = "127.0.0.1";
    o.receive_buffer_size = 64 << 20;
    o.high_water_receive = (int64_t)1 << 32;
    int64_t h = w3s_udp_open(loop, &o, 1);
    w3s_info info;
    info.size = sizeof info;
    w3s_get_info(h, &info);
    *port = info.local_port;
    return h;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 200000;
    char msg[64] = "w3sock poll rate";
    int64_t loop = w3s_loop_new();
    int port;
    int64_t rx = open_receiver(loop, &port);
    w3s_udp_options so;
    w3s_udp_options_init(&so);
    so.local_address = "127.0.0.1";
    int64_t tx = w3s_udp_open(loop, &so, 2);

    /* Phase 1: queue N events without polling, in rounds small enough for
     * the kernel's receive buffer. */
    w3s_info info;
    info.size = sizeof info;
    long sent = 0;
    double t0 = now();
    while (sent < n && now() - t0 < 60) {
        for (int i = 0; i < 2000 && sent < n; i++, sent++)
            if (w3s_send_to(tx, msg, sizeof msg, "127.0.0.1", port) < 0) {
                fprintf(stderr, "send_to: %s\n", w3s_last_error_message());
                return 1;
            }
        do {
            w3s_get_info(rx, &info);
        } while ((long)(info.messages_received + info.messages_dropped) < sent && now() - t0 < 60);
    }
    long queued = (long)info.messages_received;
    double t1 = now();
    long drained = 0, messages = 0;
    int k;
    while ((k = w3s_loop_poll(loop, evs, 1024, 0)) > 0) {
        drained += k;
        for (int i = 0; i < k; i++) messages += evs[i].type == W3S_EV_MESSAGE;
    }
    double t2 = now();
    printf("queued %ld datagrams (%llu dropped by the kernel or the queue)\n", queued,
           (unsigned long long)info.messages_dropped);
    printf("drain: %ld events in %.3f s = %.0f events/s (%.3f us/event)\n", drained, t2 - t1,
           drained / (t2 - t1), (t2 - t1) * 1e6 / drained);

    /* Phase 2: send and drain together. */
    long got = 0;
    sent = 0;
    double t3 = now();
    while (got < n && now() - t3 < 60) {
        for (int i = 0; i < 256 && sent < n; i++, sent++) w3s_send_to(tx, msg, sizeof msg, "127.0.0.1", port);
        while ((k = w3s_loop_poll(loop, evs, 1024, sent >= n ? 10 : 0)) > 0)
            for (int i = 0; i < k; i++) got += evs[i].type == W3S_EV_MESSAGE;
        if (sent >= n && k == 0) break;
    }
    double t4 = now();
    printf("end to end: %ld of %ld datagrams in %.3f s = %.0f messages/s\n", got, n, t4 - t3, got / (t4 - t3));
    w3s_shutdown();
    return messages == drained - 2 || messages > 0 ? 0 : 1;
}
