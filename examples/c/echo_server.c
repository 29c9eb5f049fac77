/* echo_server: a TCP echo server on the w3sock C ABI, in poll mode.
 *
 *   echo_server [port] [max_connections]
 *
 * Listens on 127.0.0.1:port (0 = ephemeral; the port is printed on the
 * first line so scripts can read it), echoes every byte back, half-closes
 * when a client does, and exits after max_connections clients have come and
 * gone (0 = serve forever). */
#define _POSIX_C_SOURCE 200809L
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>

#include "w3sock.h"

static void die(const char *what, long long code) {
    fprintf(stderr, "echo_server: %s: %s (%s)\n", what, w3s_err_name((int)code),
            w3s_last_error_message());
    exit(1);
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 0;
    long max_conns = argc > 2 ? atol(argv[2]) : 0;

    int64_t loop = w3s_loop_new();
    if (loop < 0) die("w3s_loop_new", loop);

    w3s_tcp_options opts;
    w3s_tcp_options_init(&opts);
    opts.local_address = "127.0.0.1";
    opts.local_port = port;
    int64_t server = w3s_tcp_listen(loop, &opts, 0);
    if (server < 0) die("w3s_tcp_listen", server);

    w3s_info info;
    info.size = sizeof info;
    w3s_get_info(server, &info);
    printf("%d\n", info.local_port);
    fflush(stdout);

    long accepted = 0, closed = 0;
    w3s_event events[256];
    struct pollfd pfd = {.fd = w3s_loop_fd(loop), .events = POLLIN};
    while (max_conns == 0 || closed < max_conns) {
        if (poll(&pfd, 1, 10000) == 0) {
            fprintf(stderr, "echo_server: idle for 10 s, exiting\n");
            break;
        }
        int n;
        while ((n = w3s_loop_poll(loop, events, 256, 0)) > 0) {
            for (int i = 0; i < n; i++) {
                w3s_event *ev = &events[i];
                switch (ev->type) {
                case W3S_EV_CONNECTION:
                    accepted++;
                    fprintf(stderr, "echo_server: connection from %s:%u\n", ev->address, ev->port);
                    break;
                case W3S_EV_DATA:
                    if (w3s_send(ev->handle, ev->data, ev->len) < 0)
                        fprintf(stderr, "echo_server: send: %s\n", w3s_last_error_message());
                    break;
                case W3S_EV_END:
                    w3s_half_close(ev->handle);
                    break;
                case W3S_EV_ERROR:
                    fprintf(stderr, "echo_server: %s: %s\n", w3s_err_name(ev->error), (const char *)ev->data);
                    break;
                case W3S_EV_CLOSE:
                    if (ev->handle != server) closed++;
                    break;
                default:
                    break;
                }
            }
        }
        if (n < 0) die("w3s_loop_poll", n);
    }
    fprintf(stderr, "echo_server: served %ld connections\n", accepted);
    w3s_close(server);
    w3s_loop_close(loop);
    return 0;
}
