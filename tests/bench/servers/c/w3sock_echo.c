/* w3sock_echo: the benchmark's echo server on the public C ABI of w3sock.
 *
 *   w3sock_echo poll|callback tcp|tls|udp PORT [CERT KEY]
 *
 * poll: the main thread waits on w3s_loop_fd() and drains w3s_loop_poll()
 * (plain TCP data is then read on this thread). callback: the library's
 * callback thread hands each batch of events to on_events. Either way every
 * byte (TCP, TLS) or datagram (UDP) goes back to its sender. A connection
 * whose unsent bytes reach the send high-water mark is paused until DRAIN.
 * Prints "ready" once the listener (or UDP socket) is open; runs until
 * killed. */
#define _POSIX_C_SOURCE 200809L
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "w3sock.h"

#define HIGH_WATER (1 << 20) /* the library's default send high-water mark */

static void die(const char *what, int64_t rc) {
    fprintf(stderr, "w3sock_echo: %s: %s (%s)\n", what, w3s_err_name((int)rc), w3s_last_error_message());
    exit(1);
}

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(1);
    }
    static char buf[3][16384];
    static int used;
    char *out = buf[used++ % 3];
    size_t n = fread(out, 1, sizeof buf[0] - 1, f);
    out[n] = 0;
    fclose(f);
    return out;
}

static void on_events(void *user, const w3s_event *evs, int count) {
    (void)user;
    for (int i = 0; i < count; i++) {
        const w3s_event *e = &evs[i];
        switch (e->type) {
        case W3S_EV_OPEN:
            printf("ready\n");
            fflush(stdout);
            break;
        case W3S_EV_DATA:
            if (w3s_send(e->handle, e->data, e->len) >= HIGH_WATER) w3s_pause(e->handle);
            break;
        case W3S_EV_DRAIN:
            w3s_resume(e->handle);
            break;
        case W3S_EV_MESSAGE:
            w3s_send_to(e->handle, e->data, e->len, e->address, e->port);
            break;
        case W3S_EV_END:
            w3s_close(e->handle);
            break;
        default: /* CONNECTION: accepted sockets are open and reading already */
            break;
        }
    }
}

int main(int argc, char **argv) {
    if (argc < 4 || (strcmp(argv[1], "poll") && strcmp(argv[1], "callback"))) {
        fprintf(stderr, "usage: w3sock_echo poll|callback tcp|tls|udp PORT [CERT KEY]\n");
        return 2;
    }
    int64_t loop = w3s_loop_new();
    if (loop < 0) die("loop", loop);
    int callback = strcmp(argv[1], "callback") == 0;
    if (callback) {
        int rc = w3s_loop_set_callback(loop, on_events, NULL);
        if (rc < 0) die("set_callback", rc);
    }
    const char *proto = argv[2];
    int port = atoi(argv[3]);
    int64_t h;
    if (strcmp(proto, "udp") == 0) {
        w3s_udp_options o;
        w3s_udp_options_init(&o);
        o.local_address = "127.0.0.1";
        o.local_port = port;
        h = w3s_udp_open(loop, &o, 0);
    } else {
        w3s_tcp_options o;
        w3s_tls_options t;
        w3s_tcp_options_init(&o);
        o.local_address = "127.0.0.1";
        o.local_port = port;
        o.backlog = 4096;
        if (strcmp(proto, "tls") == 0) {
            if (argc < 6) {
                fprintf(stderr, "w3sock_echo: tls needs CERT and KEY\n");
                return 2;
            }
            w3s_tls_options_init(&t);
            t.cert_pem = read_file(argv[4]);
            t.key_pem = read_file(argv[5]);
            o.use_secure_transport = 1;
            o.tls = &t;
        }
        h = w3s_tcp_listen(loop, &o, 0);
    }
    if (h < 0) die("listen", h);
    if (callback) {
        for (;;) pause();
    }
    static w3s_event evs[1024];
    struct pollfd pfd = {.fd = w3s_loop_fd(loop), .events = POLLIN};
    for (;;) {
        poll(&pfd, 1, -1);
        int k;
        while ((k = w3s_loop_poll(loop, evs, 1024, 0)) > 0) on_events(NULL, evs, k);
        if (k < 0) die("poll", k);
    }
}
