/* starttls_server: an SMTP-like server with STARTTLS on the w3sock C ABI.
 *
 *   starttls_server -C cert.pem -K key.pem [-p port] [-n max_connections]
 *                   [-c ca.pem -r request|require]
 *
 * Listens on 127.0.0.1:port in plaintext (0 = ephemeral; the port is printed
 * on the first line of stdout). It greets with 220, answers EHLO with
 * 250-STARTTLS, and on STARTTLS replies "220 Ready to start TLS" and calls
 * w3s_start_tls_with(), passing whatever the client sent after the command
 * in the same read: a client that races its ClientHello still works, and a
 * command injected behind STARTTLS (CVE-2011-0411) fails the handshake
 * instead of being executed. After SECURE the session starts over (RFC 3207):
 * EHLO again, then MAIL, RCPT, DATA, RSET, NOOP [text] (echoes text back),
 * QUIT. MAIL is refused with 530 until TLS is up. Each accepted message is
 * printed to stdout. Exits after max_connections (0 = serve forever), or
 * after 30 s without events. */
#define _POSIX_C_SOURCE 200809L
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "w3sock.h"

#define MAX_CONNS 64
#define LINE_MAX_BYTES 4096

typedef struct conn {
    int64_t h;
    int secure, upgrading, helo, mail, rcpts, in_data;
    size_t len;
    char buf[LINE_MAX_BYTES * 2];
    size_t body_len;
    char body[65536];
} conn;

static conn conns[MAX_CONNS];
static w3s_tls_options tls;
static long messages = 0;

static void die(const char *what, long long code) {
    fprintf(stderr, "starttls_server: %s: %s (%s)\n", what, w3s_err_name((int)code),
            w3s_last_error_message());
    exit(1);
}

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

static conn *find(int64_t h) {
    for (int i = 0; i < MAX_CONNS; i++)
        if (conns[i].h == h) return &conns[i];
    return NULL;
}

static void reply(conn *c, const char *s) {
    if (w3s_send(c->h, s, strlen(s)) < 0)
        fprintf(stderr, "starttls_server: send: %s\n", w3s_last_error_message());
}

static void reset_session(conn *c) {
    c->helo = c->mail = c->rcpts = c->in_data = 0;
    c->body_len = 0;
}

static int verb_is(const char *line, const char *verb) {
    size_t n = strlen(verb);
    return strncasecmp(line, verb, n) == 0 && (line[n] == 0 || line[n] == ' ' || line[n] == ':');
}

/* Handles one command line (without CRLF). rest/rest_len are the bytes that
 * followed it in the connection's buffer. Returns 1 when the connection's
 * remaining input was handed to the TLS handshake. */
static int command(conn *c, char *line, const char *rest, size_t rest_len) {
    char out[LINE_MAX_BYTES + 64];
    if (c->in_data) {
        if (strcmp(line, ".") == 0) {
            c->in_data = 0;
            messages++;
            printf("--- message %ld (%s) ---\n%.*s--- end ---\n", messages,
                   c->secure ? "encrypted" : "plaintext", (int)c->body_len, c->body);
            fflush(stdout);
            snprintf(out, sizeof out, "250 2.0.0 Ok: queued as W3S%ld\r\n", messages);
            reply(c, out);
            c->mail = c->rcpts = 0;
            c->body_len = 0;
        } else {
            const char *l = line[0] == '.' ? line + 1 : line; /* dot-unstuffing */
            size_t n = strlen(l);
            if (c->body_len + n + 1 < sizeof c->body) {
                memcpy(c->body + c->body_len, l, n);
                c->body_len += n;
                c->body[c->body_len++] = '\n';
            }
        }
        return 0;
    }
    if (verb_is(line, "EHLO") || verb_is(line, "HELO")) {
        reset_session(c);
        c->helo = 1;
        if (verb_is(line, "HELO")) {
            reply(c, "250 w3sock.test\r\n");
        } else if (c->secure) {
            reply(c, "250-w3sock.test greets you (TLS)\r\n250-8BITMIME\r\n250 SIZE 65536\r\n");
        } else {
            reply(c, "250-w3sock.test greets you\r\n250-8BITMIME\r\n250-SIZE 65536\r\n250 STARTTLS\r\n");
        }
    } else if (verb_is(line, "STARTTLS")) {
        if (c->secure) {
            reply(c, "503 5.5.1 TLS already active\r\n");
            return 0;
        }
        if (line[8] != 0) {
            reply(c, "501 5.5.4 Syntax: STARTTLS\r\n");
            return 0;
        }
        reply(c, "220 2.0.0 Ready to start TLS\r\n");
        /* Everything after "STARTTLS\r\n" belongs to the handshake. */
        int rc = w3s_start_tls_with(c->h, &tls, rest, rest_len);
        if (rc < 0) {
            fprintf(stderr, "starttls_server: w3s_start_tls_with: %s (%s)\n", w3s_err_name(rc),
                    w3s_last_error_message());
            w3s_close(c->h);
        }
        c->upgrading = 1;
        reset_session(c);
        return 1;
    } else if (verb_is(line, "MAIL")) {
        if (!c->secure) reply(c, "530 5.7.0 Must issue a STARTTLS command first\r\n");
        else if (!c->helo) reply(c, "503 5.5.1 EHLO first\r\n");
        else { c->mail = 1; c->rcpts = 0; reply(c, "250 2.1.0 Ok\r\n"); }
    } else if (verb_is(line, "RCPT")) {
        if (!c->mail) reply(c, "503 5.5.1 MAIL first\r\n");
        else { c->rcpts++; reply(c, "250 2.1.5 Ok\r\n"); }
    } else if (verb_is(line, "DATA")) {
        if (!c->rcpts) reply(c, "503 5.5.1 RCPT first\r\n");
        else { c->in_data = 1; c->body_len = 0; reply(c, "354 End data with <CR><LF>.<CR><LF>\r\n"); }
    } else if (verb_is(line, "RSET")) {
        c->mail = c->rcpts = 0;
        reply(c, "250 2.0.0 Ok\r\n");
    } else if (verb_is(line, "NOOP")) {
        snprintf(out, sizeof out, "250 2.0.0 Ok%s%s\r\n", line[4] ? " " : "", line[4] ? line + 5 : "");
        reply(c, out);
    } else if (verb_is(line, "QUIT")) {
        reply(c, "221 2.0.0 Bye\r\n");
        w3s_close(c->h);
    } else {
        reply(c, "502 5.5.2 Error: command not recognized\r\n");
    }
    return 0;
}

static void on_data(conn *c, const uint8_t *data, size_t len) {
    if (c->len + len > sizeof c->buf) {
        reply(c, "500 5.5.6 Line too long\r\n");
        w3s_close(c->h);
        return;
    }
    memcpy(c->buf + c->len, data, len);
    c->len += len;
    size_t start = 0;
    for (;;) {
        char *nl = memchr(c->buf + start, '\n', c->len - start);
        if (!nl) break;
        size_t end = (size_t)(nl - c->buf);
        size_t next = end + 1;
        if (end > start && c->buf[end - 1] == '\r') end--;
        char line[LINE_MAX_BYTES];
        size_t n = end - start < sizeof line - 1 ? end - start : sizeof line - 1;
        memcpy(line, c->buf + start, n);
        line[n] = 0;
        start = next;
        if (command(c, line, c->buf + start, c->len - start)) {
            c->len = 0; /* the rest went to the handshake */
            return;
        }
    }
    memmove(c->buf, c->buf + start, c->len - start);
    c->len -= start;
}

int main(int argc, char **argv) {
    int port = 0, opt;
    long max_conns = 0;
    const char *cert = NULL, *key = NULL, *ca = NULL, *auth = NULL;
    while ((opt = getopt(argc, argv, "C:K:c:r:p:n:")) != -1) {
        switch (opt) {
        case 'C': cert = optarg; break;
        case 'K': key = optarg; break;
        case 'c': ca = optarg; break;
        case 'r': auth = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'n': max_conns = atol(optarg); break;
        default:
            fprintf(stderr, "usage: %s -C cert.pem -K key.pem [-p port] [-n max] [-c ca.pem -r request|require]\n", argv[0]);
            return 2;
        }
    }
    if (!cert || !key) {
        fprintf(stderr, "starttls_server: -C cert.pem and -K key.pem are required\n");
        return 2;
    }
    w3s_tls_options_init(&tls);
    tls.cert_pem = read_file(cert);
    tls.key_pem = read_file(key);
    if (ca) tls.ca_pem = read_file(ca);
    if (auth) tls.client_auth = strcmp(auth, "require") == 0 ? W3S_CLIENT_AUTH_REQUIRE : W3S_CLIENT_AUTH_REQUEST;

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

    long served = 0;
    w3s_event events[128];
    struct pollfd pfd = {.fd = w3s_loop_fd(loop), .events = POLLIN};
    while (max_conns == 0 || served < max_conns) {
        if (poll(&pfd, 1, 30000) == 0) {
            fprintf(stderr, "starttls_server: idle for 30 s, exiting\n");
            break;
        }
        int n;
        while ((n = w3s_loop_poll(loop, events, 128, 0)) > 0) {
            for (int i = 0; i < n; i++) {
                w3s_event *ev = &events[i];
                conn *c = find(ev->handle);
                switch (ev->type) {
                case W3S_EV_CONNECTION: {
                    conn *nc = find(0);
                    if (!nc) { w3s_abort(ev->accepted); break; }
                    memset(nc, 0, sizeof *nc);
                    nc->h = ev->accepted;
                    fprintf(stderr, "starttls_server: connection from %s:%u\n", ev->address, ev->port);
                    reply(nc, "220 w3sock.test ESMTP w3sock starttls_server\r\n");
                    break;
                }
                case W3S_EV_DATA:
                    if (c) on_data(c, ev->data, ev->len);
                    break;
                case W3S_EV_SECURE:
                    if (c) {
                        c->secure = 1;
                        c->upgrading = 0;
                        info.size = sizeof info;
                        if (w3s_get_info(c->h, &info) == 0)
                            fprintf(stderr, "starttls_server: secure: %s %s sni=%s alpn=%s peer=%s\n",
                                    info.tls_version, info.tls_cipher, info.server_name, info.alpn,
                                    info.peer_subject[0] ? info.peer_subject : "(none)");
                    }
                    break;
                case W3S_EV_END:
                    w3s_close(ev->handle);
                    break;
                case W3S_EV_ERROR:
                    fprintf(stderr, "starttls_server: %s: %s\n", w3s_err_name(ev->error), (const char *)ev->data);
                    break;
                case W3S_EV_CLOSE:
                    if (c) {
                        c->h = 0;
                        served++;
                    }
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
    fprintf(stderr, "starttls_server: served %ld connections, %ld messages\n", served, messages);
    w3s_close(server);
    w3s_loop_close(loop);
    return 0;
}
