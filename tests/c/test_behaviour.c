/* The behaviour a host relies on, through the public ABI only (the Go
 * behaviour tests of core/ re-expressed on the C ABI, which runs the C data
 * path they do not):
 *   1. DRAIN, in poll, poll-into, callback and notify modes: at every DRAIN
 *      buffered_amount is 0 and every byte sent before it was handed to the
 *      kernel (bytes_sent); exactly one DRAIN per high-water crossing; the
 *      peer then receives every byte, once, in order;
 *   2. w3s_close flushes the queue: all of it arrives, then END;
 *   3. a large stream against a paused reader: no DATA while paused, all of
 *      it, in order, after resume;
 *   4. half-close both ways: each side's bytes, then END, and both close;
 *   5. UDP pause/resume, and receive-high-water drops counted in
 *      w3s_get_info;
 *   6. descriptor and socket counts back to their baseline after abort- and
 *      close-heavy rounds. */
#define _POSIX_C_SOURCE 200809L
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <unistd.h>

#include "testutil.h"

#define LD(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define ST(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)
#define INC(p) __atomic_add_fetch((p), 1, __ATOMIC_SEQ_CST)

static int sanitized; /* W3S_SANITIZED: smaller amounts */

/* ---- a receiving end that checks a generated stream ---- */

typedef struct {
    int64_t h;
    uint32_t seed;
    uint64_t got;
    int bad, ended, closed, data_after_end, data_while_paused, paused;
} rx_end;

static void rx_event(rx_end *r, const w3s_event *ev) {
    if (ev->handle != r->h) return;
    switch (ev->type) {
    case W3S_EV_DATA:
        if (r->ended) r->data_after_end = 1;
        if (r->paused) r->data_while_paused++;
        if (!r->bad && t_bad(r->seed, r->got, ev->data, ev->len) != ev->len) {
            printf("# stream %u: wrong byte near offset %llu\n", r->seed, (unsigned long long)r->got);
            r->bad = 1;
        }
        r->got += ev->len;
        break;
    case W3S_EV_END: r->ended = 1; break;
    case W3S_EV_CLOSE: r->closed = 1; break;
    default: break;
    }
}

static void rx_cb(void *ctx, const w3s_event *ev) { rx_event(ctx, ev); }

/* ---- 1. DRAIN ---- */

enum { M_POLL, M_POLL_INTO, M_CALLBACK, M_NOTIFY };
static const char *mode_name[] = {"poll", "poll-into", "callback", "notify"};

typedef struct {
    int64_t c;
    uint64_t sent;       /* bytes w3s_send accepted (main thread writes) */
    int drains, bad_drains, notified;
} drain_state;

static drain_state ds;

static void drain_event(const w3s_event *ev) {
    if (ev->handle != ds.c || ev->type != W3S_EV_DRAIN) return;
    w3s_info in;
    int rc = t_info(ds.c, &in);
    uint64_t sent = LD(&ds.sent);
    if (rc != 0 || in.buffered_amount != 0 || in.bytes_sent != sent) {
        printf("# DRAIN with buffered_amount %lld, bytes_sent %llu of %llu\n", (long long)in.buffered_amount,
               (unsigned long long)in.bytes_sent, (unsigned long long)sent);
        INC(&ds.bad_drains);
    }
    INC(&ds.drains);
}

static void drain_cb(void *user, const w3s_event *evs, int n) {
    (void)user;
    for (int i = 0; i < n; i++) drain_event(&evs[i]);
}

static void drain_notify(void *user) {
    (void)user;
    INC(&ds.notified);
}

/* One poll of the client's loop in the given mode (callback mode polls
 * nothing: the library's thread calls drain_cb). */
static void client_turn(int mode, int64_t lc, uint8_t *buf, size_t cap) {
    w3s_event evs[64];
    int n = 0;
    if (mode == M_POLL || mode == M_NOTIFY) n = w3s_loop_poll(lc, evs, 64, 2);
    if (mode == M_POLL_INTO) n = w3s_loop_poll_into(lc, evs, 64, 2, buf, cap);
    for (int i = 0; i < n; i++) drain_event(&evs[i]);
}

static void test_drain(int mode) {
    const int crossings = 5;
    const int64_t hwm = 64 * 1024;
    int64_t lc = w3s_loop_new(), ls = w3s_loop_new();
    int64_t srv = t_listen(ls, NULL, 0);
    w3s_tcp_options co;
    w3s_tcp_options_init(&co);
    co.high_water_send = hwm;
    co.send_buffer_size = 16384;
    rx_end r;
    memset(&r, 0, sizeof r);
    memset(&ds, 0, sizeof ds);
    r.seed = 7 + (uint32_t)mode;
    REQUIRE(lc > 0 && ls > 0 && srv > 0 && t_pair(lc, ls, srv, &co, &ds.c, &r.h), "%s: pair", mode_name[mode]);
    if (mode == M_CALLBACK) CHECK_CODE(w3s_loop_set_callback(lc, drain_cb, NULL), W3S_OK);
    if (mode == M_NOTIFY) CHECK_CODE(w3s_loop_set_notify(lc, drain_notify, NULL), W3S_OK);
    static uint8_t chunk[16384], into[256 * 1024];
    int crossed = 0;
    for (int k = 0; k < crossings; k++) {
        /* Send until w3s_send reports the high-water mark reached. */
        int64_t rc = 0;
        for (int i = 0; i < 10000 && rc < hwm; i++) {
            t_fill(r.seed, ds.sent, chunk, sizeof chunk);
            rc = w3s_send(ds.c, chunk, sizeof chunk);
            if (rc < 0) break;
            ST(&ds.sent, ds.sent + sizeof chunk);
        }
        if (rc < hwm) break;
        crossed++;
        /* The peer reads; the DRAIN comes once the queue is empty. */
        for (double end = t_now() + 20; LD(&ds.drains) < crossed && t_now() < end;) {
            t_pump(ls, 2, rx_cb, &r);
            client_turn(mode, lc, into, sizeof into);
        }
    }
    CHECK(crossed == crossings, "%s: %d high-water crossings made", mode_name[mode], crossed);
    for (double end = t_now() + 20; r.got < ds.sent && !r.bad && t_now() < end;) {
        t_pump(ls, 5, rx_cb, &r);
        client_turn(mode, lc, into, sizeof into);
    }
    /* A late or extra DRAIN would show up now. */
    for (int i = 0; i < 5; i++) client_turn(mode, lc, into, sizeof into), t_pump(ls, 2, rx_cb, &r);
    if (mode == M_CALLBACK) CHECK_CODE(w3s_loop_set_callback(lc, NULL, NULL), W3S_OK);
    CHECK(LD(&ds.drains) == crossed && ds.bad_drains == 0,
          "%s: exactly one DRAIN per crossing (%d for %d), each with nothing buffered and every byte sent",
          mode_name[mode], ds.drains, crossed);
    CHECK(!r.bad && r.got == ds.sent, "%s: the peer received all %llu bytes in order (%llu)", mode_name[mode],
          (unsigned long long)ds.sent, (unsigned long long)r.got);
    if (mode == M_NOTIFY) CHECK(LD(&ds.notified) > 0, "notify: the notify callback ran");
    CHECK_CODE(w3s_loop_close(lc), W3S_OK);
    CHECK_CODE(w3s_loop_close(ls), W3S_OK);
}

/* ---- 2. close flushes; 3. paused reader ---- */

static void test_close_flushes(void) {
    int64_t lc = w3s_loop_new(), ls = w3s_loop_new();
    int64_t srv = t_listen(ls, NULL, 0);
    int64_t c;
    rx_end r;
    memset(&r, 0, sizeof r);
    r.seed = 21;
    REQUIRE(t_pair(lc, ls, srv, NULL, &c, &r.h), "close-flush: pair");
    const size_t total = 8u << 20;
    static uint8_t chunk[65536];
    uint64_t off = 0;
    for (; off < total; off += sizeof chunk) {
        t_fill(r.seed, off, chunk, sizeof chunk);
        if (w3s_send(c, chunk, sizeof chunk) < 0) break;
    }
    CHECK(off == total, "8 MiB queued without waiting");
    CHECK_CODE(w3s_close(c), W3S_OK);
    int cclosed = 0, cerr = 0;
    w3s_event evs[64];
    for (double end = t_now() + 30; (!r.ended || !cclosed) && t_now() < end;) {
        t_pump(ls, 2, rx_cb, &r);
        int n = w3s_loop_poll(lc, evs, 64, 2);
        for (int i = 0; i < n; i++) {
            if (evs[i].handle == c && evs[i].type == W3S_EV_CLOSE) cclosed = 1, cerr = evs[i].error;
            if (evs[i].handle == c && evs[i].type == W3S_EV_ERROR) cerr = evs[i].error;
        }
    }
    CHECK(!r.bad && r.got == total && r.ended && !r.data_after_end,
          "w3s_close: all %zu queued bytes arrived in order (%llu), then END", total, (unsigned long long)r.got);
    CHECK(cclosed && cerr == 0, "the closing socket's CLOSE came without an error (%s)", w3s_err_name(cerr));
    w3s_loop_close(lc);
    w3s_loop_close(ls);
}

static void test_paused_reader(void) {
    const size_t total = (sanitized ? 20u : 100u) << 20;
    int64_t lc = w3s_loop_new(), ls = w3s_loop_new();
    int64_t srv = t_listen(ls, NULL, 0);
    int64_t c;
    rx_end r;
    memset(&r, 0, sizeof r);
    r.seed = 33;
    REQUIRE(t_pair(lc, ls, srv, NULL, &c, &r.h), "paused reader: pair");
    CHECK_CODE(w3s_pause(r.h), W3S_OK);
    r.paused = 1;
    static uint8_t chunk[1 << 20];
    uint64_t off = 0;
    int64_t rc = 0;
    for (; off < total; off += sizeof chunk) {
        t_fill(r.seed, off, chunk, sizeof chunk);
        if ((rc = w3s_send(c, chunk, sizeof chunk)) < 0) break;
        t_pump(lc, 0, NULL, NULL); /* the sending loop flushes what the kernel takes */
        t_pump(ls, 0, rx_cb, &r);  /* the paused end must not deliver */
    }
    CHECK(off == total, "%zu MiB queued against a paused reader (buffered %lld)", total >> 20, (long long)rc);
    w3s_info in;
    t_info(c, &in);
    CHECK(in.buffered_amount > 0 && (uint64_t)in.buffered_amount + in.bytes_sent == total,
          "buffered_amount (%lld) and bytes_sent (%llu) add up to what was sent", (long long)in.buffered_amount,
          (unsigned long long)in.bytes_sent);
    CHECK(r.data_while_paused == 0 && r.got == 0, "no DATA while paused (%d events)", r.data_while_paused);
    CHECK_CODE(w3s_resume(r.h), W3S_OK);
    r.paused = 0;
    for (double end = t_now() + 120; r.got < total && !r.bad && t_now() < end;) {
        t_pump(ls, 1, rx_cb, &r);
        t_pump(lc, 0, NULL, NULL);
    }
    CHECK(!r.bad && r.got == total, "after resume all %zu bytes arrived in order", total);
    w3s_loop_close(lc);
    w3s_loop_close(ls);
}

/* ---- 4. half-close both ways ---- */

static void test_half_close(void) {
    int64_t l = w3s_loop_new();
    int64_t srv = t_listen(l, NULL, 0);
    rx_end rc_, ra;
    memset(&rc_, 0, sizeof rc_);
    memset(&ra, 0, sizeof ra);
    rc_.seed = 41, ra.seed = 42;
    REQUIRE(t_pair(l, l, srv, NULL, &rc_.h, &ra.h), "half-close: pair");
    static uint8_t buf[300000];
    t_fill(ra.seed, 0, buf, sizeof buf);
    CHECK(w3s_send(rc_.h, buf, sizeof buf) >= 0, "client queued %zu bytes", sizeof buf);
    CHECK_CODE(w3s_half_close(rc_.h), W3S_OK);
    CHECK_CODE(w3s_send(rc_.h, "x", 1), W3S_ESTATE);
    w3s_event evs[64];
    for (double end = t_now() + 20; !ra.ended && t_now() < end;) {
        int n = w3s_loop_poll(l, evs, 64, 5);
        for (int i = 0; i < n; i++) rx_event(&ra, &evs[i]), rx_event(&rc_, &evs[i]);
    }
    CHECK(ra.ended && ra.got == sizeof buf && !ra.bad, "server: every byte (%llu) then END",
          (unsigned long long)ra.got);
    /* The other way: the server answers after the client's FIN. */
    t_fill(rc_.seed, 0, buf, sizeof buf);
    CHECK(w3s_send(ra.h, buf, sizeof buf) >= 0, "server sends %zu bytes after the client's FIN", sizeof buf);
    CHECK_CODE(w3s_half_close(ra.h), W3S_OK);
    for (double end = t_now() + 20; (!rc_.closed || !ra.closed) && t_now() < end;) {
        int n = w3s_loop_poll(l, evs, 64, 5);
        for (int i = 0; i < n; i++) rx_event(&ra, &evs[i]), rx_event(&rc_, &evs[i]);
        if (rc_.ended && !rc_.closed) w3s_close(rc_.h);
        if (ra.ended && !ra.closed) w3s_close(ra.h);
    }
    CHECK(rc_.ended && rc_.got == sizeof buf && !rc_.bad && !rc_.data_after_end,
          "client: every byte (%llu) then END", (unsigned long long)rc_.got);
    CHECK(rc_.closed && ra.closed, "both ends closed");
    w3s_loop_close(l);
}

/* ---- 5. UDP ---- */

static int udp_count(int64_t l, int64_t h, int wait_ms) {
    w3s_event evs[64];
    int got = 0, n;
    do {
        n = w3s_loop_poll(l, evs, 64, wait_ms);
        for (int i = 0; i < n; i++) got += evs[i].handle == h && evs[i].type == W3S_EV_MESSAGE;
        wait_ms = 0;
    } while (n > 0);
    return got;
}

static uint64_t udp_seen(int64_t h) {
    w3s_info in;
    t_info(h, &in);
    return in.messages_received + in.messages_dropped;
}

static void test_udp(void) {
    int64_t l = w3s_loop_new();
    w3s_udp_options o;
    w3s_udp_options_init(&o);
    o.local_address = "127.0.0.1";
    int64_t rx = w3s_udp_open(l, &o, 0);
    w3s_udp_options_init(&o);
    o.local_address = "127.0.0.1";
    o.remote_address = "127.0.0.1";
    o.remote_port = t_port(rx);
    int64_t tx = w3s_udp_open(l, &o, 0);
    REQUIRE(rx > 0 && tx > 0, "UDP pair");
    udp_count(l, rx, 50);
    uint8_t d[1000];
    memset(d, 'u', sizeof d);
    /* Pause: nothing is delivered; resume: what the kernel kept arrives. */
    CHECK_CODE(w3s_pause(rx), W3S_OK);
    for (int i = 0; i < 20; i++) w3s_send(tx, d, sizeof d);
    int while_paused = 0;
    for (int i = 0; i < 10; i++) while_paused += udp_count(l, rx, 10);
    /* Before core/udp.go checked the pause before every datagram and held a
     * batch read across a pause, datagrams sent after w3s_pause returned
     * were delivered while paused in 7 of 12 runs (up to all 20). */
    CHECK(while_paused == 0, "no datagram is delivered while paused (%d of 20 were)", while_paused);
    CHECK_CODE(w3s_resume(rx), W3S_OK);
    int after = 0;
    for (double end = t_now() + 10; after + while_paused < 20 && t_now() < end;) after += udp_count(l, rx, 10);
    CHECK(after + while_paused == 20, "every datagram sent while paused arrives by the end of resume (%d + %d)",
          while_paused, after);
    /* Not polling: past 10 kB undelivered the library drops and counts. */
    CHECK_CODE(w3s_set_option(rx, W3S_OPT_HIGH_WATER_RECEIVE, 10 * 1000), W3S_OK);
    uint64_t base = udp_seen(rx);
    w3s_info in;
    t_info(rx, &in);
    uint64_t dropped0 = in.messages_dropped;
    for (int i = 0; i < 50; i++) w3s_send(tx, d, sizeof d);
    for (double end = t_now() + 10; udp_seen(rx) < base + 50 && t_now() < end;) t_sleep_ms(2);
    t_info(rx, &in);
    uint64_t dropped = in.messages_dropped - dropped0;
    int delivered = udp_count(l, rx, 0);
    CHECK(dropped > 0 && delivered > 0 && delivered + dropped == 50,
          "receive high water: %d delivered + %llu counted as dropped == 50", delivered,
          (unsigned long long)dropped);
    w3s_loop_close(l);
}

/* ---- 6. counts back to baseline ---- */

static void test_baseline(void) {
    w3s_stats_t base = t_stats();
    for (int round = 0; round < 6; round++) {
        int64_t l = w3s_loop_new();
        int64_t srv = t_listen(l, NULL, 0);
        int64_t c[20], a[20];
        int made = 0;
        for (int i = 0; i < 20; i++) made += t_pair(l, l, srv, NULL, &c[i], &a[i]);
        REQUIRE(made == 20, "round %d: 20 pairs", round);
        for (int i = 0; i < 20; i++) {
            w3s_send(c[i], "hello", 5);
            if ((i + round) % 3 == 0) w3s_abort(c[i]);
            else if ((i + round) % 3 == 1) w3s_close(c[i]), w3s_abort(a[i]);
            else w3s_close(a[i]);
        }
        int closes = 0;
        w3s_event evs[64];
        for (double end = t_now() + 20; closes < 40 && t_now() < end;) {
            int n = w3s_loop_poll(l, evs, 64, 5);
            for (int i = 0; i < n; i++) {
                if (evs[i].type == W3S_EV_END) w3s_close(evs[i].handle);
                closes += evs[i].type == W3S_EV_CLOSE && evs[i].handle != srv;
            }
        }
        CHECK(closes == 40, "round %d: each of the 40 sockets had its CLOSE (%d)", round, closes);
        CHECK_CODE(w3s_close(srv), W3S_OK);
        CHECK_CODE(w3s_loop_close(l), W3S_OK);
    }
    w3s_stats_t st = t_stats();
    for (double end = t_now() + 10; (st.sockets != base.sockets || st.open_fds > base.open_fds) && t_now() < end;) {
        t_sleep_ms(20);
        st = t_stats();
    }
    CHECK(st.loops == base.loops && st.sockets == base.sockets && st.open_fds == base.open_fds,
          "loops %lld, sockets %lld, descriptors %lld back to %lld, %lld, %lld", (long long)st.loops,
          (long long)st.sockets, (long long)st.open_fds, (long long)base.loops, (long long)base.sockets,
          (long long)base.open_fds);
}

int main(void) {
    t_init();
    sanitized = getenv("W3S_SANITIZED") != NULL;
    for (int m = M_POLL; m <= M_NOTIFY; m++) test_drain(m);
    test_close_flushes();
    test_paused_reader();
    test_half_close();
    test_udp();
    test_baseline();
    CHECK(t_stats_zero(10), "no loop or socket left");
    return t_done();
}
