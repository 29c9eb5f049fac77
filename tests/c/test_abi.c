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
    old.size = 3; /* shorter than the size field itself */
    CHECK_CODE(w3s_tcp_listen(the_loop, (const w3s_tcp_options *)&old, 0), W3S_EINVAL);
    old.size = 1u << 20; /* an uninitialised size is not believed */
    CHECK_CODE(w3s_tcp_listen(the_loop, (const w3s_tcp_options *)&old, 0), W3S_EINVAL);
    /* a size no compiler gives (it would end inside a pointer field) */
    old.size = (uint32_t)sizeof old - 4;
    CHECK_CODE(w3s_tcp_listen(the_loop, (const w3s_tcp_options *)&old, 0), W3S_EINVAL);
    CHECK(strstr(w3s_last_error_message(), "multiple of 8") != NULL, "the message says why: %s",
          w3s_last_error_message());

    /* The extremes that are accepted: the smallest size a struct can have
     * (8 bytes: size and local_port; every other field takes its default)
     * and the 4096-byte limit with a zero tail. */
    static union { uint32_t size; uint8_t bytes[4097]; } edge;
    memset(&edge, 0, sizeof edge);
    edge.size = 8;
    int64_t l4 = w3s_tcp_listen(the_loop, (const w3s_tcp_options *)&edge, 0);
    CHECK(l4 > 0, "an 8-byte w3s_tcp_options (size, local_port) is all defaults (got %lld: %s)",
          (long long)l4, w3s_last_error_message());
    if (l4 > 0) {
        CHECK(opt(l4, W3S_OPT_ADDRESS_REUSE) == 1, "its address_reuse is the default 1");
        w3s_close(l4);
        wait_type(l4, W3S_EV_CLOSE);
    }
    edge.size = 4096;
    int64_t c4096 = w3s_tcp_connect(the_loop, "127.0.0.1", info.local_port, (const w3s_tcp_options *)&edge, 0);
    CHECK(c4096 > 0, "a 4096-byte struct with a zero tail is accepted (got %lld)", (long long)c4096);
    if (c4096 > 0) {
        CHECK(wait_type(c4096, W3S_EV_OPEN), "the 4096-byte-struct client opens");
        CHECK(opt(c4096, W3S_OPT_NO_DELAY) == 0, "its known fields are the caller's (no_delay 0)");
        w3s_abort(c4096);
    }
    edge.size = 4097;
    CHECK_CODE(w3s_tcp_connect(the_loop, "127.0.0.1", info.local_port, (const w3s_tcp_options *)&edge, 0),
               W3S_EINVAL);
    edge.size = 4096;
    edge.bytes[4095] = 1; /* the last byte the limit allows, set */
    CHECK_CODE(w3s_tcp_connect(the_loop, "127.0.0.1", info.local_port, (const w3s_tcp_options *)&edge, 0),
               W3S_EINVAL);
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

/* A later w3s_event: the loop is made with its size, and every array the
 * loop fills has that stride, in each host model. */
typedef struct new_event {
    w3s_event base;
    uint8_t future[24];
} new_event;

static int future_zero(const new_event *evs, int n) {
    for (int i = 0; i < n; i++)
        if (!all_bytes(evs[i].future, sizeof evs[i].future, 0)) return 0;
    return 1;
}

static int64_t new_accepted; /* the last CONNECTION's socket seen by wait_new */

/* Polls loop (events of new_event size) until h has an event of type. */
static int wait_new(int64_t loop, int64_t h, int type, int *bad_tail, void *buf, size_t cap) {
    double end = t_now() + 5;
    new_event evs[8];
    do {
        memset(evs, GUARD, sizeof evs);
        int n = buf ? w3s_loop_poll_into(loop, &evs[0].base, 8, 50, buf, cap)
                    : w3s_loop_poll(loop, &evs[0].base, 8, 50);
        if (n > 0 && !future_zero(evs, n)) (*bad_tail)++;
        if (n >= 0 && n < 8 && evs[n].base.handle != (int64_t)0xA5A5A5A5A5A5A5A5ull) (*bad_tail)++;
        int found = 0;
        for (int i = 0; i < n; i++) {
            if (evs[i].base.type == W3S_EV_CONNECTION) new_accepted = evs[i].base.accepted;
            if (evs[i].base.handle == h && evs[i].base.type == type) found = 1;
        }
        if (found) return 1;
    } while (t_now() < end);
    return 0;
}

typedef struct cb_seen {
    int batches, bad, data;
    int64_t h;
} cb_seen;

static void on_new_batch(void *user, const w3s_event *events, int count) {
    cb_seen *c = user;
    const new_event *evs = (const new_event *)events;
    c->batches++;
    if (!future_zero(evs, count)) c->bad++;
    for (int i = 0; i < count; i++)
        if (evs[i].base.handle == c->h && evs[i].base.type == W3S_EV_DATA) c->data++;
}

static void test_event_size(void) {
    CHECK_CODE(w3s_loop_new_sized(W3S_EVENT_SIZE_V1 - 8), W3S_EINVAL);
    CHECK_CODE(w3s_loop_new_sized(0), W3S_EINVAL);
    CHECK(sizeof(w3s_event) == W3S_EVENT_SIZE_V1, "this header's w3s_event is the first ABI's");
    int64_t v1 = (w3s_loop_new)(); /* the 0.1 symbol itself, not the macro */
    CHECK(v1 > 0, "the 0.1 w3s_loop_new still makes a loop");
    if (v1 > 0) w3s_loop_close(v1);

    int64_t loop = w3s_loop_new_sized(sizeof(new_event));
    REQUIRE(loop > 0, "a loop of %zu-byte events", sizeof(new_event));
    w3s_tcp_options o;
    w3s_tcp_options_init(&o);
    o.local_address = "127.0.0.1";
    int64_t l = w3s_tcp_listen(loop, &o, 0);
    REQUIRE(l > 0, "listener");
    w3s_info info;
    info.size = sizeof info;
    w3s_get_info(l, &info);
    int64_t c = w3s_tcp_connect(loop, "127.0.0.1", info.local_port, NULL, 0);
    REQUIRE(c > 0, "client");
    int bad = 0;
    /* OPEN and CONNECTION come through the Go poll, DATA through the C one. */
    CHECK(wait_new(loop, c, W3S_EV_OPEN, &bad, NULL, 0), "OPEN at the caller's stride");
    CHECK(w3s_send(c, "hello", 5) >= 0, "send");
    int64_t a = new_accepted; /* the CONNECTION may have come with the OPEN */
    double end = t_now() + 5;
    int got = 0;
    while ((!got || !a) && t_now() < end) {
        new_event evs[8];
        memset(evs, GUARD, sizeof evs);
        int n = w3s_loop_poll(loop, &evs[0].base, 8, 50);
        if (n > 0 && !future_zero(evs, n)) bad++;
        for (int i = 0; i < n; i++) {
            if (evs[i].base.type == W3S_EV_CONNECTION) a = evs[i].base.accepted;
            if (evs[i].base.type == W3S_EV_DATA && evs[i].base.len == 5 &&
                memcmp(evs[i].base.data, "hello", 5) == 0)
                got = 1;
        }
    }
    CHECK(a > 0 && got, "CONNECTION and DATA read at the caller's stride");
    /* Several events in one poll, read by the C data path. */
    for (int i = 0; i < 3; i++) w3s_send(a, "x", 1);
    uint8_t buf[64 * 1024];
    CHECK(wait_new(loop, c, W3S_EV_DATA, &bad, buf, sizeof buf), "DATA from w3s_loop_poll_into at the stride");
    CHECK(bad == 0, "no element's unknown tail was left unwritten, nothing past the last one touched (%d)", bad);

    cb_seen seen = {0, 0, 0, c};
    CHECK_CODE(w3s_loop_set_callback(loop, on_new_batch, &seen), W3S_OK);
    w3s_send(a, "cb", 2);
    end = t_now() + 5;
    while (seen.data == 0 && t_now() < end) {
        struct timespec d = {0, 10 * 1000 * 1000};
        nanosleep(&d, NULL);
    }
    CHECK_CODE(w3s_loop_set_callback(loop, NULL, NULL), W3S_OK);
    CHECK(seen.data > 0 && seen.bad == 0, "callback batches at the caller's stride (%d batches)", seen.batches);
    w3s_loop_close(loop);
}

/* A later w3s_interface / w3s_group, with a field appended. */
typedef struct new_interface {
    w3s_interface base;
    uint64_t future;
} new_interface;

typedef struct new_group {
    w3s_group base;
    uint64_t future[2];
} new_group;

static void test_array_sizes(void) {
    w3s_interface v1[16];
    int n1 = (w3s_network_list)(v1, 16); /* the 0.1 symbol */
    REQUIRE(n1 > 0, "the 0.1 w3s_network_list lists %d addresses", n1);
    new_interface nw[17];
    memset(nw, GUARD, sizeof nw);
    int n2 = w3s_network_list_sized(&nw[0].base, 16, sizeof(new_interface));
    CHECK(n2 == n1, "the sized call lists as many (%d)", n2);
    int same = 1, zero = 1;
    for (int i = 0; i < n1 && i < 16; i++) {
        same &= strcmp(nw[i].base.name, v1[i].name) == 0 && nw[i].base.index == v1[i].index &&
                strcmp(nw[i].base.address, v1[i].address) == 0;
        zero &= nw[i].future == 0;
    }
    CHECK(same && zero, "entries at the caller's stride, unknown fields zero");
    if (n1 < 16) CHECK(all_bytes(&nw[n1], sizeof nw[n1], GUARD), "nothing past the last entry is written");
    CHECK_CODE(w3s_network_list_sized(&nw[0].base, 1, W3S_INTERFACE_SIZE_V1 - 4), W3S_EINVAL);

    w3s_udp_options o;
    w3s_udp_options_init(&o);
    o.local_address = "0.0.0.0";
    int64_t u = w3s_udp_open(the_loop, &o, 0);
    REQUIRE(u > 0, "udp socket for groups");
    CHECK_CODE(w3s_join_group(u, "239.7.7.7", "lo"), W3S_OK);
    CHECK_CODE(w3s_join_group(u, "239.7.7.8", "lo"), W3S_OK);
    new_group g[3];
    memset(g, GUARD, sizeof g);
    int k = w3s_get_joined_groups_sized(u, &g[0].base, 2, sizeof(new_group));
    CHECK(k == 2, "two groups (%d)", k);
    CHECK(strncmp(g[0].base.group, "239.7.7.", 8) == 0 && strncmp(g[1].base.group, "239.7.7.", 8) == 0 &&
              strcmp(g[0].base.group, g[1].base.group) != 0,
          "groups at the caller's stride (%s, %s)", g[0].base.group, g[1].base.group);
    CHECK(g[0].future[0] == 0 && g[0].future[1] == 0 && g[1].future[1] == 0, "unknown fields zero");
    CHECK(all_bytes(&g[2], sizeof g[2], GUARD), "nothing past max is written");
    w3s_group old[2];
    CHECK((w3s_get_joined_groups)(u, old, 2) == 2 && strcmp(old[1].group, g[1].base.group) == 0,
          "the 0.1 w3s_get_joined_groups agrees");
    CHECK_CODE(w3s_get_joined_groups_sized(u, &g[0].base, 2, 8), W3S_EINVAL);
    CHECK_CODE(w3s_get_joined_groups_sized(u, &g[0].base, 2, 4097), W3S_EINVAL);
    CHECK_CODE(w3s_get_joined_groups_sized(u, NULL, 2, sizeof(new_group)), W3S_EINVAL);
    CHECK_CODE(w3s_get_joined_groups_sized(u, &g[0].base, -1, sizeof(new_group)), W3S_EINVAL);
    CHECK(w3s_get_joined_groups_sized(u, NULL, 0, sizeof(new_group)) == 2, "NULL out with max 0 counts");
    w3s_abort(u);
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
    test_event_size();
    test_array_sizes();
    w3s_loop_close(the_loop);
    CHECK(t_stats_zero(5), "nothing leaks");
    return t_done();
}
