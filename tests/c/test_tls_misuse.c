/* TLS misuse through the C ABI: each case must end in its own documented
 * outcome, never a hang, a silent truncation or a leak.
 *
 *   stream cut mid-record (then FIN)   ERROR W3S_ETLS_TRUNCATED, no END
 *   end at a record boundary, no
 *     close_notify                     END with error W3S_ETLS_NO_CLOSE_NOTIFY
 *   end after close_notify             END with error 0, every byte
 *   garbage after the handshake        ERROR W3S_ETLS_BAD_RECORD
 *   plaintext HTTP to a TLS port       the listener drops it (messages_dropped)
 *   plaintext answer to a TLS client   ERROR W3S_ETLS_NOT_TLS
 *   TLS 1.0-only ClientHello           protocol_version alert, dropped
 *   TLS 1.0 ServerHello                ERROR W3S_ETLS_VERSION
 *   oversized SNI                      W3S_EINVAL at connect; a server answers
 *                                      internal_error and drops it
 *   oversized certificate chain        ERROR W3S_ETLS_TOO_LARGE
 *   1,000 handshakes aborted midway    all dropped / ERROR W3S_ETLS / CLOSE,
 *                                      and w3s_stats back to zero
 *
 * The misbehaving peers are raw sockets in this file (a record-aware proxy
 * thread, hand-made hello messages), so nothing outside libc is needed
 * besides tests/certs.sh. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testutil.h"

static char *ca, *server_cert, *server_key;


/* ---- raw sockets ---------------------------------------------------------- */

static int raw_listen(int *port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    REQUIRE(bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && listen(fd, 512) == 0, "raw listen");
    socklen_t al = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &al);
    *port = ntohs(a.sin_port);
    return fd;
}

static int raw_connect(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int write_all(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n > 0) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w <= 0) return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads up to cap bytes until n are there, EOF, or timeout_ms of silence. */
static ssize_t read_some(int fd, uint8_t *b, size_t cap, size_t n, int timeout_ms) {
    size_t got = 0;
    while (got < n && got < cap) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, timeout_ms) <= 0) break;
        ssize_t r = recv(fd, b + got, cap - got, 0);
        if (r <= 0) break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

/* Waits for the peer to close: 1 on EOF or reset, 0 on timeout. */
static int wait_closed(int fd, int timeout_ms) {
    uint8_t b[4096];
    double end = t_now() + timeout_ms / 1000.0;
    while (t_now() < end) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0) continue;
        ssize_t r = recv(fd, b, sizeof b, 0);
        if (r <= 0) return 1;
    }
    return 0;
}

static void rst_close(int fd) {
    struct linger l = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close(fd);
}

/* ---- hand-made TLS messages ----------------------------------------------- */

/* A ClientHello record: version is the hello's legacy version (0x0301 for a
 * TLS 1.0-only client), sni (may be NULL) becomes a server_name extension. */
static size_t client_hello(uint8_t *out, uint16_t version, const char *sni) {
    uint8_t body[8192];
    size_t n = 0;
    body[n++] = version >> 8; body[n++] = version & 0xff;
    for (int i = 0; i < 32; i++) body[n++] = (uint8_t)(i * 37 + 11); /* random */
    body[n++] = 0; /* session id */
    const uint8_t suites[] = {0x00, 0x06, 0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x2f};
    memcpy(body + n, suites, sizeof suites); n += sizeof suites;
    body[n++] = 1; body[n++] = 0; /* compression: null */
    if (sni) {
        size_t sl = strlen(sni);
        size_t ext = 4 + 2 + 1 + 2 + sl;
        body[n++] = (uint8_t)(ext >> 8); body[n++] = (uint8_t)ext; /* extensions length */
        body[n++] = 0; body[n++] = 0;                               /* server_name */
        body[n++] = (uint8_t)((sl + 5) >> 8); body[n++] = (uint8_t)(sl + 5);
        body[n++] = (uint8_t)((sl + 3) >> 8); body[n++] = (uint8_t)(sl + 3);
        body[n++] = 0; /* host_name */
        body[n++] = (uint8_t)(sl >> 8); body[n++] = (uint8_t)sl;
        memcpy(body + n, sni, sl); n += sl;
    }
    size_t hs = 4 + n;
    out[0] = 0x16; out[1] = 0x03; out[2] = 0x01;
    out[3] = (uint8_t)(hs >> 8); out[4] = (uint8_t)hs;
    out[5] = 1; out[6] = (uint8_t)(n >> 16); out[7] = (uint8_t)(n >> 8); out[8] = (uint8_t)n;
    memcpy(out + 9, body, n);
    return 5 + hs;
}

/* A ServerHello choosing TLS 1.0 and TLS_RSA_WITH_AES_128_CBC_SHA. */
static size_t server_hello_tls10(uint8_t *out) {
    size_t n = 0;
    const uint8_t head[] = {0x16, 0x03, 0x01, 0x00, 0x2a, 0x02, 0x00, 0x00, 0x26, 0x03, 0x01};
    memcpy(out, head, sizeof head); n = sizeof head;
    for (int i = 0; i < 32; i++) out[n++] = (uint8_t)(i * 13 + 5);
    out[n++] = 0; out[n++] = 0x00; out[n++] = 0x2f; out[n++] = 0;
    return n;
}

/* ---- a record-aware proxy ------------------------------------------------- */

enum px_mode { PX_PASS, PX_CUT_MID, PX_CUT_BOUNDARY, PX_GARBAGE_MAC, PX_GARBAGE_TEXT };

typedef struct {
    int lfd, target, mode;
    size_t after; /* server-to-client bytes forwarded before the misdeed */
    pthread_t th;
} proxy;

/* Forwards one connection. Server to client it forwards whole TLS records;
 * once `after` bytes went through it does what mode says. */
static void *proxy_run(void *arg) {
    proxy *px = arg;
    int c = accept(px->lfd, NULL, NULL);
    if (c < 0) return NULL;
    int s = raw_connect(px->target);
    if (s < 0) { close(c); return NULL; }
    static uint8_t buf[1 << 18];
    size_t have = 0, sent = 0;
    int s_open = 1, c_open = 1, done = 0;
    double end = t_now() + 30;
    while (c_open && !done && t_now() < end) {
        struct pollfd p[2] = {{c, POLLIN, 0}, {s, s_open ? POLLIN : 0, 0}};
        if (poll(p, 2, 100) <= 0) continue;
        if (p[0].revents) {
            uint8_t b[16384];
            ssize_t r = recv(c, b, sizeof b, 0);
            if (r <= 0) c_open = 0;
            else if (s_open) write_all(s, b, (size_t)r);
        }
        if (s_open && p[1].revents) {
            ssize_t r = recv(s, buf + have, sizeof buf - have, 0);
            if (r <= 0) {
                s_open = 0;
                shutdown(c, SHUT_WR); /* PASS: the server's FIN goes on */
                continue;
            }
            have += (size_t)r;
            while (have >= 5 && !done) {
                size_t rec = 5 + ((size_t)buf[3] << 8 | buf[4]);
                if (have < rec) break;
                if (px->mode != PX_PASS && sent >= px->after) {
                    if (px->mode == PX_CUT_MID) write_all(c, buf, rec / 2);
                    if (px->mode == PX_GARBAGE_MAC) {
                        uint8_t g[64] = {0x17, 0x03, 0x03, 0x00, 59};
                        for (int i = 5; i < 64; i++) g[i] = (uint8_t)(i * 29);
                        write_all(c, g, sizeof g);
                    }
                    if (px->mode == PX_GARBAGE_TEXT) {
                        const char *g = "this is not a TLS record\r\n";
                        write_all(c, g, strlen(g));
                    }
                    done = 1;
                    break;
                }
                write_all(c, buf, rec);
                sent += rec;
                memmove(buf, buf + rec, have - rec);
                have -= rec;
            }
        }
    }
    if (done && (px->mode == PX_GARBAGE_MAC || px->mode == PX_GARBAGE_TEXT))
        wait_closed(c, 10000); /* the client must give up by itself */
    close(s);
    close(c);
    return NULL;
}

static int proxy_start(proxy *px, int target, int mode, size_t after) {
    int port;
    px->lfd = raw_listen(&port);
    px->target = target;
    px->mode = mode;
    px->after = after;
    pthread_create(&px->th, NULL, proxy_run, px);
    return port;
}

static void proxy_stop(proxy *px) {
    pthread_join(px->th, NULL);
    close(px->lfd);
}

/* ---- the w3sock side -------------------------------------------------------- */

#define STREAM_LEN (1u << 20)

static uint8_t pattern(uint64_t i) { return (uint8_t)(i * 131 + (i >> 11)); }

/* What happened to one socket, gathered by pump(). */
typedef struct {
    int64_t h;
    uint64_t bytes;
    int bad_bytes;       /* a byte not matching the pattern at its offset */
    int open, secure, end, end_code, error, closed;
    char msg[256];
} track;

#define MAXTRACK 16
static track tr[MAXTRACK];
static int ntr;
static int64_t server_ln;            /* accepted sockets of this listener ... */
static int serve_stream = 0;         /* ... send STREAM_LEN bytes then close */
static int64_t accepted_count = 0;

static track *track_of(int64_t h) {
    for (int i = 0; i < ntr; i++)
        if (tr[i].h == h) return &tr[i];
    return NULL;
}

static track *watch(int64_t h) {
    if (ntr >= MAXTRACK) { CHECK(0, "track slots"); exit(1); }
    memset(&tr[ntr], 0, sizeof tr[ntr]);
    tr[ntr].h = h;
    return &tr[ntr++];
}

static void pump(int64_t loop, int ms) {
    w3s_event evs[64];
    int n = w3s_loop_poll(loop, evs, 64, ms);
    for (int i = 0; i < n; i++) {
        w3s_event *ev = &evs[i];
        if (ev->type == W3S_EV_CONNECTION && ev->handle == server_ln) accepted_count++;
        if (ev->type == W3S_EV_SECURE && serve_stream && !track_of(ev->handle)) {
            /* an accepted socket of the streaming server */
            uint8_t *b = malloc(STREAM_LEN);
            for (uint64_t k = 0; k < STREAM_LEN; k++) b[k] = pattern(k);
            w3s_send(ev->handle, b, STREAM_LEN);
            free(b);
            w3s_close(ev->handle); /* close_notify after the data */
        }
        track *t = track_of(ev->handle);
        if (!t) continue;
        switch (ev->type) {
        case W3S_EV_OPEN: t->open = 1; break;
        case W3S_EV_SECURE: t->secure = 1; break;
        case W3S_EV_DATA:
            for (uint64_t k = 0; k < ev->len; k++)
                if (ev->data[k] != pattern(t->bytes + k)) t->bad_bytes++;
            t->bytes += ev->len;
            break;
        case W3S_EV_END: t->end = 1; t->end_code = ev->error; w3s_close(ev->handle); break;
        case W3S_EV_ERROR:
            t->error = ev->error;
            snprintf(t->msg, sizeof t->msg, "%s", (const char *)ev->data);
            break;
        case W3S_EV_CLOSE: t->closed = 1; break;
        }
    }
}

static int wait_closed_ev(int64_t loop, track *t, double secs) {
    double end = t_now() + secs;
    while (!t->closed && t_now() < end) pump(loop, 20);
    return t->closed;
}

static int local_port(int64_t h) {
    w3s_info info;
    info.size = sizeof info;
    w3s_get_info(h, &info);
    return info.local_port;
}

static uint64_t dropped(int64_t ln) {
    w3s_info info;
    info.size = sizeof info;
    w3s_get_info(ln, &info);
    return info.messages_dropped;
}

static w3s_tls_options server_tls(const char *cert) {
    w3s_tls_options t;
    w3s_tls_options_init(&t);
    t.cert_pem = cert;
    t.key_pem = server_key;
    return t;
}

static w3s_tls_options client_tls(void) {
    w3s_tls_options t;
    w3s_tls_options_init(&t);
    t.ca_pem = ca;
    t.server_name = "localhost";
    return t;
}

static int64_t tls_listen(int64_t loop, const w3s_tls_options *t) {
    w3s_tcp_options o;
    w3s_tcp_options_init(&o);
    o.local_address = "127.0.0.1";
    o.use_secure_transport = 1;
    o.tls = t;
    return w3s_tcp_listen(loop, &o, 1);
}

static int64_t tls_connect(int64_t loop, int port, const w3s_tls_options *t) {
    w3s_tcp_options o;
    w3s_tcp_options_init(&o);
    o.use_secure_transport = 1;
    o.tls = t;
    return w3s_tcp_connect(loop, "127.0.0.1", port, &o, 0);
}

/* ---- the cases ---------------------------------------------------------------- */

/* A 1 MiB stream from a w3sock server through the proxy in mode. */
static void stream_through(int mode, const char *what) {
    int64_t loop = w3s_loop_new();
    REQUIRE(loop > 0, "loop");
    w3s_tls_options st = server_tls(server_cert), ct = client_tls();
    int64_t ln = tls_listen(loop, &st);
    REQUIRE(ln > 0, "listener");
    server_ln = ln;
    serve_stream = 1;
    ntr = 0;
    proxy px;
    int pport = proxy_start(&px, local_port(ln), mode, 100 << 10);
    int64_t c = tls_connect(loop, pport, &ct);
    REQUIRE(c > 0, "connect");
    track *t = watch(c);
    CHECK(wait_closed_ev(loop, t, 20), "%s: the client socket closed (no hang)", what);
    CHECK(t->bad_bytes == 0, "%s: %llu bytes received, all in order and intact", what, (unsigned long long)t->bytes);
    switch (mode) {
    case PX_CUT_MID:
        CHECK(t->error == W3S_ETLS_TRUNCATED && !t->end && t->bytes < STREAM_LEN,
              "%s: ERROR %s after %llu of %u bytes, no END (%s)", what, w3s_err_name(t->error),
              (unsigned long long)t->bytes, STREAM_LEN, t->msg);
        break;
    case PX_CUT_BOUNDARY:
        CHECK(t->end && t->end_code == W3S_ETLS_NO_CLOSE_NOTIFY && t->error == 0 && t->bytes < STREAM_LEN,
              "%s: END carrying %s after %llu bytes", what, w3s_err_name(t->end_code), (unsigned long long)t->bytes);
        break;
    case PX_PASS:
        CHECK(t->end && t->end_code == 0 && t->error == 0 && t->bytes == STREAM_LEN,
              "%s: END with error 0 after all %llu bytes", what, (unsigned long long)t->bytes);
        break;
    default:
        CHECK(t->error == W3S_ETLS_BAD_RECORD && !t->end, "%s: ERROR %s (%s)", what, w3s_err_name(t->error), t->msg);
    }
    serve_stream = 0;
    proxy_stop(&px);
    w3s_loop_close(loop);
}

/* Plaintext HTTP to a TLS listener; a plaintext answer to a TLS client. */
static void plaintext(void) {
    int64_t loop = w3s_loop_new();
    w3s_tls_options st = server_tls(server_cert), ct = client_tls();
    int64_t ln = tls_listen(loop, &st);
    server_ln = ln;
    accepted_count = 0;
    int fd = raw_connect(local_port(ln));
    const char *get = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    write_all(fd, get, strlen(get));
    int closed = 0;
    double end = t_now() + 10;
    while (!closed && t_now() < end) {
        pump(loop, 10);
        closed = wait_closed(fd, 50);
    }
    CHECK(closed, "plaintext HTTP to a TLS port: the server closes the connection");
    while (dropped(ln) < 1 && t_now() < end) pump(loop, 20);
    CHECK(dropped(ln) == 1 && accepted_count == 0, "... and counts it as a dropped handshake (%llu), no CONNECTION",
          (unsigned long long)dropped(ln));
    close(fd);

    int port;
    int lfd = raw_listen(&port);
    ntr = 0;
    int64_t c = tls_connect(loop, port, &ct);
    track *t = watch(c);
    int a = accept(lfd, NULL, NULL);
    uint8_t b[2048];
    read_some(a, b, sizeof b, 5, 5000);
    const char *resp = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
    write_all(a, resp, strlen(resp));
    CHECK(wait_closed_ev(loop, t, 10) && t->error == W3S_ETLS_NOT_TLS && !t->open,
          "plaintext answer to a TLS client: ERROR %s (%s)", w3s_err_name(t->error), t->msg);
    close(a);
    close(lfd);
    w3s_loop_close(loop);
}

/* Reads a TLS alert record and returns its description (-1: none). */
static int read_alert(int fd) {
    uint8_t b[4096];
    ssize_t n = read_some(fd, b, sizeof b, 7, 10000);
    if (n >= 7 && b[0] == 0x15) return b[6];
    return -1;
}

static void old_versions_and_sni(void) {
    int64_t loop = w3s_loop_new();
    w3s_tls_options st = server_tls(server_cert), ct = client_tls();
    int64_t ln = tls_listen(loop, &st);
    server_ln = ln;
    uint8_t hello[8192];
    uint64_t d0 = dropped(ln);

    int fd = raw_connect(local_port(ln));
    write_all(fd, hello, client_hello(hello, 0x0301, NULL));
    int alert = read_alert(fd);
    CHECK(alert == 70, "TLS 1.0-only ClientHello: the server answers alert %d (70 = protocol_version)", alert);
    close(fd);

    char sni[1001];
    memset(sni, 'a', 1000);
    sni[1000] = 0;
    fd = raw_connect(local_port(ln));
    write_all(fd, hello, client_hello(hello, 0x0303, sni));
    alert = read_alert(fd);
    CHECK(alert == 80, "1,000-byte SNI: the server answers alert %d (80 = internal_error) and drops it", alert);
    close(fd);
    double end = t_now() + 10;
    while (dropped(ln) < d0 + 2 && t_now() < end) pump(loop, 20);
    CHECK(dropped(ln) == d0 + 2, "both counted as dropped handshakes (%llu)", (unsigned long long)(dropped(ln) - d0));

    w3s_tls_options longsni = ct;
    longsni.server_name = sni;
    CHECK_CODE(tls_connect(loop, local_port(ln), &longsni), W3S_EINVAL);
    CHECK(strstr(w3s_last_error_message(), "server_name") != NULL, "message: %s", w3s_last_error_message());

    int port;
    int lfd = raw_listen(&port);
    ntr = 0;
    int64_t c = tls_connect(loop, port, &ct);
    track *t = watch(c);
    int a = accept(lfd, NULL, NULL);
    uint8_t b[4096];
    read_some(a, b, sizeof b, 5, 5000);
    write_all(a, hello, server_hello_tls10(hello));
    CHECK(wait_closed_ev(loop, t, 10) && t->error == W3S_ETLS_VERSION,
          "TLS 1.0 ServerHello: ERROR %s (%s)", w3s_err_name(t->error), t->msg);
    close(a);
    close(lfd);
    w3s_loop_close(loop);
}

static void oversized_chain(void) {
    /* The server's certificate followed by the CA 800 times: a Certificate
     * message over crypto/tls's 256 KiB limit. */
    size_t one = strlen(ca), n = 800;
    char *chain = malloc(strlen(server_cert) + one * n + 1);
    strcpy(chain, server_cert);
    char *p = chain + strlen(server_cert);
    for (size_t i = 0; i < n; i++, p += one) memcpy(p, ca, one);
    *p = 0;
    int64_t loop = w3s_loop_new();
    w3s_tls_options st = server_tls(chain), ct = client_tls();
    int64_t ln = tls_listen(loop, &st);
    CHECK(ln > 0, "a listener with a %zu-byte PEM chain", strlen(chain));
    server_ln = ln;
    ntr = 0;
    int64_t c = tls_connect(loop, local_port(ln), &ct);
    track *t = watch(c);
    CHECK(wait_closed_ev(loop, t, 20) && t->error == W3S_ETLS_TOO_LARGE,
          "oversized certificate chain: ERROR %s (%s)", w3s_err_name(t->error), t->msg);
    w3s_loop_close(loop);
    free(chain);
}

/* 1,000 handshakes that never finish: raw clients that send half a
 * ClientHello and go (FIN or RST), w3sock clients whose server goes
 * mid-handshake, and w3sock clients aborted mid-handshake. */
static void aborted_handshakes(void) {
    int64_t loop = w3s_loop_new();
    w3s_tls_options st = server_tls(server_cert), ct = client_tls();
    int64_t ln = tls_listen(loop, &st);
    server_ln = ln;
    accepted_count = 0;
    uint8_t hello[8192];
    size_t hl = client_hello(hello, 0x0303, "localhost");
    const int raw_n = 400, cut_n = 300, abort_n = 300;
    for (int i = 0; i < raw_n; i++) {
        int fd = raw_connect(local_port(ln));
        if (fd < 0) { CHECK(0, "raw connect %d", i); break; }
        write_all(fd, hello, hl / 2);
        if (i % 2) rst_close(fd);
        else close(fd);
        if (i % 50 == 0) pump(loop, 0);
    }
    double end = t_now() + 30;
    while (dropped(ln) < (uint64_t)raw_n && t_now() < end) pump(loop, 20);
    CHECK(dropped(ln) == (uint64_t)raw_n && accepted_count == 0,
          "%d half ClientHellos then FIN/RST: all dropped by the listener (%llu), no CONNECTION", raw_n,
          (unsigned long long)dropped(ln));

    /* w3sock clients against a server that reads the hello and goes. */
    int port;
    int lfd = raw_listen(&port);
    int etls = 0, other = 0, hung = 0;
    for (int i = 0; i < cut_n; i++) {
        ntr = 0;
        track *t = watch(tls_connect(loop, port, &ct));
        int a = accept(lfd, NULL, NULL);
        uint8_t b[4096];
        read_some(a, b, sizeof b, 5, 5000);
        if (i % 2) rst_close(a);
        else close(a);
        if (!wait_closed_ev(loop, t, 10)) hung++;
        else if (t->error == W3S_ETLS || t->error == W3S_ECONNRESET) etls++;
        else {
            other++;
            printf("# unexpected: %s %s\n", w3s_err_name(t->error), t->msg);
        }
    }
    close(lfd);
    CHECK(etls == cut_n && hung == 0,
          "%d w3sock clients whose server left mid-handshake: %d ERROR W3S_ETLS (FIN) or W3S_ECONNRESET (RST), %d other, %d hung",
          cut_n, etls, other, hung);

    /* w3sock clients aborted while their handshake runs. */
    int closed = 0, errors = 0;
    for (int i = 0; i < abort_n; i++) {
        ntr = 0;
        track *t = watch(tls_connect(loop, local_port(ln), &ct));
        for (int k = 0; k < i % 4; k++) pump(loop, 0); /* a varying head start */
        w3s_abort(t->h);
        if (wait_closed_ev(loop, t, 10)) closed++;
        if (t->error) errors++;
    }
    CHECK(closed == abort_n && errors == 0, "%d clients aborted mid-handshake: %d CLOSE, %d ERROR", abort_n, closed, errors);
    w3s_close(ln);
    end = t_now() + 10;
    while (t_now() < end) {
        w3s_stats_t s = {.size = sizeof s};
        w3s_stats(&s);
        if (s.sockets == 0) break;
        pump(loop, 20);
    }
    w3s_loop_close(loop);
}

int main(void) {
    t_init();
    char dir[64], cmd[160];
    snprintf(dir, sizeof dir, "/tmp/w3s-misuse-XXXXXX");
    REQUIRE(mkdtemp(dir) != NULL, "mkdtemp");
    snprintf(cmd, sizeof cmd, "tests/certs.sh %s", dir);
    REQUIRE(system(cmd) == 0, "tests/certs.sh (run from the repository root)");
    ca = t_slurp(dir, "ca.pem");
    server_cert = t_slurp(dir, "server.pem");
    server_key = t_slurp(dir, "server.key");
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0, "keys removed");

    stream_through(PX_CUT_MID, "cut mid-record");
    /* The baseline after one case: Go's poller keeps its own descriptors. */
    w3s_stats_t s0 = {.size = sizeof s0};
    w3s_stats(&s0);
    stream_through(PX_CUT_BOUNDARY, "cut at a record boundary");
    stream_through(PX_PASS, "close_notify then FIN");
    stream_through(PX_GARBAGE_MAC, "a forged record after the handshake");
    stream_through(PX_GARBAGE_TEXT, "text after the handshake");
    plaintext();
    old_versions_and_sni();
    oversized_chain();
    aborted_handshakes();

    CHECK(t_stats_zero(10), "w3s_stats: no loop or socket left");
    w3s_stats_t s1 = {.size = sizeof s1};
    double end = t_now() + 10;
    do {
        w3s_stats(&s1);
        if (s1.open_fds <= s0.open_fds) break;
        struct timespec d = {0, 20 * 1000 * 1000};
        nanosleep(&d, NULL);
    } while (t_now() < end);
    CHECK(s1.open_fds <= s0.open_fds, "descriptors back to baseline (%lld, started with %lld)",
          (long long)s1.open_fds, (long long)s0.open_fds);
    return t_done();
}
