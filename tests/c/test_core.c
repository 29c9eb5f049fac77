/* C tests of the core ABI: bad input on every export, echo in poll mode and
 * in callback mode, 1,000 checksummed connections, fork, and w3s_stats back
 * to zero once everything is closed. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <poll.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

/* ---------------------------------------------------------------- helpers */

#define LISTENER_UD ((uint64_t)1 << 40)

static int64_t listen_loopback(int64_t loop, int backlog) {
    w3s_tcp_options o;
    w3s_tcp_options_init(&o);
    o.local_address = "127.0.0.1";
    o.backlog = backlog;
    return w3s_tcp_listen(loop, &o, LISTENER_UD);
}

static int port_of(int64_t h) {
    w3s_info info;
    info.size = sizeof info;
    if (w3s_get_info(h, &info) != 0) return -1;
    return info.local_port;
}

/* Deterministic payload byte i of connection c. */
static uint8_t pbyte(int c, size_t i) {
    uint32_t x = (uint32_t)(c * 2654435761u) ^ (uint32_t)(i * 40503u);
    x ^= x >> 13;
    return (uint8_t)(x * 0x5bd1e995u >> 24);
}

/* ------------------------------------------------------------ bad input */

static void test_bad_input(void) {
    int64_t loop = w3s_loop_new();
    REQUIRE(loop > 0, "loop created");
    w3s_event evs[4];
    w3s_info info;
    int64_t v;
    w3s_group groups[2];
    const int64_t bad[] = {0, -5, 12345, (int64_t)1 << 40};

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t h = bad[i];
        CHECK_CODE(w3s_loop_close(h), W3S_EBADF);
        CHECK_CODE(w3s_loop_fd(h), W3S_EBADF);
        CHECK_CODE(w3s_loop_poll(h, evs, 4, 0), W3S_EBADF);
        CHECK_CODE(w3s_loop_wake(h), W3S_EBADF);
        CHECK_CODE(w3s_loop_set_callback(h, NULL, NULL), W3S_EBADF);
        CHECK_CODE(w3s_loop_set_notify(h, NULL, NULL), W3S_EBADF);
        CHECK_CODE(w3s_tcp_connect(h, "127.0.0.1", 80, NULL, 0), W3S_EBADF);
        CHECK_CODE(w3s_tcp_listen(h, NULL, 0), W3S_EBADF);
        CHECK_CODE(w3s_udp_open(h, NULL, 0), W3S_EBADF);
        CHECK_CODE(w3s_send(h, "x", 1), W3S_EBADF);
        CHECK_CODE(w3s_send_to(h, "x", 1, "127.0.0.1", 9), W3S_EBADF);
        CHECK_CODE(w3s_send_file(h, "/etc/hostname", 0, -1), W3S_EBADF);
        CHECK_CODE(w3s_pause(h), W3S_EBADF);
        CHECK_CODE(w3s_resume(h), W3S_EBADF);
        CHECK_CODE(w3s_half_close(h), W3S_EBADF);
        CHECK_CODE(w3s_close(h), W3S_EBADF);
        CHECK_CODE(w3s_abort(h), W3S_EBADF);
        CHECK_CODE(w3s_set_user_data(h, 1), W3S_EBADF);
        CHECK_CODE(w3s_start_tls(h, NULL), W3S_EBADF);
        CHECK_CODE(w3s_start_tls_with(h, NULL, "x", 1), W3S_EBADF);
        CHECK_CODE(w3s_udp_set_peer(h, "127.0.0.1", 9), W3S_EBADF);
        CHECK_CODE(w3s_join_group(h, "239.1.2.3", NULL), W3S_EBADF);
        CHECK_CODE(w3s_leave_group(h, "239.1.2.3", NULL), W3S_EBADF);
        CHECK_CODE(w3s_join_source_group(h, "127.0.0.1", "232.1.2.3", NULL), W3S_EBADF);
        CHECK_CODE(w3s_leave_source_group(h, "127.0.0.1", "232.1.2.3", NULL), W3S_EBADF);
        CHECK_CODE(w3s_get_joined_groups(h, groups, 2), W3S_EBADF);
        CHECK_CODE(w3s_set_option(h, W3S_OPT_NO_DELAY, 1), W3S_EBADF);
        CHECK_CODE(w3s_get_option(h, W3S_OPT_NO_DELAY, &v), W3S_EBADF);
        info.size = sizeof info;
        CHECK_CODE(w3s_get_info(h, &info), W3S_EBADF);
    }
    CHECK(strlen(w3s_last_error_message()) > 0, "detail message is set: %s", w3s_last_error_message());

    /* A loop handle where a socket is wanted, and the reverse. */
    CHECK_CODE(w3s_send(loop, "x", 1), W3S_EBADF);
    CHECK_CODE(w3s_close(loop), W3S_EBADF);
    int64_t srv = listen_loopback(loop, 0);
    REQUIRE(srv > 0, "listener");
    CHECK_CODE(w3s_loop_poll(srv, evs, 4, 0), W3S_EBADF);
    CHECK_CODE(w3s_tcp_connect(srv, "127.0.0.1", 80, NULL, 0), W3S_EBADF);
    CHECK_CODE(w3s_loop_fd(srv), W3S_EBADF);

    /* NULL pointers and bad lengths. */
    CHECK_CODE(w3s_loop_poll(loop, NULL, 4, 0), W3S_EINVAL);
    CHECK_CODE(w3s_loop_poll(loop, evs, 0, 0), W3S_EINVAL);
    CHECK_CODE(w3s_loop_poll(loop, evs, -3, 0), W3S_EINVAL);
    CHECK_CODE(w3s_tcp_connect(loop, NULL, 80, NULL, 0), W3S_EINVAL);
    CHECK_CODE(w3s_tcp_connect(loop, "", 80, NULL, 0), W3S_EINVAL);
    CHECK_CODE(w3s_tcp_connect(loop, "unix:", 0, NULL, 0), W3S_EINVAL);
    CHECK_CODE(w3s_tcp_options_init(NULL), W3S_EINVAL);
    CHECK_CODE(w3s_udp_options_init(NULL), W3S_EINVAL);
    CHECK_CODE(w3s_tls_options_init(NULL), W3S_EINVAL);
    CHECK_CODE(w3s_get_info(srv, NULL), W3S_EINVAL);
    info.size = 0; /* size not set (smaller and larger sizes: test_abi.c) */
    CHECK_CODE(w3s_get_info(srv, &info), W3S_EINVAL);
    CHECK_CODE(w3s_get_option(srv, W3S_OPT_RECEIVE_BUFFER_SIZE, NULL), W3S_EINVAL);
    CHECK_CODE(w3s_stats(NULL), W3S_EINVAL);
    CHECK_CODE(w3s_network_list(NULL, 5), W3S_EINVAL);
    CHECK_CODE(w3s_network_list(NULL, -1), W3S_EINVAL);
    CHECK_CODE(w3s_get_joined_groups(srv, NULL, 0), W3S_ENOTSUP);

    /* Ports out of range and addresses that do not parse. */
    CHECK_CODE(w3s_tcp_connect(loop, "127.0.0.1", 0, NULL, 0), W3S_EINVAL);
    CHECK_CODE(w3s_tcp_connect(loop, "127.0.0.1", 65536, NULL, 0), W3S_EINVAL);
    CHECK_CODE(w3s_tcp_connect(loop, "127.0.0.1", -1, NULL, 0), W3S_EINVAL);
    w3s_tcp_options o;
    w3s_tcp_options_init(&o);
    o.local_port = 70000;
    CHECK_CODE(w3s_tcp_listen(loop, &o, 0), W3S_EINVAL);
    w3s_tcp_options_init(&o);
    o.local_address = "not an address";
    CHECK_CODE(w3s_tcp_listen(loop, &o, 0), W3S_EADDR);
    CHECK_CODE(w3s_tcp_connect(loop, "127.0.0.1", 80, &o, 0), W3S_EADDR);
    w3s_tcp_options_init(&o);
    o.size = 3; /* an options struct nobody initialized */
    CHECK_CODE(w3s_tcp_connect(loop, "127.0.0.1", 80, &o, 0), W3S_EINVAL);
    w3s_udp_options uo;
    w3s_udp_options_init(&uo);
    uo.local_address = "300.1.2.3";
    CHECK_CODE(w3s_udp_open(loop, &uo, 0), W3S_EADDR);
    w3s_udp_options_init(&uo);
    uo.local_port = -2;
    CHECK_CODE(w3s_udp_open(loop, &uo, 0), W3S_EINVAL);

    /* Wrong-kind operations. */
    CHECK_CODE(w3s_send(srv, "x", 1), W3S_ENOTSUP);
    CHECK_CODE(w3s_send_to(srv, "x", 1, "127.0.0.1", 9), W3S_ENOTSUP);
    CHECK_CODE(w3s_half_close(srv), W3S_ENOTSUP);
    CHECK_CODE(w3s_pause(srv), W3S_ENOTSUP);
    CHECK_CODE(w3s_start_tls(srv, NULL), W3S_ENOTSUP);
    CHECK_CODE(w3s_udp_set_peer(srv, "127.0.0.1", 9), W3S_ENOTSUP);
    CHECK_CODE(w3s_set_option(srv, 999, 1), W3S_ENOOPT);
    CHECK_CODE(w3s_get_option(srv, -7, &v), W3S_ENOOPT);
    CHECK_CODE(w3s_set_option(srv, W3S_OPT_MULTICAST_TTL, 1), W3S_ENOOPT);

    int64_t udp = w3s_udp_open(loop, NULL, 0);
    REQUIRE(udp > 0, "udp socket");
    CHECK_CODE(w3s_send(udp, NULL, 5), W3S_EINVAL);
    CHECK_CODE(w3s_send(udp, "x", (size_t)1 << 40), W3S_EINVAL);
    CHECK_CODE(w3s_send(udp, "x", 1), W3S_ENOTCONN);
    CHECK_CODE(w3s_send_to(udp, "x", 1, "::1::", 9), W3S_EADDR);
    CHECK_CODE(w3s_send_to(udp, "x", 1, "127.0.0.1", 0), W3S_EINVAL);
    CHECK_CODE(w3s_send_to(udp, "x", 1, "127.0.0.1", 65536), W3S_EINVAL);
    static char big[70000];
    CHECK_CODE(w3s_send_to(udp, big, sizeof big, "127.0.0.1", 9), W3S_EMSGSIZE);
    CHECK_CODE(w3s_half_close(udp), W3S_ENOTSUP);
    CHECK_CODE(w3s_send_file(udp, "/etc/hostname", 0, -1), W3S_ENOTSUP);
    CHECK_CODE(w3s_set_option(udp, W3S_OPT_NO_DELAY, 1), W3S_ENOOPT);
    CHECK_CODE(w3s_set_option(udp, W3S_OPT_TTL, 300), W3S_EINVAL);
    CHECK_CODE(w3s_set_option(udp, W3S_OPT_HIGH_WATER_SEND, 0), W3S_EINVAL);
    CHECK_CODE(w3s_join_group(udp, NULL, NULL), W3S_EINVAL);
    CHECK_CODE(w3s_join_group(udp, "10.1.2.3", NULL), W3S_ENOTMULTICAST);
    CHECK_CODE(w3s_join_group(udp, "garbage", NULL), W3S_EADDR);
    CHECK_CODE(w3s_join_group(udp, "239.1.2.3", "no-such-if0"), W3S_ENOIFACE);
    CHECK_CODE(w3s_leave_group(udp, "239.1.2.3", NULL), W3S_ENOTJOINED);

    /* A connecting socket: send_file of a missing file, a bad range. */
    int64_t c = w3s_tcp_connect(loop, "127.0.0.1", port_of(srv), NULL, 0);
    REQUIRE(c > 0, "client");
    CHECK_CODE(w3s_send_file(c, "/nonexistent/file", 0, -1), W3S_ENOENT);
    CHECK_CODE(w3s_send_file(c, NULL, 0, -1), W3S_EINVAL);
    CHECK_CODE(w3s_send_file(c, "/etc/hostname", -1, 2), W3S_EINVAL);
    CHECK_CODE(w3s_send_file(c, "/etc/hostname", 0, 1 << 30), W3S_EINVAL);
    CHECK_CODE(w3s_send_to(c, "x", 1, "127.0.0.1", 9), W3S_ENOTSUP);

    /* A closed socket: its handle goes stale once CLOSE is delivered. */
    CHECK_CODE(w3s_close(c), W3S_OK);
    CHECK_CODE(w3s_close(c), W3S_OK); /* idempotent while the handle is live */
    CHECK_CODE(w3s_send(c, "x", 1), W3S_ESTATE);
    CHECK_CODE(w3s_start_tls(c, NULL), W3S_ESTATE); /* closing */
    int closes = 0;
    double end = t_now() + 5;
    while (t_now() < end && closes == 0) {
        int n = w3s_loop_poll(loop, evs, 4, 100);
        for (int i = 0; i < n; i++)
            if (evs[i].handle == c && evs[i].type == W3S_EV_CLOSE) closes++;
    }
    CHECK(closes == 1, "CLOSE delivered for the closed client");
    CHECK_CODE(w3s_send(c, "x", 1), W3S_EBADF);
    CHECK_CODE(w3s_close(c), W3S_EBADF);

    /* No event for calls that failed: no ERROR, MESSAGE or DRAIN arrives. */
    int unexpected = 0, srv_closed = 0, udp_closed = 0;
    w3s_close(udp);
    w3s_close(srv);
    end = t_now() + 5;
    while (t_now() < end && !(srv_closed && udp_closed)) {
        int n = w3s_loop_poll(loop, evs, 4, 100);
        for (int i = 0; i < n; i++) {
            if (evs[i].type == W3S_EV_CLOSE && evs[i].handle == srv) srv_closed = 1;
            if (evs[i].type == W3S_EV_CLOSE && evs[i].handle == udp) udp_closed = 1;
            if (evs[i].type == W3S_EV_ERROR || evs[i].type == W3S_EV_MESSAGE || evs[i].type == W3S_EV_DRAIN) unexpected++;
        }
    }
    CHECK(srv_closed && udp_closed && unexpected == 0, "no event from failed calls (%d unexpected)", unexpected);
    CHECK_CODE(w3s_loop_close(loop), W3S_OK);
    CHECK_CODE(w3s_loop_close(loop), W3S_EBADF);
    CHECK(strcmp(w3s_err_name(W3S_ECONNREFUSED), "W3S_ECONNREFUSED") == 0, "err_name");
    CHECK(strcmp(w3s_err_name(12345), "W3S_UNKNOWN") == 0, "err_name of an unknown code");
    CHECK(strlen(w3s_strerror(W3S_ETIMEDOUT)) > 0, "strerror: %s", w3s_strerror(W3S_ETIMEDOUT));
    CHECK(w3s_version() == W3S_VERSION_HEX, "version %s", w3s_version_string());
}

/* ------------------------------------------------------- echo, poll mode */

typedef struct conn_state {
    int64_t h;
    size_t sent, got;
    int bad, closed, index;
} conn_state;

/* Runs N clients against an echo server on one loop in poll mode; each
 * sends `size` checksummable bytes then half-closes. */
static void run_echo(int nconn, size_t size) {
    int64_t loop = w3s_loop_new();
    int64_t srv = listen_loopback(loop, 4096);
    REQUIRE(srv > 0, "listener");
    int port = port_of(srv);
    conn_state *cs = calloc((size_t)nconn, sizeof *cs);
    uint8_t *buf = malloc(size);
    for (int i = 0; i < nconn; i++) {
        cs[i].index = i;
        cs[i].h = w3s_tcp_connect(loop, "127.0.0.1", port, NULL, (uint64_t)(i + 1));
        REQUIRE(cs[i].h > 0, "connect %d", i);
        for (size_t k = 0; k < size; k++) buf[k] = pbyte(i, k);
        /* Send in pieces so several writes queue while opening. */
        for (size_t off = 0; off < size; off += 8192) {
            size_t n = size - off < 8192 ? size - off : 8192;
            REQUIRE(w3s_send(cs[i].h, buf + off, n) >= 0, "send");
        }
        cs[i].sent = size;
        REQUIRE(w3s_half_close(cs[i].h) == 0, "half-close while opening");
    }
    w3s_event evs[512];
    struct pollfd pfd = {.fd = w3s_loop_fd(loop), .events = POLLIN};
    int closed = 0, server_closed = 0, errors = 0, accepted = 0;
    double end = t_now() + 120;
    while ((closed < nconn || server_closed < nconn) && t_now() < end) {
        poll(&pfd, 1, 100);
        int n;
        while ((n = w3s_loop_poll(loop, evs, 512, 0)) > 0) {
            for (int i = 0; i < n; i++) {
                w3s_event *ev = &evs[i];
                if (ev->type == W3S_EV_CONNECTION) {
                    accepted++;
                    w3s_set_user_data(ev->accepted, 0);
                    continue;
                }
                if (ev->handle == srv) continue;
                if (ev->user_data == 0 || ev->user_data == LISTENER_UD) { /* server side */
                    if (ev->type == W3S_EV_DATA) w3s_send(ev->handle, ev->data, ev->len);
                    else if (ev->type == W3S_EV_END) w3s_half_close(ev->handle);
                    else if (ev->type == W3S_EV_ERROR) errors++;
                    else if (ev->type == W3S_EV_CLOSE) server_closed++;
                    continue;
                }
                conn_state *c = &cs[ev->user_data - 1];
                if (ev->type == W3S_EV_DATA) {
                    for (uint64_t k = 0; k < ev->len; k++)
                        if (ev->data[k] != pbyte(c->index, c->got + k)) c->bad++;
                    c->got += ev->len;
                } else if (ev->type == W3S_EV_ERROR) {
                    errors++;
                    printf("# client %d: %s %s\n", c->index, w3s_err_name(ev->error), (const char *)ev->data);
                } else if (ev->type == W3S_EV_CLOSE) {
                    c->closed++;
                    closed++;
                }
            }
        }
    }
    size_t lost = 0;
    int bad = 0, multi = 0;
    for (int i = 0; i < nconn; i++) {
        lost += cs[i].sent - cs[i].got;
        bad += cs[i].bad;
        if (cs[i].closed != 1) multi++;
    }
    CHECK(accepted == nconn, "%d connections accepted", accepted);
    CHECK(closed == nconn && server_closed == nconn, "every socket closed (%d clients, %d server side)", closed, server_closed);
    CHECK(lost == 0 && bad == 0, "%d x %zu bytes echoed, %zu lost, %d corrupt", nconn, size, lost, bad);
    CHECK(multi == 0 && errors == 0, "exactly one CLOSE each, %d errors", errors);
    w3s_close(srv);
    w3s_loop_close(loop);
    free(cs);
    free(buf);
}

/* --------------------------------------------------- echo, callback mode */

typedef struct cb_ctx {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int64_t srv, client;
    size_t got;
    int done, in_order, events, batches;
    int last_type;
    char text[64];
} cb_ctx;

static void on_batch(void *user, const w3s_event *events, int count) {
    cb_ctx *c = user;
    pthread_mutex_lock(&c->mu);
    c->batches++;
    for (int i = 0; i < count; i++) {
        const w3s_event *ev = &events[i];
        c->events++;
        if (ev->type == W3S_EV_DATA && ev->handle != c->client) {
            w3s_send(ev->handle, ev->data, ev->len); /* calling back in is allowed */
        } else if (ev->type == W3S_EV_END && ev->handle != c->client) {
            w3s_half_close(ev->handle);
        } else if (ev->handle == c->client) {
            if (ev->type == W3S_EV_DATA && c->got + ev->len < sizeof c->text) {
                memcpy(c->text + c->got, ev->data, ev->len);
                c->got += ev->len;
            }
            if (ev->type == W3S_EV_OPEN && c->last_type != 0) c->in_order = 0;
            if (ev->type == W3S_EV_CLOSE) {
                c->done = 1;
                pthread_cond_signal(&c->cv);
            }
            c->last_type = ev->type;
        }
    }
    pthread_mutex_unlock(&c->mu);
}

static void test_callback_mode(void) {
    static cb_ctx c = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, 1, 0, 0, 0, {0}};
    int64_t loop = w3s_loop_new();
    c.srv = listen_loopback(loop, 0);
    CHECK_CODE(w3s_loop_set_callback(loop, on_batch, &c), W3S_OK);
    w3s_event evs[2];
    CHECK_CODE(w3s_loop_poll(loop, evs, 2, 0), W3S_ESTATE);
    pthread_mutex_lock(&c.mu);
    c.client = w3s_tcp_connect(loop, "127.0.0.1", port_of(c.srv), NULL, 9);
    pthread_mutex_unlock(&c.mu);
    w3s_send(c.client, "callback mode", 13);
    w3s_half_close(c.client);
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 10;
    pthread_mutex_lock(&c.mu);
    while (!c.done && pthread_cond_timedwait(&c.cv, &c.mu, &dl) == 0) {
    }
    pthread_mutex_unlock(&c.mu);
    CHECK(c.done && c.got == 13 && memcmp(c.text, "callback mode", 13) == 0, "echo through callbacks (%d events in %d batches)", c.events, c.batches);
    CHECK(c.in_order, "OPEN came first for the client");
    CHECK_CODE(w3s_loop_set_callback(loop, NULL, NULL), W3S_OK);
    CHECK_CODE(w3s_loop_poll(loop, evs, 2, 0) >= 0 ? 0 : -99, W3S_OK);
    w3s_close(c.srv);
    w3s_loop_close(loop);
}

/* ------------------------------------------------------------- notify */

static int notified = 0;
static void on_notify(void *user) { (void)user; __atomic_add_fetch(&notified, 1, __ATOMIC_SEQ_CST); }

static void test_notify_and_fd(void) {
    int64_t loop = w3s_loop_new();
    CHECK_CODE(w3s_loop_set_notify(loop, on_notify, NULL), W3S_OK);
    struct pollfd pfd = {.fd = w3s_loop_fd(loop), .events = POLLIN};
    CHECK(poll(&pfd, 1, 0) == 0, "fd not readable while the queue is empty");
    int64_t srv = listen_loopback(loop, 0); /* OPEN is queued */
    CHECK(poll(&pfd, 1, 1000) == 1, "fd readable with an event pending");
    /* notify runs on the library's notifier thread: give it a moment. */
    for (double end = t_now() + 5; __atomic_load_n(&notified, __ATOMIC_SEQ_CST) == 0 && t_now() < end;) {
        struct timespec d = {0, 1000000};
        nanosleep(&d, NULL);
    }
    CHECK(__atomic_load_n(&notified, __ATOMIC_SEQ_CST) == 1, "notify called once on the empty->non-empty edge");
    w3s_event evs[8];
    CHECK(w3s_loop_poll(loop, evs, 8, 0) == 1 && evs[0].type == W3S_EV_OPEN, "OPEN polled");
    CHECK(poll(&pfd, 1, 0) == 0, "fd not readable after draining");
    CHECK_CODE(w3s_loop_wake(loop), W3S_OK);
    CHECK(w3s_loop_poll(loop, evs, 8, 5000) == 0, "wake makes a waiting poll return 0");
    w3s_close(srv);
    CHECK(w3s_loop_poll(loop, evs, 8, 5000) == 1 && evs[0].type == W3S_EV_CLOSE, "CLOSE with timeout poll");
    w3s_loop_close(loop);
}

/* ------------------------------------------------------------------ fork */

static void test_fork(void) {
    int64_t loop = w3s_loop_new();
    pid_t pid = fork();
    if (pid == 0) {
        int rc = 0;
        if (w3s_loop_new() != W3S_EFORKED) rc |= 1;
        if (w3s_tcp_connect(loop, "127.0.0.1", 9, NULL, 0) != W3S_EFORKED) rc |= 2;
        w3s_event evs[1];
        if (w3s_loop_poll(loop, evs, 1, 10) != W3S_EFORKED) rc |= 4;
        _exit(rc);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "calls in a forked child return W3S_EFORKED (status %d)", status);
    CHECK(w3s_loop_close(loop) == 0, "the parent is unaffected");
}

int main(void) {
    t_init();
    test_bad_input();
    /* The baseline is taken once the Go runtime's own poller exists. */
    CHECK(t_stats_zero(10), "w3s_stats: nothing left after the bad-input test");
    w3s_stats_t st0;
    st0.size = sizeof st0;
    w3s_stats(&st0);
    test_notify_and_fd();
    run_echo(4, 1 << 20);
    test_callback_mode();
    run_echo(1000, 32 << 10);
    test_fork();
    CHECK(t_stats_zero(10), "w3s_stats: no loop and no socket left");
    w3s_stats_t st;
    st.size = sizeof st;
    double end = t_now() + 10;
    do {
        w3s_stats(&st);
        if (st.open_fds <= st0.open_fds && st.goroutines <= st0.goroutines + 2) break;
        struct timespec d = {0, 50 * 1000 * 1000};
        nanosleep(&d, NULL);
    } while (t_now() < end);
    CHECK(st.open_fds <= st0.open_fds, "descriptors back to %lld (now %lld)", (long long)st0.open_fds, (long long)st.open_fds);
    CHECK(st.goroutines <= st0.goroutines + 2, "goroutines back to ~%lld (now %lld)", (long long)st0.goroutines, (long long)st.goroutines);
    return t_done();
}
