/* The ABI across versions: a program built against an older header (smaller
 * structs) or a newer one (larger structs) works with this library.
 *
 * Every "old_*" struct below is a truncated copy of a public struct, as a
 * program compiled against an earlier header would have it; every "new_*"
 * struct is a public struct with fields appended, as a later header might
 * have it. The library must take the missing fields' defaults, accept an
 * all-zero unknown tail, refuse a non-zero one with W3S_EINVAL, and write
 * no byte past the size the caller gave. Loopback only. */
#define _POSIX_C_SOURCE 200809L
#include <stddef.h>
#include <stdint.h>

#include "testutil.h"

#define GUARD 0xA5

static int64_t the_loop;

/* Pumps until h gets an event of type (5 s at most). */
static int wait_type(int64_t h, int type) {
    double end = t_now() + 5;
    w3s_event evs[16];
    do {
        int n = w3s_loop_poll(the_loop, evs, 16, 50);
        for (int i = 0; i < n; i++)
            if (evs[i].handle == h && evs[i].type == type) return 1;
    } while (t_now() < end);
    return 0;
}

static int64_t opt(int64_t h, int o) {
    int64_t v = -12345;
    int rc = w3s_get_option(h, o, &v);
    return rc < 0 ? rc : v;
}

static int all_bytes(const void *p, size_t n, int b) {
    const uint8_t *q = p;
    for (size_t i = 0; i < n; i++)
        if (q[i] != (uint8_t)b) return 0;
    return 1;
}

/* A w3s_tcp_options of an older version: it ends before no_delay, whose
 * default (1) and address_reuse's (1) must then apply. */
struct old_tcp_options {
    uint32_t size;
    int32_t local_port;
    const char *local_address;
};

/* A later w3s_tcp_options with one more field. */
struct new_tcp_options {
    w3s_tcp_options base;
    int64_t future_field;
};

static void test_tcp_options(void) {
    struct old_tcp_options old = {sizeof old, 0, "127.0.0.1"};
    int64_t l = w3s_tcp_listen(the_loop, (const w3s_tcp_options *)&old, 0);
    REQUIRE(l > 0, "listen with a %zu-byte w3s_tcp_options (this library's is %zu)", sizeof old,
            sizeof(w3s_tcp_options));
    CHECK(opt(l, W3S_OPT_ADDRESS_REUSE) == 1, "missing address_reuse takes its default 1");
    w3s_info info;
    info.size = sizeof info;
    REQUIRE(w3s_get_info(l, &info) == 0 && info.local_port > 0, "listener has a port");
    CHECK(strcmp(info.local_address, "127.0.0.1") == 0, "field inside the old size is read (%s)",
          info.local_address);

    int64_t c = w3s_tcp_connect(the_loop, "127.0.0.1", info.local_port, (const w3s_tcp_options *)&old, 0);
    REQUIRE(c > 0, "connect with the old struct");
    CHECK(wait_type(c, W3S_EV_OPEN), "old-struct client opens");
    CHECK(opt(c, W3S_OPT_NO_DELAY) == 1, "missing no_delay takes its default 1 (got %lld)",
          (long long)opt(c, W3S_OPT_NO_DELAY));
    w3s_abort(c);

    struct new_tcp_options nw;
    memset(&nw, 0, sizeof nw);
    w3s_tcp_options_init(&nw.base);
    nw.base.size = sizeof nw;
    nw.base.local_address = "127.0.0.1";
    nw.base.no_delay = 0;
    int64_t c2 = w3s_tcp_connect(the_loop, "127.0.0.1", info.local_port, &nw.base, 0);
    REQUIRE(c2 > 0, "a %zu-byte struct whose unknown tail is zero is accepted", sizeof nw);
    CHECK(wait_type(c2, W3S_EV_OPEN), "larger-struct client opens");
    CHECK(opt(c2, W3S_OPT_NO_DELAY) == 0, "its known fields are read (no_delay 0)");
    w3s_abort(c2);

    nw.future_field = 7;
    CHECK_CODE(w3s_tcp_connect(the_loop, "127.0.0.1", info.local_port, &nw.base, 0), W3S_EINVAL);
    CHECK(strstr(w3s_last_error_message(), "not zero") != NULL, "the message says why: %s",
          w3s_last_error_message());
    CHECK_CODE(w3s_tcp_listen(the_loop, &nw.base, 0), W3S_EINVAL);

    old.size = 0;
    CHECK_CODE(w3s_tcp_listen(the_loop, (const w3s_tcp_options *)&old, 0), W3S_EINVAL);
    old.size = 1u << 20; /* an uninitialised size is not believed */
    CHECK_CODE(w3s_tcp_listen(the_loop, (const w3s_tcp_options *)&old, 0), W3S_EINVAL);
    w3s_close(l);
    wait_type(l, W3S_EV_CLOSE);
}

/* A w3s_udp_options that ends before remote_port, so address_reuse and
 * multicast_ttl (defaults 1 and -1, the system's 1) are missing. (It may
 * not end after remote_port: its tail padding would then overlap
 * address_reuse, which is why the header's ABI policy keeps every version
 * of a struct a multiple of 8 bytes.) */
struct old_udp_options {
    uint32_t size;
    int32_t local_port;
    const char *local_address;
    const char *remote_address;
};

struct new_udp_options {
    w3s_udp_options base;
    int32_t future_a, future_b;
};

static void test_udp_options(void) {
    struct old_udp_options old = {sizeof old, 0, "127.0.0.1", NULL};
    int64_t u = w3s_udp_open(the_loop, (const w3s_udp_options *)&old, 0);
    REQUIRE(u > 0, "udp open with a %zu-byte w3s_udp_options (this library's is %zu)", sizeof old,
            sizeof(w3s_udp_options));
    CHECK(opt(u, W3S_OPT_ADDRESS_REUSE) == 1, "missing address_reuse takes its default 1");
    CHECK(opt(u, W3S_OPT_MULTICAST_TTL) == 1, "missing multicast_ttl takes its default (system's 1)");
    w3s_abort(u);

    struct new_udp_options nw;
    memset(&nw, 0, sizeof nw);
    w3s_udp_options_init(&nw.base);
    nw.base.size = sizeof nw;
    nw.base.local_address = "127.0.0.1";
    nw.base.broadcast = 1;
    int64_t u2 = w3s_udp_open(the_loop, &nw.base, 0);
    REQUIRE(u2 > 0, "larger udp options with a zero tail are accepted");
    CHECK(opt(u2, W3S_OPT_BROADCAST) == 1, "its known fields are read");
    w3s_abort(u2);
    nw.future_b = 1;
    CHECK_CODE(w3s_udp_open(the_loop, &nw.base, 0), W3S_EINVAL);
}

/* A w3s_tls_options that ends after ca_pem. */
struct old_tls_options {
    uint32_t size;
    int32_t insecure_skip_verify;
    const char *server_name;
    const char *ca_pem;
};

struct new_tls_options {
    w3s_tls_options base;
    const char *future_ptr;
};

static void test_tls_options(void) {
    w3s_tcp_options o;
    w3s_tcp_options_init(&o);
    o.use_secure_transport = 1;
    struct old_tls_options old = {sizeof old, 0, "example.test", NULL};
    o.tls = (const w3s_tls_options *)&old;
    /* Port 9 on loopback: the outcome (refused) comes later as events. */
    int64_t c = w3s_tcp_connect(the_loop, "127.0.0.1", 9, &o, 0);
    CHECK(c > 0, "TLS connect with a %zu-byte w3s_tls_options", sizeof old);
    if (c > 0) w3s_abort(c);
    old.ca_pem = "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n";
    CHECK_CODE(w3s_tcp_connect(the_loop, "127.0.0.1", 9, &o, 0), W3S_ETLS_BAD_PEM);

    struct new_tls_options nw;
    memset(&nw, 0, sizeof nw);
    w3s_tls_options_init(&nw.base);
    nw.base.size = sizeof nw;
    o.tls = &nw.base;
    c = w3s_tcp_connect(the_loop, "127.0.0.1", 9, &o, 0);
    CHECK(c > 0, "TLS connect with larger options and a zero tail");
    if (c > 0) w3s_abort(c);
    nw.future_ptr = "x";
    CHECK_CODE(w3s_tcp_connect(the_loop, "127.0.0.1", 9, &o, 0), W3S_EINVAL);
    CHECK_CODE(w3s_start_tls(1, &nw.base), W3S_EBADF); /* the handle is checked first */
}

/* A w3s_info that ends after local_port, followed by guard bytes. */
struct old_info {
    uint32_t size;
    int32_t kind, ready_state, family;
    char local_address[112];
    int32_t local_port;
};

static void test_info(void) {
    w3s_udp_options o;
    w3s_udp_options_init(&o);
    o.local_address = "127.0.0.1";
    int64_t u = w3s_udp_open(the_loop, &o, 0);
    REQUIRE(u > 0, "udp socket for w3s_get_info");
    w3s_info full;
    full.size = sizeof full;
    REQUIRE(w3s_get_info(u, &full) == 0, "full w3s_info");

    struct {
        struct old_info info;
        uint8_t guard[64];
    } old;
    memset(&old, GUARD, sizeof old);
    old.info.size = sizeof old.info;
    CHECK(w3s_get_info(u, (w3s_info *)&old.info) == 0, "w3s_get_info into a %zu-byte w3s_info", sizeof old.info);
    CHECK(old.info.size == sizeof old.info, "its size field is kept");
    CHECK(old.info.kind == W3S_KIND_UDP && old.info.local_port == full.local_port &&
              strcmp(old.info.local_address, "127.0.0.1") == 0,
          "its fields are filled (port %d)", old.info.local_port);
    CHECK(all_bytes(old.guard, sizeof old.guard, GUARD), "nothing is written past its size");

    struct {
        w3s_info info;
        uint8_t future[40];
    } nw;
    memset(&nw, GUARD, sizeof nw);
    nw.info.size = sizeof nw;
    CHECK(w3s_get_info(u, &nw.info) == 0, "w3s_get_info into a larger struct");
    CHECK(nw.info.local_port == full.local_port, "its known fields are filled");
    CHECK(all_bytes(nw.future, sizeof nw.future, 0), "fields this library does not know read as zero");
    CHECK(nw.info.size == sizeof nw, "its size field is kept");
    nw.info.size = 0;
    CHECK_CODE(w3s_get_info(u, &nw.info), W3S_EINVAL);
    w3s_abort(u);
}

struct old_stats {
    uint32_t size;
    uint32_t reserved;
    int64_t loops;
};

static void test_stats(void) {
    struct {
        struct old_stats st;
        uint8_t guard[32];
    } old;
    memset(&old, GUARD, sizeof old);
    old.st.size = sizeof old.st;
    CHECK(w3s_stats((w3s_stats_t *)&old.st) == 0, "w3s_stats into a %zu-byte struct", sizeof old.st);
    CHECK(old.st.loops == 1, "loops filled (%lld)", (long long)old.st.loops);
    CHECK(all_bytes(old.guard, sizeof old.guard, GUARD), "nothing is written past its size");

    struct {
        w3s_stats_t st;
        int64_t future[3];
    } nw;
    memset(&nw, GUARD, sizeof nw);
    nw.st.size = sizeof nw;
    CHECK(w3s_stats(&nw.st) == 0 && nw.st.loops == 1, "w3s_stats into a larger struct");
    CHECK(all_bytes(nw.future, sizeof nw.future, 0), "unknown fields read as zero");
}

int main(void) {
    t_init();
    the_loop = w3s_loop_new();
    REQUIRE(the_loop > 0, "loop");
    test_tcp_options();
    test_udp_options();
    test_tls_options();
    test_info();
    test_stats();
    w3s_loop_close(the_loop);
    CHECK(t_stats_zero(5), "nothing leaks");
    return t_done();
}
