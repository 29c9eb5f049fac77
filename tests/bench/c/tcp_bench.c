/* tcp_bench: TCP ping-pong round trips per second and bulk throughput of
 * the w3sock C ABI, both ends in this process on one loop in poll mode.
 *
 *   tcp_bench pingpong [round_trips]   (default 50000, 64-byte messages)
 *   tcp_bench bulk [megabytes]         (default 2048)
 *
 * tests/bench/run.sh runs it beside the same programs in plain Go. */
#define _POSIX_C_SOURCE 200809L
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "w3sock.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static w3s_event evs[1024];
static int64_t loop, srv, cli, acc;

static void setup(void) {
    loop = w3s_loop_new();
    w3s_tcp_options o;
    w3s_tcp_options_init(&o);
    o.local_address = "127.0.0.1";
    srv = w3s_tcp_listen(loop, &o, 1);
    w3s_info info;
    info.size = sizeof info;
    w3s_get_info(srv, &info);
    cli = w3s_tcp_connect(loop, "127.0.0.1", info.local_port, NULL, 2);
    int open = 0;
    acc = 0;
    double end = now() + 10;
    while ((!open || !acc) && now() < end) {
        int k = w3s_loop_poll(loop, evs, 1024, 100);
        for (int i = 0; i < k; i++) {
            if (evs[i].type == W3S_EV_OPEN && evs[i].handle == cli) open = 1;
            if (evs[i].type == W3S_EV_CONNECTION) acc = evs[i].accepted;
        }
    }
    if (!open || !acc) {
        fprintf(stderr, "tcp_bench: setup failed\n");
        exit(1);
    }
    w3s_set_user_data(acc, 3);
}

static int pingpong(long n) {
    char msg[64];
    memset(msg, 'p', sizeof msg);
    struct pollfd pfd = {.fd = w3s_loop_fd(loop), .events = POLLIN};
    long done = 0;
    size_t got = 0;
    double t0 = now();
    w3s_send(cli, msg, sizeof msg);
    while (done < n && now() - t0 < 120) {
        poll(&pfd, 1, 1000);
        int k;
        while ((k = w3s_loop_poll(loop, evs, 1024, 0)) > 0) {
            for (int i = 0; i < k; i++) {
                w3s_event *ev = &evs[i];
                if (ev->type != W3S_EV_DATA) continue;
                if (ev->handle == acc) {
                    w3s_send(acc, ev->data, ev->len);
                } else if (ev->handle == cli) {
                    got += ev->len;
                    if (got >= sizeof msg) {
                        got -= sizeof msg;
                        if (++done < n) w3s_send(cli, msg, sizeof msg);
                    }
                }
            }
        }
    }
    double t = now() - t0;
    printf("w3sock pingpong: %ld round trips in %.3f s = %.0f round trips/s\n", done, t, done / t);
    return done == n ? 0 : 1;
}

static int bulk(long mb) {
    static char chunk[256 << 10];
    memset(chunk, 'b', sizeof chunk);
    long long total = (long long)mb << 20, sent = 0, got = 0;
    int drained = 1;
    double t0 = now();
    while (got < total && now() - t0 < 120) {
        while (drained && sent < total) {
            int64_t b = w3s_send(cli, chunk, sizeof chunk);
            if (b < 0) {
                fprintf(stderr, "send: %s\n", w3s_last_error_message());
                return 1;
            }
            sent += sizeof chunk;
            if (b >= (1 << 20)) drained = 0; /* at the high-water mark: wait for DRAIN */
        }
        int k = w3s_loop_poll(loop, evs, 1024, 100);
        for (int i = 0; i < k; i++) {
            if (evs[i].type == W3S_EV_DATA && evs[i].handle == acc) got += (long long)evs[i].len;
            if (evs[i].type == W3S_EV_DRAIN && evs[i].handle == cli) drained = 1;
        }
    }
    double t = now() - t0;
    printf("w3sock bulk: %lld MiB in %.3f s = %.0f MB/s\n", got >> 20, t, got / t / 1e6);
    return got == total ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: tcp_bench pingpong|bulk [n]\n");
        return 2;
    }
    setup();
    int rc = strcmp(argv[1], "bulk") == 0 ? bulk(argc > 2 ? atol(argv[2]) : 2048)
                                          : pingpong(argc > 2 ? atol(argv[2]) : 50000);
    w3s_shutdown();
    return rc;
}
