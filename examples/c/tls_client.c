/* tls_client: a TLS client on the w3sock C ABI (poll mode).
 *
 *   tls_client [options] HOST PORT
 *     -c ca.pem        trust these CAs (replacing the system roots)
 *     -C cert -K key   present a client certificate
 *     -n name          server name for SNI and verification (default HOST)
 *     -a alpn          comma-separated ALPN list
 *     -v min -V max    TLS versions ("tls1.2", "tls1.3")
 *     -k               insecure: skip verification
 *     -m message       line to send (default "hello from w3sock")
 *     -e expect        text that must come back (default: the message)
 *     -s               STARTTLS over SMTP: plaintext EHLO, STARTTLS, 220,
 *                      handshake, then EHLO again, NOOP message, QUIT
 *
 * Prints what it receives on stdout and the TLS details on stderr. Exits 0
 * when the expected text came back over TLS, 2 on a socket error (its code
 * name is printed: "error: W3S_ETLS_UNKNOWN_CA ..."), 1 otherwise. Every wait
 * is bounded (15 s). */
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

static void print_info(int64_t h) {
    w3s_info info;
    info.size = sizeof info;
    if (w3s_get_info(h, &info) != 0) return;
    fprintf(stderr, "tls_client: secure=%d version=%s cipher=%s alpn=%s server_name=%s\n"
                    "tls_client: peer subject=%s issuer=%s\n",
            info.secure, info.tls_version, info.tls_cipher, info.alpn, info.server_name,
            info.peer_subject, info.peer_issuer);
}

enum { S_GREETING, S_EHLO1, S_STARTTLS, S_HANDSHAKE, S_EHLO2, S_NOOP, S_QUIT, S_DONE };

int main(int argc, char **argv) {
    const char *ca = NULL, *cert = NULL, *key = NULL, *name = NULL, *alpn = NULL;
    const char *minv = NULL, *maxv = NULL, *message = "hello from w3sock", *expect = NULL;
    int insecure = 0, smtp = 0, opt;
    while ((opt = getopt(argc, argv, "c:C:K:n:a:v:V:km:e:s")) != -1) {
        switch (opt) {
        case 'c': ca = optarg; break;
        case 'C': cert = optarg; break;
        case 'K': key = optarg; break;
        case 'n': name = optarg; break;
        case 'a': alpn = optarg; break;
        case 'v': minv = optarg; break;
        case 'V': maxv = optarg; break;
        case 'k': insecure = 1; break;
        case 'm': message = optarg; break;
        case 'e': expect = optarg; break;
        case 's': smtp = 1; break;
        default: return 1;
        }
    }
    if (argc - optind != 2) {
        fprintf(stderr, "usage: %s [-c ca] [-C cert -K key] [-n name] [-a alpn] [-v min] [-V max] [-k] [-m msg] [-e expect] [-s] HOST PORT\n", argv[0]);
        return 1;
    }
    const char *host = argv[optind];
    int port = atoi(argv[optind + 1]);
    if (!expect) expect = message;

    w3s_tls_options tls;
    w3s_tls_options_init(&tls);
    if (ca) tls.ca_pem = read_file(ca);
    if (cert) tls.cert_pem = read_file(cert);
    if (key) tls.key_pem = read_file(key);
    tls.server_name = name;
    tls.alpn = alpn;
    tls.min_version = minv;
    tls.max_version = maxv;
    tls.insecure_skip_verify = insecure;

    int64_t loop = w3s_loop_new();
    w3s_tcp_options opts;
    w3s_tcp_options_init(&opts);
    opts.connect_timeout_ms = 10000;
    opts.use_secure_transport = !smtp;
    opts.tls = &tls;
    int64_t h = w3s_tcp_connect(loop, host, port, &opts, 0);
    if (h < 0) {
        printf("error: %s %s\n", w3s_err_name((int)h), w3s_last_error_message());
        return 2;
    }
    if (!smtp) {
        /* Queued while opening; sent encrypted once the handshake is done. */
        w3s_send(h, message, strlen(message));
        w3s_send(h, "\n", 1);
    }

    static char got[1 << 16];
    size_t got_len = 0, line_start = 0;
    int state = S_GREETING, ok = 0, err = 0, closed = 0, secure = 0;
    char cmd[1024];
    w3s_event evs[64];
    struct pollfd pfd = {.fd = w3s_loop_fd(loop), .events = POLLIN};
    while (!closed) {
        if (poll(&pfd, 1, 15000) == 0) {
            fprintf(stderr, "tls_client: no event for 15 s\n");
            break;
        }
        int n = w3s_loop_poll(loop, evs, 64, 0);
        for (int i = 0; i < n; i++) {
            w3s_event *ev = &evs[i];
            switch (ev->type) {
            case W3S_EV_SECURE:
                secure = 1;
                print_info(h);
                if (smtp && state == S_HANDSHAKE) {
                    w3s_send(h, "EHLO w3sock.client\r\n", 20);
                    state = S_EHLO2;
                }
                break;
            case W3S_EV_DATA:
                if (got_len + ev->len >= sizeof got) break;
                memcpy(got + got_len, ev->data, ev->len);
                got_len += ev->len;
                got[got_len] = 0;
                fwrite(ev->data, 1, ev->len, stdout);
                fflush(stdout);
                if (!smtp) {
                    if (strstr(got, expect)) {
                        ok = 1;
                        w3s_close(h);
                    }
                    break;
                }
                /* SMTP: act on each complete reply line. */
                for (;;) {
                    char *nl = memchr(got + line_start, '\n', got_len - line_start);
                    if (!nl) break;
                    char *line = got + line_start;
                    size_t consumed = (size_t)(nl - got) + 1;
                    int last = strlen(line) > 3 && line[3] == ' '; /* "250 " ends a reply */
                    line_start = consumed;
                    if (!last) continue;
                    if (state == S_GREETING && strncmp(line, "220", 3) == 0) {
                        w3s_send(h, "EHLO w3sock.client\r\n", 20);
                        state = S_EHLO1;
                    } else if (state == S_EHLO1 && strncmp(line, "250", 3) == 0) {
                        if (!strstr(got, "STARTTLS")) {
                            fprintf(stderr, "tls_client: server does not offer STARTTLS\n");
                            w3s_close(h);
                            break;
                        }
                        w3s_send(h, "STARTTLS\r\n", 10);
                        state = S_STARTTLS;
                    } else if (state == S_STARTTLS && strncmp(line, "220", 3) == 0) {
                        /* Anything after the 220 line belongs to TLS. */
                        int rc = w3s_start_tls_with(h, &tls, got + line_start, got_len - line_start);
                        if (rc < 0) {
                            printf("error: %s %s\n", w3s_err_name(rc), w3s_last_error_message());
                            err = 1;
                            w3s_abort(h);
                        }
                        got_len = line_start;
                        state = S_HANDSHAKE;
                        break;
                    } else if (state == S_EHLO2 && strncmp(line, "250", 3) == 0) {
                        snprintf(cmd, sizeof cmd, "NOOP %s\r\n", message);
                        w3s_send(h, cmd, strlen(cmd));
                        state = S_NOOP;
                    } else if (state == S_NOOP) {
                        ok = secure && strstr(line, expect) != NULL;
                        w3s_send(h, "QUIT\r\n", 6);
                        state = S_QUIT;
                    } else if (state == S_QUIT && strncmp(line, "221", 3) == 0) {
                        state = S_DONE;
                        w3s_close(h);
                    } else {
                        fprintf(stderr, "tls_client: unexpected reply in state %d: %s", state, line);
                        ok = 0;
                        w3s_close(h);
                    }
                }
                break;
            case W3S_EV_END:
                w3s_close(h);
                break;
            case W3S_EV_ERROR:
                printf("error: %s %s\n", w3s_err_name(ev->error), (const char *)ev->data);
                err = 1;
                break;
            case W3S_EV_CLOSE:
                closed = 1;
                break;
            default:
                break;
            }
        }
    }
    w3s_loop_close(loop);
    if (err) return 2;
    if (smtp && state != S_DONE) ok = 0;
    return ok ? 0 : 1;
}
