/* idle_memory: memory per idle TCP connection.
 *
 *   idle_memory [connections]     (default 10000)
 *
 * Opens N loopback connections through w3sock from this process to a w3sock
 * server in a second process (one descriptor limit each), has every accepted
 * socket send 32 KiB that the client receives, lets them go idle, and
 * reports the growth of each process's resident memory per connection. */
#define _POSIX_C_SOURCE 200809L
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "w3sock.h"

static long rss_kib(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, resident = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
        fclose(f);
    }
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static char payload[32 << 10];

/* Settles: drains the loop, asks the library to return what it no longer
 * uses (w3s_release_memory: a collection, then free pages back to the OS),
 * and returns the resident size. */
static long settle(int64_t loop) {
    w3s_event evs[256];
    long rss = 0;
    for (int i = 0; i < 3; i++) {
        poll(NULL, 0, 500);
        while (w3s_loop_poll(loop, evs, 256, 0) > 0) {
        }
        w3s_release_memory();
        rss = rss_kib();
    }
    return rss;
}

/* The server role: accept n connections, send 32 KiB on each, go idle,
 * report the growth of resident memory on stdout, exit when stdin closes. */
static int run_server(int n) {
    memset(payload, 'x', sizeof payload);
    int64_t loop = w3s_loop_new();
    w3s_tcp_options o;
    w3s_tcp_options_init(&o);
    o.local_address = "127.0.0.1";
    o.backlog = 4096;
    int64_t srv = w3s_tcp_listen(loop, &o, 1);
    w3s_info info;
    info.size = sizeof info;
    w3s_get_info(srv, &info);
    long base = settle(loop);
    printf("%d\n", info.local_port);
    fflush(stdout);
    w3s_event evs[1024];
    int accepted = 0;
    double start = now();
    while (accepted < n && now() - start < 300) {
        int k = w3s_loop_poll(loop, evs, 1024, 100);
        for (int i = 0; i < k; i++)
            if (evs[i].type == W3S_EV_CONNECTION) {
                accepted++;
                w3s_send(evs[i].accepted, payload, sizeof payload);
            }
    }
    long rss = settle(loop);
    printf("%d %ld\n", accepted, rss - base);
    fflush(stdout);
    char c;
    while (read(0, &c, 1) > 0) {
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 2 && strcmp(argv[1], "server") == 0) return run_server(atoi(argv[2]));
    int n = argc > 1 ? atoi(argv[1]) : 10000;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_max < (rlim_t)(n + 200)) {
        fprintf(stderr, "idle_memory: need %d descriptors per process, the hard limit is %ld\n", n + 200, (long)rl.rlim_max);
        return 1;
    }
    /* The server runs in a second process (exec, not just fork: the Go
     * runtime does not survive a fork), so each process holds one end. */
    int to_srv[2], from_srv[2];
    if (pipe(to_srv) || pipe(from_srv)) return 1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(to_srv[0], 0);
        dup2(from_srv[1], 1);
        close(to_srv[1]);
        close(from_srv[0]);
        char nbuf[32];
        snprintf(nbuf, sizeof nbuf, "%d", n);
        execl("/proc/self/exe", argv[0], "server", nbuf, (char *)NULL);
        _exit(127);
    }
    close(to_srv[0]);
    close(from_srv[1]);
    FILE *srvout = fdopen(from_srv[0], "r");
    int port = 0;
    if (fscanf(srvout, "%d", &port) != 1) {
        fprintf(stderr, "idle_memory: the server did not start\n");
        return 1;
    }

    int64_t loop = w3s_loop_new();
    long base = settle(loop);
    w3s_event evs[1024];
    int opened = 0, connected = 0;
    long long received = 0, want = (long long)n * (long long)sizeof payload;
    double start = now();
    while (received < want && now() - start < 300) {
        while (opened < n && opened - connected < 1000) { /* bounded handshakes in flight */
            if (w3s_tcp_connect(loop, "127.0.0.1", port, NULL, 2) < 0) {
                fprintf(stderr, "connect: %s\n", w3s_last_error_message());
                return 1;
            }
            opened++;
        }
        int k = w3s_loop_poll(loop, evs, 1024, 100);
        for (int i = 0; i < k; i++) {
            w3s_event *ev = &evs[i];
            if (ev->type == W3S_EV_OPEN) connected++;
            else if (ev->type == W3S_EV_DATA) received += (long long)ev->len;
            else if (ev->type == W3S_EV_ERROR) {
                fprintf(stderr, "error: %s %s\n", w3s_err_name(ev->error), (const char *)ev->data);
                return 1;
            }
        }
    }
    double setup = now() - start;
    long client_growth = settle(loop) - base;
    int accepted = 0;
    long server_growth = 0;
    if (fscanf(srvout, "%d %ld", &accepted, &server_growth) != 2) {
        fprintf(stderr, "idle_memory: no report from the server\n");
        return 1;
    }
    close(to_srv[1]);
    w3s_stats_t st;
    st.size = sizeof st;
    w3s_stats(&st);
    printf("idle connections:           %d (client process: %lld sockets, %lld goroutines)\n",
           connected, (long long)st.sockets, (long long)st.goroutines);
    printf("bytes received (client):    %lld of %lld\n", received, want);
    printf("setup time:                 %.1f s\n", setup);
    printf("client RSS growth:          %.1f MiB = %.2f KiB per connection\n", client_growth / 1024.0, (double)client_growth / n);
    printf("server RSS growth:          %.1f MiB = %.2f KiB per connection\n", server_growth / 1024.0, (double)server_growth / n);
    printf("both ends, per connection:  %.2f KiB\n", (double)(client_growth + server_growth) / n);
    w3s_shutdown();
    return received == want && accepted == n ? 0 : 1;
}
