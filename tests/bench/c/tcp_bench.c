/* tcp_bench: TCP ping-pong round trips per second and bulk throughput of a
 * w3sock C client (poll mode) against a server in another process.
 *
 *   tcp_bench pingpong PORT [round_trips]   (default 50000, 64-byte messages)
 *   tcp_bench bulk PORT [megabytes]         (default 2048)
 *
 * The server is `gobench serve` (tests/bench/go): tests/bench/run.sh runs this
 * client and the plain-Go client against the same server, in the same run. */
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
static int64_t loop, cli;

static void setup(int port, char mode) {
    loop = w3s_loop_new();
    cli = w3s_tcp_connect(loop, "127.0.0.1", port, NULL, 2);
    int open = 0;
    double end = now() + 10;
    while (!open && now() < end) {
        int k = w3s_loop_poll(loop, evs, 1024, 100);
        for (int i = 0; i < k; i++) {
            if (evs[i].type == W3S_EV_OPEN) open = 1;
            if (evs[i].type == W3S_EV_ERROR) {
                fprintf(stderr, "tcp_bench: %s\n", (const char *)evs[i].data);
                exit(1);
            }
        }
    }
    if (!open) {
        fprintf(stderr, "tcp_bench: connect timed out\n");
        exit(1);
    }
    w3s_send(cli, &mode, 1);
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
                if (evs[i].type != W3S_EV_DATA) continue;
                got += evs[i].len;
                if (got >= sizeof msg) {
                    got -= sizeof msg;
                    if (++done < n) w3s_send(cli, msg, sizeof msg);
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
    long long total = (long long)mb << 20, sent = 0;
    int drained = 1, closed = 0;
    char reply[64];
    size_t rlen = 0;
    double t0 = now();
    while (!closed && now() - t0 < 120) {
        while (drained && sent < total) {
            int64_t b = w3s_send(cli, chunk, sizeof chunk);
            if (b < 0) {
                fprintf(stderr, "send: %s\n", w3s_last_error_message());
                return 1;
            }
            sent += sizeof chunk;
            if (b >= (1 << 20)) drained = 0; /* at the high-water mark: wait for DRAIN */
            if (sent >= total) w3s_half_close(cli);
        }
        int k = w3s_loop_poll(loop, evs, 1024, 100);
        for (int i = 0; i < k; i++) {
            if (evs[i].type == W3S_EV_DRAIN) drained = 1;
            if (evs[i].type == W3S_EV_DATA && rlen + evs[i].len < sizeof reply) {
                memcpy(reply + rlen, evs[i].data, evs[i].len);
                rlen += evs[i].len;
            }
            if (evs[i].type == W3S_EV_CLOSE) closed = 1;
        }
    }
    double t = now() - t0;
    reply[rlen] = 0;
    long long got = atoll(reply);
    printf("w3sock bulk: %lld MiB in %.3f s = %.0f MB/s\n", got >> 20, t, got / t / 1e6);
    return got == total ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: tcp_bench pingpong|bulk PORT [n]\n");
        return 2;
    }
    int is_bulk = strcmp(argv[1], "bulk") == 0;
    setup(atoi(argv[2]), is_bulk ? 'B' : 'P');
    int rc = is_bulk ? bulk(argc > 3 ? atol(argv[3]) : 2048) : pingpong(argc > 3 ? atol(argv[3]) : 50000);
    w3s_shutdown();
    return rc;
}
