/* C tests of multicast through the ABI: groups over IPv4 (lo) and IPv6
 * (veth pair), leave, source-specific membership, get_joined_groups, the
 * multicast options, w3s_network_list, and bad input for every multicast
 * export. Multicast never leaves the machine: the test re-runs itself
 * inside a fresh network namespace (tests/netns.sh) unless W3S_IN_NETNS=1. */
#define _POSIX_C_SOURCE 200809L
#include <libgen.h>
#include <limits.h>
#include <stdint.h>
#include <unistd.h>

#include "testutil.h"

/* ------------------------------------------------------------ namespace */

static void reexec_in_netns(char **argv) {
    const char *in = getenv("W3S_IN_NETNS");
    if (in && strcmp(in, "1") == 0) return;
    char exe[PATH_MAX], script[PATH_MAX + 32];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    REQUIRE(n > 0, "readlink /proc/self/exe");
    exe[n] = 0;
    /* build/tests/test_multicast -> tests/netns.sh at the repository root */
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", exe);
    snprintf(script, sizeof script, "%s/../../tests/netns.sh", dirname(dir));
    char *args[] = {script, exe, NULL};
    (void)argv;
    execv(script, args);
    printf("not ok exec %s failed\n", script);
    exit(1);
}

/* ------------------------------------------------------------ event pump */

#define MAXMSG 256
struct msg {
    int64_t h;
    char data[64];
    char addr[48];
    int port;
    int family;
};
static struct msg msgs[MAXMSG];
static int nmsgs;
static int64_t the_loop;

static void pump(int timeout_ms) {
    w3s_event evs[64];
    int n = w3s_loop_poll(the_loop, evs, 64, timeout_ms);
    for (int i = 0; i < n; i++) {
        if (evs[i].type == W3S_EV_MESSAGE && nmsgs < MAXMSG) {
            struct msg *m = &msgs[nmsgs++];
            m->h = evs[i].handle;
            size_t len = evs[i].len < sizeof m->data - 1 ? evs[i].len : sizeof m->data - 1;
            memcpy(m->data, evs[i].data, len);
            m->data[len] = 0;
            snprintf(m->addr, sizeof m->addr, "%s", evs[i].address);
            m->port = evs[i].port;
            m->family = evs[i].family;
        } else if (evs[i].type == W3S_EV_ERROR) {
            printf("# ERROR on %lld: %s %.*s\n", (long long)evs[i].handle, w3s_err_name(evs[i].error),
                   (int)evs[i].len, (const char *)evs[i].data);
        }
    }
}

static const struct msg *got(int64_t h, const char *payload) {
    for (int i = 0; i < nmsgs; i++)
        if (msgs[i].h == h && strcmp(msgs[i].data, payload) == 0) return &msgs[i];
    return NULL;
}

/* Pumps until h has payload or 5 s pass. */
static int wait_msg(int64_t h, const char *payload) {
    double end = t_now() + 5;
    while (!got(h, payload)) {
        if (t_now() > end) return 0;
        pump(50);
    }
    return 1;
}

static int local_port(int64_t h) {
    w3s_info info;
    info.size = sizeof info;
    if (w3s_get_info(h, &info) != 0) return -1;
    return info.local_port;
}

static int64_t udp(const char *local, int port, const char *mcast_if) {
    w3s_udp_options o;
    w3s_udp_options_init(&o);
    o.local_address = local;
    o.local_port = port;
    o.multicast_interface = mcast_if;
    int64_t h = w3s_udp_open(the_loop, &o, 0);
    CHECK(h > 0, "udp open %s:%d (%s)", local ? local : "(any)", port, h > 0 ? "ok" : w3s_err_name((int)h));
    return h;
}

static void send_to(int64_t h, const char *payload, const char *addr, int port) {
    int64_t r = w3s_send_to(h, payload, strlen(payload), addr, port);
    CHECK(r >= 0, "send %s to %s:%d", payload, addr, port);
}

/* ------------------------------------------------------------ tests */

static void test_ipv4_group(void) {
    int64_t r0 = udp("0.0.0.0", 0, NULL);
    int port = local_port(r0);
    int64_t r1 = udp("0.0.0.0", port, NULL);
    int64_t snd = udp("127.0.0.1", 0, "lo");
    int sport = local_port(snd);

    CHECK_CODE(w3s_join_group(r0, "239.5.5.5", "lo"), W3S_OK);
    CHECK_CODE(w3s_join_group(r0, "239.5.5.6", "lo"), W3S_OK);
    CHECK_CODE(w3s_join_group(r1, "239.5.5.5", NULL), W3S_OK);

    w3s_group gs[4];
    memset(gs, 0xff, sizeof gs);
    int n = w3s_get_joined_groups(r0, gs, 4);
    CHECK(n == 2 && strcmp(gs[0].group, "239.5.5.5") == 0 && strcmp(gs[1].group, "239.5.5.6") == 0 &&
              gs[0].source[0] == 0 && gs[0].iface == 1,
          "r0 joined groups: %d [%s iface %u, %s]", n, gs[0].group, gs[0].iface, gs[1].group);
    CHECK(w3s_get_joined_groups(r0, NULL, 0) == 2, "count without an array");
    memset(gs, 0, sizeof gs);
    CHECK(w3s_get_joined_groups(r0, gs, 1) == 2 && strcmp(gs[0].group, "239.5.5.5") == 0 && gs[1].group[0] == 0,
          "a short array gets one entry and the full count");
    CHECK(w3s_get_joined_groups(r1, gs, 4) == 1 && gs[0].iface == 0, "r1 on the system's choice");

    send_to(snd, "hello", "239.5.5.5", port);
    CHECK(wait_msg(r0, "hello") && wait_msg(r1, "hello"), "both members receive");
    const struct msg *m = got(r0, "hello");
    CHECK(m && strcmp(m->addr, "127.0.0.1") == 0 && m->port == sport && m->family == 4,
          "sender address %s:%d family %d", m ? m->addr : "-", m ? m->port : 0, m ? m->family : 0);

    CHECK_CODE(w3s_leave_group(r0, "239.5.5.5", NULL), W3S_OK);
    CHECK(w3s_get_joined_groups(r0, gs, 4) == 1 && strcmp(gs[0].group, "239.5.5.6") == 0, "one group left");
    send_to(snd, "after", "239.5.5.5", port);
    CHECK(wait_msg(r1, "after"), "remaining member receives");
    send_to(snd, "sentinel", "239.5.5.6", port);
    CHECK(wait_msg(r0, "sentinel"), "r0 still has its other group");
    CHECK(!got(r0, "after"), "nothing arrives after leave");

    /* Loopback read-back through the ABI. */
    int64_t v = -1;
    CHECK(w3s_get_option(snd, W3S_OPT_MULTICAST_LOOPBACK, &v) == 0 && v == 0, "loopback default 0 (%lld)", (long long)v);
    CHECK_CODE(w3s_set_option(snd, W3S_OPT_MULTICAST_LOOPBACK, 1), W3S_OK);
    CHECK(w3s_get_option(snd, W3S_OPT_MULTICAST_LOOPBACK, &v) == 0 && v == 1, "loopback reads 1");
    CHECK_CODE(w3s_set_option(snd, W3S_OPT_MULTICAST_TTL, 4), W3S_OK);
    CHECK(w3s_get_option(snd, W3S_OPT_MULTICAST_TTL, &v) == 0 && v == 4, "multicast ttl reads 4");
    CHECK(w3s_get_option(snd, W3S_OPT_MULTICAST_INTERFACE, &v) == 0 && v == 1, "multicast interface lo (%lld)", (long long)v);

    w3s_close(r0);
    w3s_close(r1);
    w3s_close(snd);
}

static void test_ipv6_group(void) {
    int64_t r0 = udp("::", 0, NULL);
    int port = local_port(r0);
    int64_t r1 = udp(NULL, port, NULL);
    int64_t snd = udp("fd00::1", 0, "veth0");
    CHECK_CODE(w3s_join_group(r0, "ff15::5", "veth1"), W3S_OK);
    CHECK_CODE(w3s_join_group(r1, "ff15::5", "veth1"), W3S_OK);
    send_to(snd, "six", "ff15::5", port);
    CHECK(wait_msg(r0, "six") && wait_msg(r1, "six"), "both IPv6 members receive");
    const struct msg *m = got(r1, "six");
    CHECK(m && strcmp(m->addr, "fd00::1") == 0 && m->family == 6, "from fd00::1 (%s)", m ? m->addr : "-");
    CHECK(!got(snd, "six"), "the sender does not hear itself");

    /* Loopback on veth0: members on the sender's interface hear it only
     * when loopback is on. */
    int64_t a = udp("::", 0, "veth0");
    int aport = local_port(a);
    int64_t b = udp("::", aport, NULL);
    CHECK_CODE(w3s_join_group(a, "ff15::6", "veth0"), W3S_OK);
    CHECK_CODE(w3s_join_group(b, "ff15::6", "veth0"), W3S_OK);
    send_to(a, "quiet", "ff15::6", aport);
    CHECK_CODE(w3s_set_option(a, W3S_OPT_MULTICAST_LOOPBACK, 1), W3S_OK);
    send_to(a, "loud", "ff15::6", aport);
    CHECK(wait_msg(a, "loud") && wait_msg(b, "loud"), "loopback on: sender and peer hear it");
    CHECK(!got(a, "quiet") && !got(b, "quiet"), "loopback off: not looped back");
    int64_t v = 0;
    CHECK(w3s_get_option(a, W3S_OPT_MULTICAST_TTL, &v) == 0 && v == 1, "hop limit default 1");
    CHECK_CODE(w3s_set_option(a, W3S_OPT_MULTICAST_TTL, 17), W3S_OK);
    CHECK(w3s_get_option(a, W3S_OPT_MULTICAST_TTL, &v) == 0 && v == 17, "hop limit reads 17");
    w3s_close(r0);
    w3s_close(r1);
    w3s_close(snd);
    w3s_close(a);
    w3s_close(b);
}

static void test_source_specific(void) {
    int64_t ssm = udp("0.0.0.0", 0, NULL);
    int port = local_port(ssm);
    int64_t asm_ = udp("0.0.0.0", port, NULL);
    int64_t a = udp("127.0.0.1", 0, "lo");
    int64_t b = udp("127.0.0.2", 0, "lo");
    CHECK_CODE(w3s_join_source_group(ssm, "127.0.0.1", "232.7.7.7", "lo"), W3S_OK);
    CHECK_CODE(w3s_join_source_group(ssm, "127.0.0.1", "232.7.7.7", "lo"), W3S_EALREADY);
    CHECK_CODE(w3s_join_group(asm_, "232.7.7.7", "lo"), W3S_OK);
    w3s_group g;
    CHECK(w3s_get_joined_groups(ssm, &g, 1) == 1 && strcmp(g.source, "127.0.0.1") == 0 && strcmp(g.group, "232.7.7.7") == 0,
          "source membership listed (%s -> %s)", g.source, g.group);
    send_to(b, "from-b", "232.7.7.7", port);
    CHECK(wait_msg(asm_, "from-b"), "any-source member hears b");
    send_to(a, "from-a", "232.7.7.7", port);
    CHECK(wait_msg(ssm, "from-a"), "source member hears a");
    CHECK(!got(ssm, "from-b"), "source member does not hear b");
    CHECK_CODE(w3s_leave_source_group(ssm, "127.0.0.2", "232.7.7.7", NULL), W3S_ENOTJOINED);
    CHECK_CODE(w3s_leave_source_group(ssm, "127.0.0.1", "232.7.7.7", NULL), W3S_OK);
    CHECK(w3s_get_joined_groups(ssm, NULL, 0) == 0, "no memberships left");
    w3s_close(ssm);
    w3s_close(asm_);
    w3s_close(a);
    w3s_close(b);
}

static void test_bad_input(void) {
    int64_t v4 = udp("0.0.0.0", 0, NULL);
    int64_t v6 = udp("::", 0, NULL);
    w3s_tcp_options to;
    w3s_tcp_options_init(&to);
    to.local_address = "127.0.0.1";
    int64_t ln = w3s_tcp_listen(the_loop, &to, 0);
    CHECK(ln > 0, "listener");
    w3s_group g[2];

    CHECK_CODE(w3s_join_group(v4, NULL, NULL), W3S_EINVAL);
    CHECK_CODE(w3s_leave_group(v4, NULL, NULL), W3S_EINVAL);
    CHECK_CODE(w3s_join_source_group(v4, NULL, "232.1.1.1", NULL), W3S_EINVAL);
    CHECK_CODE(w3s_join_source_group(v4, "", "232.1.1.1", NULL), W3S_EINVAL);
    CHECK_CODE(w3s_join_source_group(v4, "127.0.0.1", NULL, NULL), W3S_EINVAL);
    CHECK_CODE(w3s_leave_source_group(v4, NULL, "232.1.1.1", NULL), W3S_EINVAL);
    CHECK_CODE(w3s_leave_source_group(v4, "127.0.0.1", NULL, NULL), W3S_EINVAL);
    CHECK_CODE(w3s_join_group(v4, "", NULL), W3S_EADDR);
    CHECK_CODE(w3s_join_group(v4, "not-an-ip", NULL), W3S_EADDR);
    CHECK_CODE(w3s_join_group(v4, "10.0.0.1", NULL), W3S_ENOTMULTICAST);
    CHECK_CODE(w3s_join_group(v6, "fd00::1", NULL), W3S_ENOTMULTICAST);
    CHECK_CODE(w3s_join_group(v4, "239.1.1.1", "nope0"), W3S_ENOIFACE);
    CHECK_CODE(w3s_join_group(v4, "239.1.1.1", "424242"), W3S_ENOIFACE);
    CHECK_CODE(w3s_join_group(v6, "239.1.1.1", NULL), W3S_EFAMILY);
    CHECK_CODE(w3s_join_group(v4, "ff15::1", NULL), W3S_EFAMILY);
    CHECK_CODE(w3s_join_source_group(v4, "fd00::1", "232.1.1.1", NULL), W3S_EFAMILY);
    CHECK_CODE(w3s_join_source_group(v4, "bogus", "232.1.1.1", NULL), W3S_EADDR);
    CHECK_CODE(w3s_join_group(v4, "239.1.1.1", "lo"), W3S_OK);
    CHECK_CODE(w3s_join_group(v4, "239.1.1.1", "lo"), W3S_EALREADY);
    CHECK_CODE(w3s_join_group(v4, "239.1.1.1", "1"), W3S_EALREADY);
    CHECK_CODE(w3s_leave_group(v4, "239.1.1.2", NULL), W3S_ENOTJOINED);
    CHECK_CODE(w3s_leave_group(v4, "239.1.1.1", "lo"), W3S_OK);
    CHECK_CODE(w3s_leave_group(v4, "239.1.1.1", "lo"), W3S_ENOTJOINED);
    CHECK_CODE(w3s_join_group(ln, "239.1.1.1", NULL), W3S_ENOTSUP);
    CHECK_CODE(w3s_leave_group(ln, "239.1.1.1", NULL), W3S_ENOTSUP);
    CHECK_CODE(w3s_join_source_group(ln, "127.0.0.1", "232.1.1.1", NULL), W3S_ENOTSUP);
    CHECK_CODE(w3s_leave_source_group(ln, "127.0.0.1", "232.1.1.1", NULL), W3S_ENOTSUP);
    CHECK_CODE(w3s_get_joined_groups(ln, g, 2), W3S_ENOTSUP);
    CHECK_CODE(w3s_get_joined_groups(v4, NULL, 1), W3S_EINVAL);
    CHECK_CODE(w3s_get_joined_groups(v4, g, -1), W3S_EINVAL);
    CHECK(strlen(w3s_last_error_message()) > 0, "detail message: %s", w3s_last_error_message());
    CHECK(strcmp(w3s_err_name(W3S_ENOTJOINED), "W3S_ENOTJOINED") == 0 && strlen(w3s_strerror(W3S_EALREADY)) > 0,
          "multicast codes have names");

    /* After close: memberships are gone and calls fail. */
    CHECK_CODE(w3s_join_group(v6, "ff15::9", "veth1"), W3S_OK);
    w3s_close(v6);
    CHECK(w3s_join_group(v6, "ff15::8", "veth1") < 0, "join on a closing socket fails (%s)",
          w3s_err_name(w3s_join_group(v6, "ff15::8", "veth1")));
    w3s_close(v4);
    w3s_close(ln);
}

static void test_network_list(void) {
    int total = w3s_network_list(NULL, 0);
    CHECK(total >= 5, "network list has %d entries (lo x2, veth0, veth1, ...)", total);
    CHECK_CODE(w3s_network_list(NULL, 1), W3S_EINVAL);
    w3s_interface ifs[32];
    CHECK_CODE(w3s_network_list(ifs, -1), W3S_EINVAL);
    int n = w3s_network_list(ifs, 32);
    CHECK(n == total, "same count with an array");
    int saw_lo = 0, saw_veth = 0;
    for (int i = 0; i < n && i < 32; i++) {
        printf("# %-8s %-30s /%d index %u flags %u family %d\n", ifs[i].name, ifs[i].address,
               ifs[i].prefix_length, ifs[i].index, ifs[i].flags, ifs[i].family);
        if (strcmp(ifs[i].name, "lo") == 0 && strcmp(ifs[i].address, "127.0.0.1") == 0)
            saw_lo = ifs[i].prefix_length == 8 && ifs[i].family == 4 && ifs[i].index == 1 &&
                     (ifs[i].flags & (W3S_IF_UP | W3S_IF_LOOPBACK | W3S_IF_MULTICAST)) ==
                         (W3S_IF_UP | W3S_IF_LOOPBACK | W3S_IF_MULTICAST);
        if (strcmp(ifs[i].name, "veth0") == 0 && strcmp(ifs[i].address, "fd00::1") == 0)
            saw_veth = ifs[i].prefix_length == 64 && ifs[i].family == 6 &&
                       (ifs[i].flags & W3S_IF_MULTICAST) && !(ifs[i].flags & W3S_IF_LOOPBACK);
    }
    CHECK(saw_lo, "lo 127.0.0.1/8 up, loopback, multicast");
    CHECK(saw_veth, "veth0 fd00::1/64 multicast");
    memset(ifs, 0, sizeof ifs);
    CHECK(w3s_network_list(ifs, 1) == total && ifs[0].name[0] != 0 && ifs[1].name[0] == 0,
          "a short array is filled up to max");
}

int main(int argc, char **argv) {
    (void)argc;
    reexec_in_netns(argv);
    t_init();
    the_loop = w3s_loop_new();
    REQUIRE(the_loop > 0, "loop");
    test_ipv4_group();
    test_ipv6_group();
    test_source_specific();
    test_bad_input();
    test_network_list();
    /* Every socket closes and is released. */
    double end = t_now() + 5;
    w3s_stats_t st;
    do {
        pump(20);
        st.size = sizeof st;
        w3s_stats(&st);
    } while (st.sockets > 0 && t_now() < end);
    CHECK(st.sockets == 0, "all sockets released (%lld left)", (long long)st.sockets);
    w3s_loop_close(the_loop);
    CHECK(t_stats_zero(5), "stats back to zero");
    return t_done();
}
