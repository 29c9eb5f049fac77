/* tls_echo_server: a TLS echo server on the w3sock C ABI (poll mode).
 *
 *   tls_echo_server -C cert.pem -K key.pem [-p port] [-n max_connections]
 *                   [-c ca.pem] [-r request|require] [-a alpn] [-v min] [-V max]
 *
 * Listens on 127.0.0.1:port with use_secure_transport (0 = ephemeral; the
 * port is printed on the first line of stdout). Every accepted connection
 * arrives after its handshake; the server prints its TLS details to stderr,
 * echoes every byte and half-closes when the client does. Failed handshakes
 * are counted by the listener (messages_dropped) and count towards
 * max_connections too. Exits after max_connections (0 = serve forever) or
 * 30 s without events, printing "served N dropped M". */
#define _POSIX_C_SOURCE 200809L
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "w3sock.h"

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); exit(1); }
    char *b = malloc(1 << 20); /* lives as long as the program */
    if (!b) exit(1);
    size_t n = fread(b, 1, (1 << 20) - 1, f);
    fclose(f);
    b[n] = 0;
    return b;
}

static void die(const char *what, long long code) {
    fprintf(stderr, "tls_echo_server: %s: %s (%s)\n", what, w3s_err_name((int)code),
            w3s_last_error_message());
    exit(1);
}

int main(int argc, char **argv) {
    int port = 0, opt;
    long max_conns = 0;
    w3s_tls_options tls;
    w3s_tls_options_init(&tls);
    while ((opt = getopt(argc, argv, "C:K:c:r:a:v:V:p:n:")) != -1) {
        switch (opt) {
        case 'C': tls.cert_pem = read_file(optarg); break;
        case 'K': tls.key_pem = read_file(optarg); break;
        case 'c': tls.ca_pem = read_file(optarg); break;
        case 'r': tls.client_auth = strcmp(optarg, "require") == 0 ? W3S_CLIENT_AUTH_REQUIRE : W3S_CLIENT_AUTH_REQUEST; break;
        case 'a': tls.alpn = optarg; break;
        case 'v': tls.min_version = optarg; break;
        case 'V': tls.max_version = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'n': max_conns = atol(optarg); break;
        default:
            fprintf(stderr, "usage: %s -C cert -K key [-p port] [-n max] [-c ca] [-r request|require] [-a alpn] [-v min] [-V max]\n", argv[0]);
            return 2;
        }
    }
    int64_t loop = w3s_loop_new();
    if (loop < 0) die("w3s_loop_new", loop);
    w3s_tcp_options opts;
    w3s_tcp_options_init(&opts);
    opts.local_address = "127.0.0.1";
    opts.local_port = port;
    opts.use_secure_transport = 1;
    opts.tls = &tls;
    int64_t server = w3s_tcp_listen(loop, &opts, 0);
    if (server < 0) die("w3s_tcp_listen", server);
    w3s_info info;
    info.size = sizeof info;
    w3s_get_info(server, &info);
    printf("%d\n", info.local_port);
    fflush(stdout);

    long closed = 0;
    w3s_event events[128];
    struct pollfd pfd = {.fd = w3s_loop_fd(loop), .events = POLLIN};
    for (;;) {
        info.size = sizeof info;
        w3s_get_info(server, &info);
        if (max_conns && closed + (long)info.messages_dropped >= max_conns) break;
        /* Wake at least every 100 ms: a dropped handshake makes no event. */
        int ready = poll(&pfd, 1, 100);
        static int idle_ms = 0;
        if (ready == 0) {
            if ((idle_ms += 100) >= 30000) {
                fprintf(stderr, "tls_echo_server: idle for 30 s, exiting\n");
                break;
            }
            continue;
        }
        idle_ms = 0;
        int n;
        while ((n = w3s_loop_poll(loop, events, 128, 0)) > 0) {
            for (int i = 0; i < n; i++) {
                w3s_event *ev = &events[i];
                switch (ev->type) {
                case W3S_EV_CONNECTION:
                    fprintf(stderr, "tls_echo_server: connection from %s:%u\n", ev->address, ev->port);
                    break;
                case W3S_EV_SECURE: {
                    w3s_info ci;
                    ci.size = sizeof ci;
                    if (w3s_get_info(ev->handle, &ci) == 0)
                        fprintf(stderr, "tls_echo_server: secure: %s %s sni=%s alpn=%s peer=%s issuer=%s\n",
                                ci.tls_version, ci.tls_cipher, ci.server_name, ci.alpn,
                                ci.peer_subject[0] ? ci.peer_subject : "(none)", ci.peer_issuer);
                    break;
                }
                case W3S_EV_DATA:
                    if (w3s_send(ev->handle, ev->data, ev->len) < 0)
                        fprintf(stderr, "tls_echo_server: send: %s\n", w3s_last_error_message());
                    break;
                case W3S_EV_END:
                    w3s_half_close(ev->handle);
                    break;
                case W3S_EV_ERROR:
                    fprintf(stderr, "tls_echo_server: %s: %s\n", w3s_err_name(ev->error), (const char *)ev->data);
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
    info.size = sizeof info;
    w3s_get_info(server, &info);
    fprintf(stderr, "tls_echo_server: served %ld dropped %llu\n", closed,
            (unsigned long long)info.messages_dropped);
    w3s_close(server);
    w3s_loop_close(loop);
    return 0;
}
