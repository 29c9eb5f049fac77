/* How long w3s_loop_close() and w3s_shutdown() block their caller under
 * load (defect 4 of the reliability issue: the header says only the poll
 * blocks). Each round connects CONNS loopback pairs (clients on loop A,
 * accepted sockets on loop B), keeps two threads sending 64 KiB chunks on
 * every client while a thread polls each loop, and then times
 *   - w3s_loop_close(A) with the transfer going on, and
 *   - w3s_shutdown() in a child process of its own (shutdown is final).
 * Prints each round's figures and the median. No threshold: figures.
 * Usage: teardown_block [rounds] [connections]   (default 5 200) */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "w3sock.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int conns;
static int64_t la, lb, *cli;
static volatile int stop;

/* Sends on every other client while its queue is under 1 MiB (the default
 * high-water mark): a sender that respects backpressure, at full speed. */
static void *sender(void *arg) {
    static uint8_t chunk[64 * 1024];
    int k = (int)(intptr_t)arg;
    w3s_info in;
    while (!stop)
        for (int i = k; i < conns && !stop; i += 2) {
            memset(&in, 0, sizeof in);
            in.size = sizeof in;
            if (w3s_get_info(cli[i], &in) == 0 && in.buffered_amount < (1 << 20))
                w3s_send(cli[i], chunk, sizeof chunk);
        }
    return NULL;
}

static void *poller(void *arg) {
    int64_t loop = *(int64_t *)arg;
    w3s_event evs[256];
    while (!stop && w3s_loop_poll(loop, evs, 256, 20) >= 0) {
    }
    return NULL;
}

/* Sets up the load; returns 0 on success. */
static int load(void) {
    la = w3s_loop_new();
    lb = w3s_loop_new();
    w3s_tcp_options o;
    w3s_tcp_options_init(&o);
    o.local_address = "127.0.0.1";
    int64_t srv = w3s_tcp_listen(lb, &o, 0);
    w3s_info in;
    memset(&in, 0, sizeof in);
    in.size = sizeof in;
    if (la <= 0 || lb <= 0 || srv <= 0 || w3s_get_info(srv, &in) != 0) return 1;
    cli = calloc((size_t)conns, sizeof *cli);
    int opened = 0, accepted = 0;
    for (int i = 0; i < conns; i++) cli[i] = w3s_tcp_connect(la, "127.0.0.1", in.local_port, NULL, 0);
    w3s_event evs[256];
    for (double end = now() + 20; (opened < conns || accepted < conns) && now() < end;) {
        int n = w3s_loop_poll(la, evs, 256, 5);
        for (int i = 0; i < n; i++) opened += evs[i].type == W3S_EV_OPEN;
        n = w3s_loop_poll(lb, evs, 256, 5);
        for (int i = 0; i < n; i++) accepted += evs[i].type == W3S_EV_CONNECTION;
    }
    return opened == conns && accepted == conns ? 0 : 1;
}

static pthread_t th[4];

static void start(void) {
    stop = 0;
    pthread_create(&th[0], NULL, sender, (void *)0);
    pthread_create(&th[1], NULL, sender, (void *)1);
    pthread_create(&th[2], NULL, poller, &la);
    pthread_create(&th[3], NULL, poller, &lb);
    struct timespec d = {0, 300 * 1000 * 1000}; /* let queues fill */
    nanosleep(&d, NULL);
}

static void finish(void) {
    stop = 1;
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The child: sets up the load, times w3s_shutdown, prints seconds. */
static int shutdown_child(void) {
    if (load() != 0) return 1;
    start();
    double t0 = now();
    w3s_shutdown();
    double t = now() - t0;
    finish();
    printf("%.6f\n", t);
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 2 && strcmp(argv[1], "--shutdown-child") == 0) {
        conns = atoi(argv[2]);
        return conns > 0 ? shutdown_child() : 2;
    }
    int rounds = argc > 1 ? atoi(argv[1]) : 5;
    conns = argc > 2 ? atoi(argv[2]) : 200;
    if (rounds < 1 || rounds > 100 || conns < 1) return 2;
    double *lc = calloc((size_t)rounds, sizeof *lc), *sd = calloc((size_t)rounds, sizeof *sd);
    for (int r = 0; r < rounds; r++) {
        /* w3s_shutdown, in a process of its own (shutdown is final; a
         * forked child cannot use the library, so it is run afresh) */
        char cmd[4200];
        snprintf(cmd, sizeof cmd, "%s --shutdown-child %d", argv[0], conns);
        FILE *f = popen(cmd, "r");
        if (f == NULL || fscanf(f, "%lf", &sd[r]) != 1) sd[r] = -1;
        if (f) pclose(f);
        /* w3s_loop_close, here */
        if (load() != 0) {
            fprintf(stderr, "round %d: could not connect %d pairs\n", r, conns);
            return 1;
        }
        start();
        double t0 = now();
        w3s_loop_close(la);
        lc[r] = now() - t0;
        finish();
        w3s_loop_close(lb);
        free(cli);
        printf("round %d: %d connections sending: w3s_loop_close %.1f ms, w3s_shutdown %.1f ms\n", r, conns,
               lc[r] * 1e3, sd[r] * 1e3);
    }
    qsort(lc, (size_t)rounds, sizeof *lc, cmp);
    qsort(sd, (size_t)rounds, sizeof *sd, cmp);
    printf("w3s_loop_close blocks: median %.1f ms, max %.1f ms\n", lc[rounds / 2] * 1e3, lc[rounds - 1] * 1e3);
    printf("w3s_shutdown blocks: median %.1f ms, max %.1f ms\n", sd[rounds / 2] * 1e3, sd[rounds - 1] * 1e3);
    return 0;
}
