/* STARTTLS through the C ABI:
 *   1. write ordering: a large plaintext stream queued right before
 *      w3s_start_tls goes out first, whole and in plaintext; only then
 *      does the handshake begin (the server sees exactly the plaintext
 *      bytes, then the ClientHello, which it hands to
 *      w3s_start_tls_with); after SECURE the next bytes are encrypted and
 *      arrive intact;
 *   2. injection (CVE-2011-0411): plaintext sent right after the STARTTLS
 *      command and handed to the handshake fails it with
 *      W3S_ETLS_NOT_TLS, never reaching the application.
 * Certificates come from tests/certs.sh in a temporary directory. */
#include <stdint.h>
#include <unistd.h>

#include "testutil.h"

static char dir[64];
static char *ca, *server_cert, *server_key;

static char *slurp(const char *name) { return t_slurp(dir, name); }

static void test_ordering(void) {
    const size_t plain = 4u << 20;
    int64_t l = w3s_loop_new();
    int64_t srv = t_listen(l, NULL, 0), c, a;
    REQUIRE(t_pair(l, l, srv, NULL, &c, &a), "pair");
    w3s_tls_options so, co;
    w3s_tls_options_init(&so);
    so.cert_pem = server_cert;
    so.key_pem = server_key;
    w3s_tls_options_init(&co);
    co.ca_pem = ca;
    co.server_name = "localhost";
    /* Queue 4 MiB without waiting (more than the kernel takes at once),
     * then ask for TLS at once. */
    uint8_t *buf = malloc(plain);
    REQUIRE(buf != NULL, "buffer");
    t_fill(71, 0, buf, plain);
    int64_t rc = w3s_send(c, buf, plain);
    CHECK(rc > 0, "4 MiB queued (%lld still buffered)", (long long)rc);
    CHECK_CODE(w3s_start_tls(c, &co), W3S_OK);
    /* The server reads plaintext; what follows the 4 MiB is the handshake. */
    uint64_t got = 0;
    int bad = 0, upgraded = 0, secure_c = 0, secure_a = 0, errors = 0;
    size_t tail = 0;
    uint8_t rest[16384];
    char secret[64];
    size_t slen = 0;
    w3s_event evs[64];
    for (double end = t_now() + 30; !(secure_c && secure_a && slen >= 6) && !bad && errors == 0 && t_now() < end;) {
        int n = w3s_loop_poll(l, evs, 64, 5);
        for (int i = 0; i < n; i++) {
            const w3s_event *ev = &evs[i];
            if (ev->type == W3S_EV_ERROR) {
                printf("# error on %s: %s %s\n", ev->handle == c ? "client" : "server", w3s_err_name(ev->error),
                       (const char *)ev->data);
                errors++;
            }
            if (ev->type == W3S_EV_SECURE) {
                if (ev->handle == c) {
                    secure_c = 1;
                    CHECK(w3s_send(c, "secret", 6) >= 0, "client sends after SECURE");
                }
                if (ev->handle == a) secure_a = 1;
            }
            if (ev->handle != a || ev->type != W3S_EV_DATA) continue;
            if (upgraded) { /* decrypted application data */
                if (slen + ev->len < sizeof secret) memcpy(secret + slen, ev->data, ev->len), slen += ev->len;
                continue;
            }
            size_t want = got + ev->len <= plain ? ev->len : (size_t)(plain - got);
            if (t_bad(71, got, ev->data, want) != want) bad = 1;
            got += want;
            if (ev->len > want && tail + ev->len - want <= sizeof rest) {
                memcpy(rest + tail, ev->data + want, ev->len - want);
                tail += ev->len - want;
            }
            if (got == plain) {
                /* The rest (if any) is the ClientHello: the handshake's. */
                CHECK(tail == 0 || rest[0] == 0x16, "what follows the plaintext is a TLS handshake record "
                      "(%zu bytes, first %#x)", tail, tail ? rest[0] : 0);
                CHECK_CODE(w3s_start_tls_with(a, &so, rest, tail), W3S_OK);
                upgraded = 1;
            }
        }
    }
    CHECK(!bad && got == plain, "the server received the 4 MiB queued before w3s_start_tls in plaintext, "
          "in order (%llu bytes)", (unsigned long long)got);
    CHECK(secure_c && secure_a && errors == 0, "both ends SECURE, no error");
    CHECK(slen == 6 && memcmp(secret, "secret", 6) == 0, "data after SECURE arrives through TLS");
    free(buf);
    w3s_loop_close(l);
}

static void test_injection(void) {
    int64_t l = w3s_loop_new();
    int64_t srv = t_listen(l, NULL, 0), c, a;
    REQUIRE(t_pair(l, l, srv, NULL, &c, &a), "pair");
    w3s_tls_options so;
    w3s_tls_options_init(&so);
    so.cert_pem = server_cert;
    so.key_pem = server_key;
    static const char cmd[] = "STARTTLS\r\nRCPT TO:<victim@example.org>\r\n";
    CHECK(w3s_send(c, cmd, sizeof cmd - 1) >= 0, "command and injected plaintext in one send");
    char got[128];
    size_t n = 0;
    int err = 0, closed = 0, data_after = 0, started = 0;
    w3s_event evs[64];
    for (double end = t_now() + 15; !closed && t_now() < end;) {
        int k = w3s_loop_poll(l, evs, 64, 5);
        for (int i = 0; i < k; i++) {
            const w3s_event *ev = &evs[i];
            if (ev->handle != a) continue;
            if (ev->type == W3S_EV_DATA && started) data_after = 1;
            if (ev->type == W3S_EV_DATA && !started && n + ev->len < sizeof got) {
                memcpy(got + n, ev->data, ev->len);
                n += ev->len;
                if (n >= 10 && memcmp(got, "STARTTLS\r\n", 10) == 0) {
                    CHECK_CODE(w3s_start_tls_with(a, &so, got + 10, n - 10), W3S_OK);
                    started = 1;
                }
            }
            if (ev->type == W3S_EV_ERROR) err = ev->error;
            if (ev->type == W3S_EV_CLOSE) closed = 1;
        }
    }
    CHECK(started && err == W3S_ETLS_NOT_TLS && closed && !data_after,
          "injected plaintext fails the handshake with W3S_ETLS_NOT_TLS (%s), never delivered", w3s_err_name(err));
    w3s_loop_close(l);
}

int main(void) {
    t_init();
    snprintf(dir, sizeof dir, "/tmp/w3s-tls-XXXXXX");
    REQUIRE(mkdtemp(dir) != NULL, "mkdtemp");
    char cmd[256];
    snprintf(cmd, sizeof cmd, "tests/certs.sh %s >/dev/null 2>&1", dir);
    REQUIRE(system(cmd) == 0, "tests/certs.sh (run from the repository root)");
    ca = slurp("ca.pem");
    server_cert = slurp("server.pem");
    server_key = slurp("server.key");
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0, "keys removed");
    test_ordering();
    test_injection();
    free(ca), free(server_cert), free(server_key);
    CHECK(t_stats_zero(10), "no socket or loop left");
    return t_done();
}
