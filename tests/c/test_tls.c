/* C tests of the TLS surface: use_secure_transport, w3s_start_tls,
 * w3s_start_tls_with, the TLS fields of w3s_get_info, the TLS error codes,
 * and bad input. Certificates come from tests/certs.sh in a temp dir. */
#include <stdint.h>
#include <unistd.h>

#include "testutil.h"

static char dir[64];
static char *ca, *server_cert, *server_key, *client_cert, *client_key;
static char *expired, *expired_key, *wrong, *wrong_key, *rogue, *rogue_key;

static char *slurp(const char *name) { return t_slurp(dir, name); }

/* ---- an event log with a bounded pump ---------------------------------- */

#define MAXLOG 512
typedef struct {
    int64_t h;
    int type, error;
    int64_t accepted;
    char text[256];
} logev;
static logev evlog[MAXLOG];
static int nlog = 0;
static char rx[8][8192]; /* received bytes, by slot */
static size_t rxlen[8];
static int64_t rxh[8];

static int slot_of(int64_t h) {
    for (int i = 0; i < 8; i++)
        if (rxh[i] == h) return i;
    for (int i = 0; i < 8; i++)
        if (rxh[i] == 0) { rxh[i] = h; rxlen[i] = 0; return i; }
    return -1;
}

typedef void (*on_event)(const w3s_event *ev);
static on_event hook = NULL;

static void pump(int64_t loop, int ms) {
    w3s_event evs[64];
    int n = w3s_loop_poll(loop, evs, 64, ms);
    for (int i = 0; i < n; i++) {
        w3s_event *ev = &evs[i];
        if (nlog < MAXLOG) {
            logev *l = &evlog[nlog++];
            l->h = ev->handle; l->type = ev->type; l->error = ev->error; l->accepted = ev->accepted;
            l->text[0] = 0;
            if (ev->type == W3S_EV_ERROR) snprintf(l->text, sizeof l->text, "%s", (const char *)ev->data);
        }
        if (ev->type == W3S_EV_DATA) {
            int s = slot_of(ev->handle);
            if (s >= 0 && rxlen[s] + ev->len < sizeof rx[s]) {
                memcpy(rx[s] + rxlen[s], ev->data, ev->len);
                rxlen[s] += ev->len;
                rx[s][rxlen[s]] = 0;
            }
        }
        if (hook) hook(ev);
    }
}

static int find(int64_t h, int type) {
    for (int i = 0; i < nlog; i++)
        if (evlog[i].h == h && evlog[i].type == type) return i;
    return -1;
}

static const char *received(int64_t h) {
    int s = slot_of(h);
    return s >= 0 ? rx[s] : "";
}

/* Pumps until an event of type arrives for h (or CLOSE); 1 if it did. */
static int wait_ev(int64_t loop, int64_t h, int type) {
    double end = t_now() + 10;
    while (t_now() < end) {
        if (find(h, type) >= 0) return 1;
        if (type != W3S_EV_CLOSE && find(h, W3S_EV_CLOSE) >= 0) return 0;
        pump(loop, 20);
    }
    return 0;
}

static int wait_text(int64_t loop, int64_t h, const char *text) {
    double end = t_now() + 10;
    while (t_now() < end) {
        if (strstr(received(h), text)) return 1;
        pump(loop, 20);
    }
    return 0;
}

static int error_of(int64_t h) {
    int i = find(h, W3S_EV_ERROR);
    return i < 0 ? 0 : evlog[i].error;
}

static const char *error_text(int64_t h) {
    int i = find(h, W3S_EV_ERROR);
    return i < 0 ? "" : evlog[i].text;
}

static int port_of(int64_t h) {
    w3s_info info;
    info.size = sizeof info;
    w3s_get_info(h, &info);
    return info.local_port;
}

static int64_t tls_listen(int64_t loop, w3s_tls_options *t, int secure) {
    w3s_tcp_options o;
    w3s_tcp_options_init(&o);
    o.local_address = "127.0.0.1";
    o.use_secure_transport = secure;
    o.tls = t;
    return w3s_tcp_listen(loop, &o, 1);
}

static int64_t tls_connect(int64_t loop, const char *host, int port, w3s_tls_options *t, int secure) {
    w3s_tcp_options o;
    w3s_tcp_options_init(&o);
    o.use_secure_transport = secure;
    o.tls = t;
    return w3s_tcp_connect(loop, host, port, &o, 2);
}

/* ---- tests --------------------------------------------------------------- */

static void test_codes(void) {
    int codes[] = {W3S_ETLS, W3S_ETLS_UNKNOWN_CA, W3S_ETLS_HOSTNAME, W3S_ETLS_EXPIRED, W3S_ETLS_VERSION,
                   W3S_ETLS_CERT_REQUIRED, W3S_ETLS_CERT_REJECTED, W3S_ETLS_NOT_TLS, W3S_ETLS_BAD_PEM};
    int n = (int)(sizeof codes / sizeof codes[0]);
    for (int i = 0; i < n; i++) {
        CHECK(strncmp(w3s_err_name(codes[i]), "W3S_ETLS", 8) == 0 && strlen(w3s_strerror(codes[i])) > 5,
              "%d is %s: %s", codes[i], w3s_err_name(codes[i]), w3s_strerror(codes[i]));
        for (int j = 0; j < i; j++)
            if (strcmp(w3s_err_name(codes[i]), w3s_err_name(codes[j])) == 0 ||
                strcmp(w3s_strerror(codes[i]), w3s_strerror(codes[j])) == 0)
                CHECK(0, "codes %d and %d share a name or text", codes[i], codes[j]);
    }
}

static void test_bad_input(void) {
    CHECK_CODE(w3s_tls_options_init(NULL), W3S_EINVAL);
    w3s_tls_options t;
    CHECK_CODE(w3s_tls_options_init(&t), 0);
    CHECK(t.size == sizeof t && t.insecure_skip_verify == 0 && t.client_auth == W3S_CLIENT_AUTH_NONE,
          "defaults: verification on, no client auth");
    CHECK_CODE(w3s_start_tls(0, NULL), W3S_EBADF);
    CHECK_CODE(w3s_start_tls(-5, &t), W3S_EBADF);
    CHECK_CODE(w3s_start_tls_with(123456789, &t, "x", 1), W3S_EBADF);

    int64_t loop = w3s_loop_new();
    REQUIRE(loop > 0, "loop");
    w3s_tls_options srv;
    w3s_tls_options_init(&srv);
    srv.cert_pem = server_cert;
    srv.key_pem = server_key;
    int64_t ln = tls_listen(loop, NULL, 0);
    REQUIRE(ln > 0, "plain listener");
    CHECK_CODE(w3s_start_tls(ln, &srv), W3S_ENOTSUP);
    w3s_udp_options uo;
    w3s_udp_options_init(&uo);
    uo.local_address = "127.0.0.1";
    int64_t u = w3s_udp_open(loop, &uo, 0);
    CHECK_CODE(w3s_start_tls(u, NULL), W3S_ENOTSUP);

    int64_t c = tls_connect(loop, "127.0.0.1", port_of(ln), NULL, 0);
    REQUIRE(c > 0, "connect");
    CHECK(wait_ev(loop, c, W3S_EV_OPEN), "plain client open");
    CHECK_CODE(w3s_start_tls_with(c, &t, NULL, 5), W3S_EINVAL);
    w3s_tls_options small = t;
    small.size = 2; /* smaller than the size field (older structs: test_abi.c) */
    CHECK_CODE(w3s_start_tls(c, &small), W3S_EINVAL);
    w3s_tls_options badv = t;
    badv.min_version = "tls1.0";
    CHECK_CODE(w3s_start_tls(c, &badv), W3S_ETLS_VERSION);
    CHECK(strstr(w3s_last_error_message(), "tls1.2") != NULL, "message names the minimum: %s", w3s_last_error_message());
    badv.min_version = "tls1.7";
    CHECK_CODE(w3s_start_tls(c, &badv), W3S_EINVAL);
    w3s_tls_options badpem = t;
    badpem.ca_pem = "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n";
    CHECK_CODE(w3s_start_tls(c, &badpem), W3S_ETLS_BAD_PEM);
    CHECK(wait_ev(loop, ln, W3S_EV_CONNECTION), "accepted");
    int64_t a = evlog[find(ln, W3S_EV_CONNECTION)].accepted;
    CHECK_CODE(w3s_start_tls(a, NULL), W3S_EINVAL); /* server role needs a certificate */
    w3s_tls_options nokey = srv;
    nokey.key_pem = client_key;
    CHECK_CODE(w3s_start_tls(a, &nokey), W3S_ETLS_BAD_PEM);
    /* Failed calls leave the plaintext connection usable. */
    w3s_send(c, "still plain", 11);
    CHECK(wait_text(loop, a, "still plain"), "plaintext after refused start_tls calls");

    /* Creation-time refusals. */
    w3s_tcp_options o;
    w3s_tcp_options_init(&o);
    o.use_secure_transport = 1;
    o.local_address = "127.0.0.1";
    CHECK_CODE(w3s_tcp_listen(loop, &o, 0), W3S_EINVAL); /* a TLS server needs cert and key */
    o.tls = &badpem;
    CHECK_CODE(w3s_tcp_connect(loop, "localhost", 9, &o, 0), W3S_ETLS_BAD_PEM);
    o.tls = &small;
    CHECK_CODE(w3s_tcp_connect(loop, "localhost", 9, &o, 0), W3S_EINVAL);
    badv.min_version = "tls1.3";
    badv.max_version = "tls1.2";
    o.tls = &badv;
    CHECK_CODE(w3s_tcp_connect(loop, "localhost", 9, &o, 0), W3S_EINVAL);
    w3s_abort(c);
    w3s_abort(a);
    w3s_close(ln);
    w3s_close(u);
    CHECK(wait_ev(loop, ln, W3S_EV_CLOSE) && wait_ev(loop, a, W3S_EV_CLOSE), "closed");
    w3s_loop_close(loop);
}

static void test_tls_echo_and_info(void) {
    int64_t loop = w3s_loop_new();
    w3s_tls_options srv, cli;
    w3s_tls_options_init(&srv);
    srv.cert_pem = server_cert;
    srv.key_pem = server_key;
    srv.ca_pem = ca;
    srv.client_auth = W3S_CLIENT_AUTH_REQUIRE;
    srv.alpn = "imap, smtp";
    w3s_tls_options_init(&cli);
    cli.ca_pem = ca;
    cli.cert_pem = client_cert;
    cli.key_pem = client_key;
    cli.alpn = "h2,smtp";
    int64_t ln = tls_listen(loop, &srv, 1);
    REQUIRE(ln > 0, "TLS listener: %s", w3s_last_error_message());
    int64_t c = tls_connect(loop, "localhost", port_of(ln), &cli, 1);
    REQUIRE(c > 0, "TLS connect");
    w3s_send(c, "queued while opening\n", 21);
    CHECK(wait_ev(loop, c, W3S_EV_SECURE), "client SECURE");
    CHECK(find(c, W3S_EV_OPEN) >= 0 && find(c, W3S_EV_OPEN) < find(c, W3S_EV_SECURE), "OPEN then SECURE");
    CHECK(wait_ev(loop, ln, W3S_EV_CONNECTION), "CONNECTION after the handshake");
    int64_t a = evlog[find(ln, W3S_EV_CONNECTION)].accepted;
    CHECK(wait_ev(loop, a, W3S_EV_SECURE), "accepted socket's SECURE");
    CHECK(wait_text(loop, a, "queued while opening\n"), "data sent while opening arrives");
    w3s_send(a, "reply\n", 6);
    CHECK(wait_text(loop, c, "reply\n"), "reply");

    w3s_info ci, si;
    ci.size = si.size = sizeof ci;
    CHECK_CODE(w3s_get_info(c, &ci), 0);
    CHECK_CODE(w3s_get_info(a, &si), 0);
    CHECK(ci.secure && si.secure, "secure flags");
    CHECK(strcmp(ci.tls_version, "tls1.3") == 0 && strcmp(si.tls_version, "tls1.3") == 0, "version %s/%s", ci.tls_version, si.tls_version);
    CHECK(strncmp(ci.tls_cipher, "TLS_", 4) == 0 && strcmp(ci.tls_cipher, si.tls_cipher) == 0, "cipher %s", ci.tls_cipher);
    CHECK(strcmp(ci.alpn, "smtp") == 0 && strcmp(si.alpn, "smtp") == 0, "alpn %s/%s", ci.alpn, si.alpn);
    CHECK(strcmp(ci.server_name, "localhost") == 0 && strcmp(si.server_name, "localhost") == 0, "server name %s/%s", ci.server_name, si.server_name);
    CHECK(strstr(ci.peer_subject, "CN=localhost") && strstr(ci.peer_issuer, "CN=w3sock test CA"), "client sees %s / %s", ci.peer_subject, ci.peer_issuer);
    CHECK(strstr(si.peer_subject, "CN=w3sock test client") != NULL, "server sees %s", si.peer_subject);
    CHECK_CODE(w3s_start_tls(c, &cli), W3S_ESTATE);
    CHECK_CODE(w3s_start_tls(a, &srv), W3S_ESTATE);

    /* A client without a certificate is refused by this server; the
     * listener counts it and stays up. */
    w3s_tls_options nocert;
    w3s_tls_options_init(&nocert);
    nocert.ca_pem = ca;
    nocert.max_version = "tls1.2";
    int64_t c2 = tls_connect(loop, "localhost", port_of(ln), &nocert, 1);
    CHECK(wait_ev(loop, c2, W3S_EV_CLOSE), "refused client closes");
    CHECK(error_of(c2) == W3S_ETLS_CERT_REQUIRED, "no client certificate: %s (%s)", w3s_err_name(error_of(c2)), error_text(c2));
    double end = t_now() + 10;
    w3s_info li;
    li.size = sizeof li;
    do { pump(loop, 20); w3s_get_info(ln, &li); } while (li.messages_dropped < 1 && t_now() < end);
    CHECK(li.messages_dropped == 1 && li.messages_received == 1, "listener: accepted %llu dropped %llu",
          (unsigned long long)li.messages_received, (unsigned long long)li.messages_dropped);

    w3s_half_close(c);
    CHECK(wait_ev(loop, a, W3S_EV_END), "close_notify + FIN reach the server as END");
    w3s_close(a);
    CHECK(wait_ev(loop, c, W3S_EV_CLOSE) && error_of(c) == 0, "clean close");
    w3s_close(ln);
    CHECK(wait_ev(loop, ln, W3S_EV_CLOSE), "listener closed");
    w3s_loop_close(loop);
}

static void test_errors(void) {
    struct { const char *name; char **cert, **key; const char *host, *server_name; int want; const char *msg; } cases[] = {
        {"unknown CA", &rogue, &rogue_key, "localhost", NULL, W3S_ETLS_UNKNOWN_CA, "unknown authority"},
        {"expired", &expired, &expired_key, "localhost", NULL, W3S_ETLS_EXPIRED, "expired"},
        {"wrong host", &wrong, &wrong_key, "localhost", NULL, W3S_ETLS_HOSTNAME, "localhost"},
        {"server_name", &server_cert, &server_key, "127.0.0.1", "mail.example.org", W3S_ETLS_HOSTNAME, "mail.example.org"},
    };
    int64_t loop = w3s_loop_new();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        w3s_tls_options srv, cli;
        w3s_tls_options_init(&srv);
        srv.cert_pem = *cases[i].cert;
        srv.key_pem = *cases[i].key;
        w3s_tls_options_init(&cli);
        cli.ca_pem = ca;
        cli.server_name = cases[i].server_name;
        int64_t ln = tls_listen(loop, &srv, 1);
        int64_t c = tls_connect(loop, cases[i].host, port_of(ln), &cli, 1);
        CHECK(wait_ev(loop, c, W3S_EV_CLOSE), "%s: closed", cases[i].name);
        CHECK(error_of(c) == cases[i].want && strstr(error_text(c), cases[i].msg) != NULL && find(c, W3S_EV_OPEN) < 0,
              "%s: %s (%s)", cases[i].name, w3s_err_name(error_of(c)), error_text(c));
        w3s_close(ln);
        CHECK(wait_ev(loop, ln, W3S_EV_CLOSE), "listener closed");
    }
    /* A TLS client against a plaintext server that greets first. */
    int64_t plain = tls_listen(loop, NULL, 0);
    int64_t c = tls_connect(loop, "localhost", port_of(plain), NULL, 1);
    CHECK(wait_ev(loop, plain, W3S_EV_CONNECTION), "plain accept");
    int64_t a = evlog[find(plain, W3S_EV_CONNECTION)].accepted;
    w3s_send(a, "220 plain ESMTP\r\n", 17);
    CHECK(wait_ev(loop, c, W3S_EV_CLOSE) && error_of(c) == W3S_ETLS_NOT_TLS, "not a TLS peer: %s (%s)",
          w3s_err_name(error_of(c)), error_text(c));
    w3s_close(a);
    w3s_close(plain);
    CHECK(wait_ev(loop, plain, W3S_EV_CLOSE), "closed");
    w3s_loop_close(loop);
}

/* An SMTP-ish server in the hook: on "STARTTLS\r\n" it replies 220 and
 * upgrades, passing what followed the command in the same DATA event. */
static w3s_tls_options hook_tls;
static int64_t hook_server_sock = 0;
static int hook_upgraded = 0;
static void starttls_hook(const w3s_event *ev) {
    if (ev->type != W3S_EV_DATA || ev->handle != hook_server_sock || hook_upgraded) return;
    const char *p = (const char *)ev->data;
    if (ev->len >= 10 && memcmp(p, "STARTTLS\r\n", 10) == 0) {
        hook_upgraded = 1;
        w3s_send(ev->handle, "220 Ready\r\n", 11);
        int rc = w3s_start_tls_with(ev->handle, &hook_tls, p + 10, ev->len - 10);
        CHECK(rc == 0, "w3s_start_tls_with in the event hook: %s", w3s_err_name(rc));
    }
}

static void test_starttls(int inject) {
    int64_t loop = w3s_loop_new();
    w3s_tls_options cli;
    w3s_tls_options_init(&hook_tls);
    hook_tls.cert_pem = server_cert;
    hook_tls.key_pem = server_key;
    w3s_tls_options_init(&cli);
    cli.ca_pem = ca;
    hook_upgraded = 0;
    int64_t ln = tls_listen(loop, NULL, 0);
    int64_t c = tls_connect(loop, "localhost", port_of(ln), NULL, 0);
    CHECK(wait_ev(loop, ln, W3S_EV_CONNECTION), "accepted");
    hook_server_sock = evlog[find(ln, W3S_EV_CONNECTION)].accepted;
    hook = starttls_hook;
    CHECK(wait_ev(loop, c, W3S_EV_OPEN), "open");
    if (inject) {
        /* CVE-2011-0411: the command and an injected one in one send. */
        w3s_send(c, "STARTTLS\r\nRSET\r\n", 16);
        CHECK(wait_ev(loop, hook_server_sock, W3S_EV_CLOSE), "server closes");
        CHECK(error_of(hook_server_sock) == W3S_ETLS_NOT_TLS, "injection fails the handshake: %s (%s)",
              w3s_err_name(error_of(hook_server_sock)), error_text(hook_server_sock));
        CHECK(find(hook_server_sock, W3S_EV_SECURE) < 0, "never secure");
        int datas = 0;
        for (int i = 0; i < nlog; i++) datas += evlog[i].h == hook_server_sock && evlog[i].type == W3S_EV_DATA;
        CHECK(datas == 1, "the application got only the DATA it upgraded in (%d)", datas);
        CHECK(wait_text(loop, c, "220 Ready\r\n"), "the 220 queued before the upgrade went out in plaintext");
        w3s_close(c);
        CHECK(wait_ev(loop, c, W3S_EV_CLOSE), "client closed");
    } else {
        w3s_send(c, "STARTTLS\r\n", 10);
        CHECK(wait_text(loop, c, "220 Ready\r\n"), "220");
        CHECK_CODE(w3s_start_tls(c, &cli), 0);
        CHECK_CODE(w3s_start_tls(c, &cli), W3S_ESTATE); /* already upgrading */
        w3s_send(c, "EHLO after\r\n", 12);               /* encrypted, after the handshake */
        CHECK(wait_ev(loop, c, W3S_EV_SECURE) && wait_ev(loop, hook_server_sock, W3S_EV_SECURE), "both SECURE");
        CHECK(wait_text(loop, hook_server_sock, "EHLO after\r\n"), "encrypted line arrives");
        w3s_info ci;
        ci.size = sizeof ci;
        w3s_get_info(c, &ci);
        CHECK(ci.secure && strcmp(ci.server_name, "localhost") == 0 && strstr(ci.peer_subject, "CN=localhost"),
              "client info after STARTTLS: %s %s %s", ci.tls_version, ci.server_name, ci.peer_subject);
        CHECK_CODE(w3s_start_tls(c, &cli), W3S_ESTATE); /* already secure */
        w3s_close(c);
        CHECK(wait_ev(loop, hook_server_sock, W3S_EV_END), "END over TLS");
        w3s_close(hook_server_sock);
        CHECK(wait_ev(loop, c, W3S_EV_CLOSE) && error_of(c) == 0, "clean close");
    }
    hook = NULL;
    w3s_close(ln);
    CHECK(wait_ev(loop, ln, W3S_EV_CLOSE), "listener closed");
    w3s_loop_close(loop);
}

int main(void) {
    t_init();
    snprintf(dir, sizeof dir, "/tmp/w3s-tls-XXXXXX");
    REQUIRE(mkdtemp(dir) != NULL, "mkdtemp");
    char cmd[256];
    snprintf(cmd, sizeof cmd, "tests/certs.sh %s", dir);
    REQUIRE(system(cmd) == 0, "tests/certs.sh (run from the repository root)");
    ca = slurp("ca.pem");
    server_cert = slurp("server.pem"); server_key = slurp("server.key");
    client_cert = slurp("client.pem"); client_key = slurp("client.key");
    expired = slurp("expired.pem"); expired_key = slurp("expired.key");
    wrong = slurp("wronghost.pem"); wrong_key = slurp("wronghost.key");
    rogue = slurp("rogue.pem"); rogue_key = slurp("rogue.key");
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0, "keys removed");

    test_codes();
    test_bad_input();
    test_tls_echo_and_info();
    test_errors();
    test_starttls(0);
    test_starttls(1);
    CHECK(t_stats_zero(10), "no socket or loop left");
    return t_done();
}
