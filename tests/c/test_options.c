/* C tests of w3s_set_option / w3s_get_option (UDP, TCP, listener; given at
 * open and changed later; read back from the kernel), w3s_udp_set_peer and
 * datagram sizes, with bad input for each. Loopback only. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>

#include "testutil.h"

static int64_t the_loop;
static int64_t accepted[8]; /* accepted sockets seen, closed at the end */
static int naccepted;

/* Pumps until h gets an event of type (5 s at most); h == 0 pumps once. */
static int wait_type(int64_t h, int type, w3s_event *out) {
    double end = h ? t_now() + 5 : t_now();
    w3s_event evs[32];
    int found = 0;
    do {
        int n = w3s_loop_poll(the_loop, evs, 32, 50);
        for (int i = 0; i < n; i++) {
            if (evs[i].type == W3S_EV_CONNECTION && naccepted < 8) accepted[naccepted++] = evs[i].accepted;
            if (!found && h && evs[i].handle == h && evs[i].type == type) {
                found = 1;
                if (out) {
                    *out = evs[i];
                    out->data = NULL; /* payload not kept */
                }
            }
        }
    } while (!found && t_now() < end);
    return found;
}

static int64_t opt(int64_t h, int o) {
    int64_t v = -12345;
    int rc = w3s_get_option(h, o, &v);
    return rc < 0 ? rc : v;
}

static int local_port(int64_t h) {
    w3s_info info;
    info.size = sizeof info;
    return w3s_get_info(h, &info) == 0 ? info.local_port : -1;
}

static void test_udp_options(void) {
    w3s_udp_options o;
    w3s_udp_options_init(&o);
    CHECK(o.size == sizeof o && o.address_reuse == 1 && o.multicast_loopback == 0 && o.multicast_ttl == -1 &&
              o.broadcast == 0,
          "udp defaults from init");
    o.local_address = "127.0.0.1";
    int64_t d = w3s_udp_open(the_loop, &o, 0);
    REQUIRE(d > 0, "udp open with defaults");
    CHECK(opt(d, W3S_OPT_ADDRESS_REUSE) == 1, "address reuse on by default");
    CHECK(opt(d, W3S_OPT_BROADCAST) == 0, "broadcast off by default (%lld)", (long long)opt(d, W3S_OPT_BROADCAST));
    CHECK(opt(d, W3S_OPT_MULTICAST_LOOPBACK) == 0, "multicast loopback off by default");
    CHECK(opt(d, W3S_OPT_MULTICAST_TTL) == 1, "multicast ttl 1 by default");
    CHECK(opt(d, W3S_OPT_REUSE_PORT) == 0, "reuse port off by default");
    CHECK(opt(d, W3S_OPT_TTL) >= 1, "ttl is the system's (%lld)", (long long)opt(d, W3S_OPT_TTL));
    CHECK_CODE(w3s_send_to(d, "x", 1, "255.255.255.255", 9), W3S_EACCES);

    o.ttl = 21;
    o.multicast_ttl = 5;
    o.multicast_loopback = 1;
    o.broadcast = 1;
    o.reuse_port = 1;
    o.address_reuse = 0;
    o.send_buffer_size = 20000;
    o.receive_buffer_size = 30000;
    o.multicast_interface = "lo";
    o.high_water_send = 777;
    o.high_water_receive = 888;
    int64_t s = w3s_udp_open(the_loop, &o, 0);
    REQUIRE(s > 0, "udp open with every option");
    CHECK(opt(s, W3S_OPT_TTL) == 21, "ttl 21");
    CHECK(opt(s, W3S_OPT_MULTICAST_TTL) == 5, "multicast ttl 5");
    CHECK(opt(s, W3S_OPT_MULTICAST_LOOPBACK) == 1, "multicast loopback on");
    CHECK(opt(s, W3S_OPT_BROADCAST) == 1, "broadcast on");
    CHECK(opt(s, W3S_OPT_REUSE_PORT) == 1, "reuse port on");
    CHECK(opt(s, W3S_OPT_ADDRESS_REUSE) == 0, "address reuse off");
    CHECK(opt(s, W3S_OPT_SEND_BUFFER_SIZE) == 40000, "send buffer: the kernel's doubled 40000 (%lld)",
          (long long)opt(s, W3S_OPT_SEND_BUFFER_SIZE));
    CHECK(opt(s, W3S_OPT_RECEIVE_BUFFER_SIZE) == 60000, "receive buffer 60000");
    CHECK(opt(s, W3S_OPT_MULTICAST_INTERFACE) == 1, "multicast interface lo");
    CHECK(opt(s, W3S_OPT_HIGH_WATER_SEND) == 777 && opt(s, W3S_OPT_HIGH_WATER_RECEIVE) == 888, "high-water marks");

    /* Live changes. */
    CHECK_CODE(w3s_set_option(s, W3S_OPT_TTL, 200), W3S_OK);
    CHECK(opt(s, W3S_OPT_TTL) == 200, "ttl 200");
    CHECK_CODE(w3s_set_option(s, W3S_OPT_MULTICAST_LOOPBACK, 0), W3S_OK);
    CHECK(opt(s, W3S_OPT_MULTICAST_LOOPBACK) == 0, "loopback off again");
    CHECK_CODE(w3s_set_option(s, W3S_OPT_MULTICAST_INTERFACE, 0), W3S_OK);
    CHECK(opt(s, W3S_OPT_MULTICAST_INTERFACE) == 0, "multicast interface: system's choice");
    CHECK_CODE(w3s_set_option(s, W3S_OPT_RECEIVE_BUFFER_SIZE, 10000), W3S_OK);
    CHECK(opt(s, W3S_OPT_RECEIVE_BUFFER_SIZE) == 20000, "receive buffer 20000");

    /* Bad input. */
    int64_t v;
    CHECK_CODE(w3s_get_option(s, W3S_OPT_TTL, NULL), W3S_EINVAL);
    CHECK_CODE(w3s_set_option(s, 0, 1), W3S_ENOOPT);
    CHECK_CODE(w3s_set_option(s, 99, 1), W3S_ENOOPT);
    CHECK_CODE(w3s_get_option(s, -3, &v), W3S_ENOOPT);
    CHECK_CODE(w3s_set_option(s, W3S_OPT_NO_DELAY, 1), W3S_ENOOPT);
    CHECK_CODE(w3s_get_option(s, W3S_OPT_KEEP_ALIVE, &v), W3S_ENOOPT);
    CHECK_CODE(w3s_set_option(s, W3S_OPT_TTL, 0), W3S_EINVAL);
    CHECK_CODE(w3s_set_option(s, W3S_OPT_TTL, 256), W3S_EINVAL);
    CHECK_CODE(w3s_set_option(s, W3S_OPT_MULTICAST_TTL, 256), W3S_EINVAL);
    CHECK_CODE(w3s_set_option(s, W3S_OPT_MULTICAST_TTL, -1), W3S_EINVAL);
    CHECK_CODE(w3s_set_option(s, W3S_OPT_SEND_BUFFER_SIZE, (int64_t)1 << 40), W3S_EINVAL);
    CHECK_CODE(w3s_set_option(s, W3S_OPT_HIGH_WATER_RECEIVE, 0), W3S_EINVAL);
    CHECK_CODE(w3s_set_option(s, W3S_OPT_MULTICAST_INTERFACE, 4242), W3S_ENOIFACE);

    o.multicast_interface = "no-such-if";
    CHECK_CODE(w3s_udp_open(the_loop, &o, 0), W3S_ENOIFACE);
    w3s_udp_options_init(&o);
    o.multicast_ttl = 300;
    CHECK_CODE(w3s_udp_open(the_loop, &o, 0), W3S_EINVAL);
    w3s_udp_options_init(&o);
    o.ttl = -1;
    CHECK_CODE(w3s_udp_open(the_loop, &o, 0), W3S_EINVAL);
    w3s_udp_options_init(&o);
    o.size = 2; /* smaller than the size field (older structs: test_abi.c) */
    CHECK_CODE(w3s_udp_open(the_loop, &o, 0), W3S_EINVAL);

    w3s_close(d);
    CHECK(wait_type(d, W3S_EV_CLOSE, NULL), "closed");
    CHECK_CODE(w3s_set_option(d, W3S_OPT_TTL, 5), W3S_EBADF);
    CHECK_CODE(w3s_get_option(d, W3S_OPT_TTL, &v), W3S_EBADF);
    w3s_close(s);
}

static void test_tcp_options(void) {
    w3s_tcp_options lo;
    w3s_tcp_options_init(&lo);
    CHECK(lo.no_delay == 1 && lo.keep_alive == 0 && lo.address_reuse == 1 && lo.reuse_port == 0, "tcp defaults from init");
    lo.local_address = "127.0.0.1";
    lo.reuse_port = 1;
    lo.receive_buffer_size = 25000;
    int64_t ln = w3s_tcp_listen(the_loop, &lo, 0);
    REQUIRE(ln > 0, "listen");
    CHECK(opt(ln, W3S_OPT_REUSE_PORT) == 1 && opt(ln, W3S_OPT_ADDRESS_REUSE) == 1, "listener reuse flags");
    CHECK(opt(ln, W3S_OPT_RECEIVE_BUFFER_SIZE) == 50000, "listener receive buffer 50000");
    CHECK_CODE(w3s_set_option(ln, W3S_OPT_NO_DELAY, 1), W3S_ENOOPT);

    w3s_tcp_options co;
    w3s_tcp_options_init(&co);
    co.no_delay = 0;
    co.keep_alive = 1;
    co.keep_alive_delay_ms = 4000;
    co.send_buffer_size = 30000;
    int64_t c = w3s_tcp_connect(the_loop, "127.0.0.1", local_port(ln), &co, 0);
    REQUIRE(c > 0, "connect");
    CHECK(wait_type(c, W3S_EV_OPEN, NULL), "open");
    CHECK(opt(c, W3S_OPT_NO_DELAY) == 0, "no-delay off as asked");
    CHECK(opt(c, W3S_OPT_KEEP_ALIVE) == 1, "keep-alive on");
    CHECK(opt(c, W3S_OPT_KEEP_ALIVE_DELAY_MS) == 4000, "keep-alive delay 4000 ms");
    CHECK(opt(c, W3S_OPT_SEND_BUFFER_SIZE) == 60000, "send buffer 60000");
    CHECK_CODE(w3s_set_option(c, W3S_OPT_NO_DELAY, 1), W3S_OK);
    CHECK(opt(c, W3S_OPT_NO_DELAY) == 1, "no-delay on");
    CHECK_CODE(w3s_set_option(c, W3S_OPT_KEEP_ALIVE_DELAY_MS, 2500), W3S_OK);
    CHECK(opt(c, W3S_OPT_KEEP_ALIVE_DELAY_MS) == 3000, "2500 ms reads as the kernel's 3 s");
    CHECK_CODE(w3s_set_option(c, W3S_OPT_KEEP_ALIVE, 0), W3S_OK);
    CHECK(opt(c, W3S_OPT_KEEP_ALIVE) == 0, "keep-alive off");
    CHECK_CODE(w3s_set_option(c, W3S_OPT_KEEP_ALIVE_DELAY_MS, 0), W3S_EINVAL);
    CHECK_CODE(w3s_set_option(c, W3S_OPT_MULTICAST_TTL, 1), W3S_ENOOPT);
    CHECK_CODE(w3s_set_option(c, W3S_OPT_BROADCAST, 1), W3S_ENOOPT);
    CHECK_CODE(w3s_udp_set_peer(c, "127.0.0.1", 9), W3S_ENOTSUP);
    CHECK_CODE(w3s_udp_set_peer(ln, "127.0.0.1", 9), W3S_ENOTSUP);
    w3s_close(c);
    w3s_close(ln);
    CHECK(wait_type(c, W3S_EV_CLOSE, NULL), "client closed");
    /* The CONNECTION may come after the client's own events. */
    double end = t_now() + 5;
    while (naccepted < 1 && t_now() < end) wait_type(0, 0, NULL);
    CHECK(naccepted == 1, "one connection accepted");
    for (int i = 0; i < naccepted; i++) w3s_close(accepted[i]);
}

static void test_set_peer_and_sizes(void) {
    w3s_udp_options o;
    w3s_udp_options_init(&o);
    o.local_address = "127.0.0.1";
    int64_t a = w3s_udp_open(the_loop, &o, 1), b = w3s_udp_open(the_loop, &o, 2);
    REQUIRE(a > 0 && b > 0, "two udp sockets");
    int bport = local_port(b), aport = local_port(a);
    CHECK_CODE(w3s_send(a, "x", 1), W3S_ENOTCONN);
    CHECK_CODE(w3s_udp_set_peer(a, "127.0.0.1", bport), W3S_OK);
    w3s_info info;
    info.size = sizeof info;
    CHECK(w3s_get_info(a, &info) == 0 && info.remote_port == bport && strcmp(info.remote_address, "127.0.0.1") == 0,
          "info shows the peer %s:%d", info.remote_address, info.remote_port);
    CHECK(w3s_send(a, "hello", 5) >= 0, "send to the peer");
    w3s_event ev;
    CHECK(wait_type(b, W3S_EV_MESSAGE, &ev) && ev.port == aport && ev.len == 5, "peer received it");
    CHECK_CODE(w3s_udp_set_peer(a, NULL, 0), W3S_OK);
    CHECK(local_port(a) == aport, "still on port %d after disconnect", aport);
    CHECK_CODE(w3s_send(a, "x", 1), W3S_ENOTCONN);
    CHECK(w3s_send_to(b, "back", 4, "127.0.0.1", aport) >= 0, "send back to the disconnected socket");
    CHECK(wait_type(a, W3S_EV_MESSAGE, &ev) && ev.len == 4, "it still receives on its port");
    CHECK_CODE(w3s_udp_set_peer(a, "not an address", 9), W3S_EADDR);
    CHECK_CODE(w3s_udp_set_peer(a, "127.0.0.1", 0), W3S_EINVAL);
    CHECK_CODE(w3s_udp_set_peer(a, "127.0.0.1", 70000), W3S_EINVAL);

    static char big[65508];
    memset(big, 'b', sizeof big);
    CHECK_CODE(w3s_send_to(a, big, sizeof big, "127.0.0.1", bport), W3S_EMSGSIZE);
    CHECK(w3s_send_to(a, big, sizeof big - 1, "127.0.0.1", bport) >= 0, "65507 bytes go");
    CHECK(wait_type(b, W3S_EV_MESSAGE, &ev) && ev.len == sizeof big - 1, "65507 bytes arrive (%llu)",
          (unsigned long long)ev.len);
    CHECK_CODE(w3s_udp_set_peer(a, "127.0.0.1", bport), W3S_OK);
    CHECK_CODE(w3s_send(a, big, sizeof big), W3S_EMSGSIZE);
    CHECK_CODE(w3s_send_to(a, NULL, 3, "127.0.0.1", bport), W3S_EINVAL);
    CHECK_CODE(w3s_send_to(a, "x", 1, "127.0.0.1", 0), W3S_EINVAL);
    CHECK_CODE(w3s_send_to(a, "x", 1, "no spaces allowed", 9), W3S_EADDR);
    w3s_close(a);
    w3s_close(b);
}

int main(void) {
    t_init();
    the_loop = w3s_loop_new();
    REQUIRE(the_loop > 0, "loop");
    test_udp_options();
    test_tcp_options();
    test_set_peer_and_sizes();
    double end = t_now() + 5;
    w3s_stats_t st;
    w3s_event evs[32];
    do {
        w3s_loop_poll(the_loop, evs, 32, 20);
        st.size = sizeof st;
        w3s_stats(&st);
    } while (st.sockets > 0 && t_now() < end);
    CHECK(st.sockets == 0, "all sockets released (%lld left)", (long long)st.sockets);
    w3s_loop_close(the_loop);
    CHECK(t_stats_zero(5), "stats back to zero");
    return t_done();
}
