/* Stress tests of the plain-TCP data path: w3s_loop_poll() reading sockets
 * on the polling thread and w3s_send() writing them (directly while nothing
 * is queued, else through the polling thread's flush). These are the paths
 * that change when the data path moves between Go and C, so each part below
 * proves one property a host relies on, through the public API only:
 *
 *   1. several threads sending on one socket: records stay whole and in
 *      per-thread order, no byte is lost, while another thread flushes;
 *   2. ping-pong of small messages on one thread (the common fast path);
 *   3. w3s_pause()/w3s_resume(): no DATA after pause, nothing lost;
 *   4. close/abort racing a sending thread, hundreds of times;
 *   5. w3s_set_user_data(): later events carry the new value;
 *   6. byte counters of w3s_get_info() after a two-way transfer;
 *   7. half-close: every byte sent before the FIN arrives before END;
 *   8. blocking polls: timeout -1 returns for data, for flushing, for a
 *      close, for w3s_loop_wake(); a 50 ms poll with nothing to do returns.
 *
 * Loopback only; every wait has a deadline; no assertion depends on speed
 * (times are printed for information). W3S_DATAPATH_DIV=n divides the
 * amounts of work by n (it is 10 under valgrind); W3S_DATAPATH_PARTS=37
 * runs only parts 3 and 7.
 */
#define _POSIX_C_SOURCE 200809L
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <unistd.h>

#include "testutil.h"

/* ------------------------------------------------------------ helpers */

#define LOAD(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)
#define ADD(p, v) __atomic_add_fetch((p), (v), __ATOMIC_SEQ_CST)

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define LISTENER_UD 0x11511ull

static int g_div = 1;

/* Like REQUIRE, but prints nothing when cond holds (for loops). */
#define MUST(cond, ...) do { if (!(cond)) { CHECK(0, __VA_ARGS__); exit(t_done()); } } while (0)

/* n scaled down by W3S_DATAPATH_DIV, at least lo. */
static long sc(long n, long lo) {
    long v = n / g_div;
    return v < lo ? lo : v;
}

static void sleep_us(long us) {
    struct timespec d = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&d, NULL);
}
static void sleep_ms(long ms) { sleep_us(ms * 1000); }

static uint64_t xs(uint64_t *s) {
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* A w3s_send result for messages: an error name or the bytes buffered. */
static const char *rc_str(int64_t rc) {
    static char bufs[4][32];
    static int next;
    if (rc < 0) return w3s_err_name((int)rc);
    char *b = bufs[next++ % 4];
    snprintf(b, sizeof bufs[0], "ok (%lld buffered)", (long long)rc);
    return b;
}

static const char *ev_name(int t) {
    static const char *names[] = {"?", "OPEN", "DATA", "MESSAGE", "CONNECTION", "DRAIN",
                                  "END", "SECURE", "ERROR", "CLOSE"};
    return t >= 1 && t <= 9 ? names[t] : "?";
}

static int64_t listen_lo(int64_t loop, uint64_t ud, int rcvbuf) {
    w3s_tcp_options o;
    w3s_tcp_options_init(&o);
    o.local_address = "127.0.0.1";
    o.receive_buffer_size = rcvbuf;
    return w3s_tcp_listen(loop, &o, ud);
}

/* The sending loop, the receiving loop and a listener on the latter: every
 * part starts from these. */
typedef struct {
    int64_t ls, lr, srv;
} bench;

static bench open_bench(int listener_rcvbuf) {
    bench b;
    b.ls = w3s_loop_new();
    b.lr = w3s_loop_new();
    b.srv = b.lr > 0 ? listen_lo(b.lr, LISTENER_UD, listener_rcvbuf) : -1;
    REQUIRE(b.ls > 0 && b.lr > 0 && b.srv > 0, "loops and listener");
    return b;
}

static int get_info(int64_t h, w3s_info *in) {
    memset(in, 0, sizeof *in);
    in->size = sizeof *in;
    return w3s_get_info(h, in);
}

static int port_of(int64_t h) {
    w3s_info in;
    return get_info(h, &in) == 0 ? in.local_port : -1;
}

static int64_t buffered_of(int64_t h) {
    w3s_info in;
    return get_info(h, &in) == 0 ? in.buffered_amount : -1;
}

/* Deterministic stream content: byte i of the stream named seed. Four
 * bytes per hash, so checking 20 MB stays cheap; a lost, repeated or
 * shifted byte is caught with probability ~255/256 per byte. */
static inline uint32_t gen_word(uint32_t seed, uint64_t w) {
    uint32_t x = ((uint32_t)w * 0x9E3779B1u) ^ seed ^ ((uint32_t)(w >> 32) * 0x85EBCA77u);
    x ^= x >> 16;
    x *= 0x85EBCA6Bu;
    x ^= x >> 13;
    x *= 0xC2B2AE35u;
    x ^= x >> 16;
    return x;
}
static inline uint8_t gen_byte(uint32_t seed, uint64_t i) {
    return (uint8_t)(gen_word(seed, i >> 2) >> ((i & 3) * 8));
}
static void gen_fill(uint32_t seed, uint64_t off, uint8_t *p, size_t n) {
    size_t k = 0;
    for (; k < n && ((off + k) & 3); k++) p[k] = gen_byte(seed, off + k);
    for (; k + 4 <= n; k += 4) {
        uint32_t w = gen_word(seed, (off + k) >> 2);
        p[k] = (uint8_t)w;
        p[k + 1] = (uint8_t)(w >> 8);
        p[k + 2] = (uint8_t)(w >> 16);
        p[k + 3] = (uint8_t)(w >> 24);
    }
    for (; k < n; k++) p[k] = gen_byte(seed, off + k);
}
/* Index of the first byte of p that is not stream seed's bytes off..off+n,
 * or n when all match. */
static size_t gen_bad(uint32_t seed, uint64_t off, const uint8_t *p, size_t n) {
    size_t k = 0;
    for (; k < n && ((off + k) & 3); k++)
        if (p[k] != gen_byte(seed, off + k)) return k;
    for (; k + 4 <= n; k += 4) {
        uint32_t w = gen_word(seed, (off + k) >> 2);
        uint32_t g = (uint32_t)p[k] | (uint32_t)p[k + 1] << 8 | (uint32_t)p[k + 2] << 16 |
                     (uint32_t)p[k + 3] << 24;
        if (g != w)
            for (size_t j = 0; j < 4; j++)
                if (p[k + j] != (uint8_t)(w >> (8 * j))) return k + j;
    }
    for (; k < n; k++)
        if (p[k] != gen_byte(seed, off + k)) return k;
    return n;
}

#define FNV0 2166136261u
static uint32_t fnv1a(uint32_t h, const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h;
}

/* A connected pair: c made by w3s_tcp_connect, a accepted by a listener. */
typedef struct pair {
    int64_t c, a;
    uint64_t conn_ud; /* user_data of the CONNECTION event */
} pair;

/* Connects a client on loop lc to listener srv (on loop ls) and waits for
 * the client's OPEN and the listener's CONNECTION. set_aud: give the
 * accepted socket user_data aud at once. */
static int make_pair(int64_t lc, int64_t ls, int64_t srv, const w3s_tcp_options *co,
                     uint64_t cud, uint64_t aud, int set_aud, pair *p) {
    memset(p, 0, sizeof *p);
    p->c = w3s_tcp_connect(lc, "127.0.0.1", port_of(srv), co, cud);
    if (p->c <= 0) return 0;
    int opened = 0;
    w3s_event evs[16];
    int64_t loops[2] = {lc, ls};
    int nl = lc == ls ? 1 : 2;
    double end = t_now() + 10;
    while ((!opened || p->a <= 0) && t_now() < end) {
        for (int l = 0; l < nl; l++) {
            int n = w3s_loop_poll(loops[l], evs, 16, nl == 1 ? 20 : 2);
            for (int i = 0; i < n; i++) {
                const w3s_event *ev = &evs[i];
                if (ev->handle == p->c && ev->type == W3S_EV_OPEN) {
                    opened = 1;
                } else if (ev->handle == srv && ev->type == W3S_EV_CONNECTION) {
                    p->a = ev->accepted;
                    p->conn_ud = ev->user_data;
                    if (set_aud) w3s_set_user_data(p->a, aud);
                } else if (ev->type == W3S_EV_ERROR || (ev->type == W3S_EV_CLOSE && ev->handle == p->c)) {
                    printf("# make_pair: %s on %lld: %s\n", ev_name(ev->type), (long long)ev->handle,
                           ev->type == W3S_EV_ERROR ? (const char *)ev->data : "");
                    return 0;
                }
            }
        }
    }
    return opened && p->a > 0;
}

/* Connects a client on b->ls to b's listener (send buffer sndbuf, 0 for
 * the default), user_data 1 and 2 on the two ends. */
static int connect_pair(const bench *b, int sndbuf, pair *p) {
    w3s_tcp_options co;
    w3s_tcp_options_init(&co);
    co.send_buffer_size = sndbuf;
    return make_pair(b->ls, b->lr, b->srv, &co, 1, 2, 1, p);
}

typedef void (*ev_fn)(void *ctx, const w3s_event *ev);

/* One turn of a host event loop over one or two w3s loops, the way a host
 * with its own poller runs it: wait up to wait_ms for either loop's fd to
 * turn readable, then take what is pending from both without waiting. The
 * fds are level-triggered and readable while queued output can be flushed,
 * so this also flushes; and since both loops are polled after the wait
 * whatever the fds said, a wrong fd costs time here, never a hang. */
static int pump2(int64_t la, int64_t lb, int wait_ms, ev_fn fn, void *ctx) {
    struct pollfd pf[2];
    int64_t loops[2] = {la, lb};
    int nl = (lb > 0 && lb != la) ? 2 : 1;
    for (int l = 0; l < nl; l++) {
        pf[l].fd = w3s_loop_fd(loops[l]);
        pf[l].events = POLLIN;
        pf[l].revents = 0;
    }
    if (wait_ms != 0) poll(pf, (nfds_t)nl, wait_ms);
    w3s_event evs[64];
    for (int l = 0; l < nl; l++) {
        for (int round = 0; round < 8; round++) {
            int n = w3s_loop_poll(loops[l], evs, 64, 0);
            if (n < 0) return -1;
            for (int i = 0; i < n; i++) fn(ctx, &evs[i]);
            if (n < 64) break;
        }
    }
    return 0;
}

/* What one socket of a pair saw: the generated stream it receives (checked
 * byte by byte and summed) and its other events. */
typedef struct side {
    int64_t h;
    uint32_t seed;     /* stream this socket receives */
    uint64_t got;      /* bytes received */
    uint64_t progress; /* atomic copy of got, for other threads */
    uint32_t sum;      /* FNV-1a of what was received */
    int bad;           /* content mismatch seen */
    uint64_t bad_at;
    int data_events, ends, closes, errors, drains, unexpected, data_after_end;
    int32_t err_code, close_code;
    int strict, violations;   /* part 3: DATA while strict is a violation */
    int check_ud, ud_bad;     /* part 5: every event must carry want_ud */
    uint64_t want_ud, ud_seen;
    int close_on_end, close_bad; /* w3s_close on END (OK, or EBADF if CLOSE came with it) */
} side;

static void side_init(side *s, int64_t h, uint32_t seed) {
    memset(s, 0, sizeof *s);
    s->h = h;
    s->seed = seed;
    s->sum = FNV0;
}

static void side_data(side *s, const uint8_t *p, size_t n) {
    size_t k = gen_bad(s->seed, s->got, p, n);
    if (k < n && !s->bad) {
        s->bad = 1;
        s->bad_at = s->got + k;
        printf("# socket %lld: byte %llu differs from what was sent\n", (long long)s->h,
               (unsigned long long)s->bad_at);
    }
    s->sum = fnv1a(s->sum, p, n);
    s->got += n;
    STORE(&s->progress, s->got);
}

static void side_event(side *s, const w3s_event *ev) {
    if (s->check_ud && ev->user_data != s->want_ud) {
        if (!s->ud_bad)
            printf("# socket %lld: %s carries user_data %#llx, want %#llx\n", (long long)s->h,
                   ev_name(ev->type), (unsigned long long)ev->user_data, (unsigned long long)s->want_ud);
        s->ud_bad++;
        s->ud_seen = ev->user_data;
    }
    switch (ev->type) {
    case W3S_EV_DATA:
        s->data_events++;
        if (s->strict) s->violations++;
        if (s->ends) s->data_after_end++;
        side_data(s, ev->data, ev->len);
        break;
    case W3S_EV_END:
        s->ends++;
        if (s->close_on_end) {
            int rc = w3s_close(s->h);
            if (rc != W3S_OK && rc != W3S_EBADF) s->close_bad++;
        }
        break;
    case W3S_EV_DRAIN:
        s->drains++;
        break;
    case W3S_EV_ERROR:
        s->errors++;
        s->err_code = ev->error;
        printf("# socket %lld: ERROR %s: %s\n", (long long)s->h, w3s_err_name(ev->error), (const char *)ev->data);
        break;
    case W3S_EV_CLOSE:
        s->closes++;
        s->close_code = ev->error;
        break;
    default:
        s->unexpected++;
        printf("# socket %lld: unexpected %s\n", (long long)s->h, ev_name(ev->type));
    }
}

/* Both sockets of a pair; events of the listener are ignored. */
typedef struct duo {
    int64_t srv;
    side s[2]; /* 0: the client c, 1: the accepted a */
    int other;
} duo;

static void duo_event(void *ctx, const w3s_event *ev) {
    duo *d = ctx;
    for (int i = 0; i < 2; i++)
        if (ev->handle == d->s[i].h) {
            side_event(&d->s[i], ev);
            return;
        }
    if (ev->handle != d->srv) d->other++;
}

/* Sends the next n bytes of a generated stream. */
typedef struct stream_tx {
    int64_t h;
    uint32_t seed;
    uint64_t sent;
    uint32_t sum;
    int fails;
    int64_t last_rc, max_rc;
} stream_tx;

static void stx_init(stream_tx *t, int64_t h, uint32_t seed) {
    memset(t, 0, sizeof *t);
    t->h = h;
    t->seed = seed;
    t->sum = FNV0;
}

static int64_t stx_send(stream_tx *t, size_t n) {
    uint8_t *b = malloc(n ? n : 1);
    if (!b) return W3S_ENOMEM;
    gen_fill(t->seed, t->sent, b, n);
    int64_t rc = w3s_send(t->h, b, n);
    if (rc >= 0) {
        t->sum = fnv1a(t->sum, b, n);
        t->sent += n;
        if (rc > t->max_rc) t->max_rc = rc;
    } else {
        t->fails++;
        printf("# send of %zu bytes on %lld: %s\n", n, (long long)t->h, w3s_err_name((int)rc));
    }
    free(b);
    t->last_rc = rc;
    return rc;
}

/* Pumps loops la/lb until *v >= want or secs pass. */
static int pump_until(int64_t la, int64_t lb, duo *d, const uint64_t *v, uint64_t want, double secs) {
    double end = t_now() + secs;
    while (*v < want && t_now() < end) pump2(la, lb, 10, duo_event, d);
    return *v >= want;
}
static int pump_until_int(int64_t la, int64_t lb, duo *d, const int *v, int want, double secs) {
    double end = t_now() + secs;
    while (*v < want && t_now() < end) pump2(la, lb, 10, duo_event, d);
    return *v >= want;
}

/* A thread that polls one loop (timeout 20 ms) until told to stop, and
 * records the events of one socket in a side (with close_on_end as set). */
typedef struct pumper {
    int64_t loop;
    side s;
    pthread_mutex_t mu; /* guards s while the thread runs */
    int stop, others, poll_err;
    pthread_t th;
} pumper;

static void *pumper_main(void *arg) {
    pumper *p = arg;
    w3s_event evs[64];
    while (!LOAD(&p->stop)) {
        int n = w3s_loop_poll(p->loop, evs, 64, 20);
        if (n < 0) {
            STORE(&p->poll_err, n);
            break;
        }
        pthread_mutex_lock(&p->mu);
        for (int i = 0; i < n; i++) {
            if (evs[i].handle == p->s.h) side_event(&p->s, &evs[i]);
            else p->others++;
        }
        pthread_mutex_unlock(&p->mu);
    }
    return NULL;
}

static void pumper_start(pumper *p, int64_t loop, int64_t h, uint32_t seed, int close_on_end) {
    memset(p, 0, sizeof *p);
    p->loop = loop;
    side_init(&p->s, h, seed);
    p->s.close_on_end = close_on_end;
    pthread_mutex_init(&p->mu, NULL);
    MUST(pthread_create(&p->th, NULL, pumper_main, p) == 0, "pump thread started");
}

static int pumper_closes(pumper *p) {
    pthread_mutex_lock(&p->mu);
    int n = p->s.closes;
    pthread_mutex_unlock(&p->mu);
    return n;
}

static int pumper_wait_close(pumper *p, double secs) {
    double end = t_now() + secs;
    while (pumper_closes(p) < 1 && t_now() < end) sleep_ms(1);
    return pumper_closes(p) >= 1;
}

static void pumper_stop(pumper *p) {
    STORE(&p->stop, 1);
    w3s_loop_wake(p->loop);
    pthread_join(p->th, NULL); /* bounded: the thread polls with a 20 ms timeout */
    pthread_mutex_destroy(&p->mu);
}

/* Polls loop la (and lb) until both sockets of d have had their CLOSE. */
static int wait_closed(int64_t la, int64_t lb, duo *d, double secs) {
    double end = t_now() + secs;
    while ((d->s[0].closes < 1 || d->s[1].closes < 1) && t_now() < end) pump2(la, lb, 10, duo_event, d);
    return d->s[0].closes >= 1 && d->s[1].closes >= 1;
}

/* ------------------------------------------------------------ part 1 */
/* Records from several threads on one socket.
 *
 * P1_THREADS threads call w3s_send on the SAME socket at once, each sending
 * records of 1 byte to 256 KiB (header: magic, length, thread, sequence;
 * generated payload; FNV-1a trailer). The client's send buffer is small, so
 * most big records are partial writes whose tail is queued and flushed
 * later by the thread polling the client's loop (a fourth thread), while
 * the other threads go on sending. The main thread receives on its own
 * loop and parses the stream. Proves: each w3s_send is atomic in the byte
 * stream (no record inside another), per-thread order is kept, no byte is
 * lost or duplicated, and the queued tail of a partial write always goes
 * out before anything sent after it. */

#define P1_THREADS 3
#define REC_MAGIC 0x52454344u
#define REC_HDR 16
#define REC_TRAILER 4
#define REC_MAX (256 * 1024)

static uint32_t rec_seed(uint32_t t, uint32_t seq) { return (t + 1) * 0x01000193u ^ seq * 0x9E3779B9u; }

static size_t rec_len(uint64_t *rng, int seq) {
    uint64_t r = xs(rng);
    if (seq % 97 == 13) return REC_MAX; /* exactly 256 KiB now and then */
    if (seq % 89 == 7) return 1;
    unsigned c = (unsigned)(r % 100);
    r >>= 8;
    if (c < 55) return 1 + r % 512;
    if (c < 80) return 512 + r % (16 * KiB);
    if (c < 95) return 16 * KiB + r % (112 * KiB);
    return 128 * KiB + r % (128 * KiB + 1);
}

static size_t rec_build(uint8_t *b, uint32_t t, uint32_t seq, size_t len) {
    uint32_t h[4] = {REC_MAGIC, (uint32_t)len, t, seq};
    memcpy(b, h, sizeof h);
    gen_fill(rec_seed(t, seq), 0, b + REC_HDR, len);
    uint32_t sum = fnv1a(FNV0, b, REC_HDR + len);
    memcpy(b + REC_HDR + len, &sum, 4);
    return REC_HDR + len + REC_TRAILER;
}

typedef struct p1_sender {
    int64_t h;
    uint32_t id;
    int nrec;
    pthread_barrier_t *start;
    uint64_t bytes;
    int sent, queued, fails, done;
    int64_t first_err, max_buffered;
    pthread_t th;
} p1_sender;

static void *p1_sender_main(void *arg) {
    p1_sender *s = arg;
    uint8_t *buf = malloc(REC_HDR + REC_MAX + REC_TRAILER);
    uint64_t rng = 0x9E3779B97F4A7C15ull * (s->id + 1);
    double deadline = t_now() + 30;
    pthread_barrier_wait(s->start);
    for (int seq = 0; buf && seq < s->nrec; seq++) {
        size_t n = rec_build(buf, s->id, (uint32_t)seq, rec_len(&rng, seq));
        int64_t rc = w3s_send(s->h, buf, n);
        if (rc < 0) {
            s->fails++;
            s->first_err = rc;
            break;
        }
        s->sent++;
        s->bytes += n;
        if (rc > 0) s->queued++;
        if (rc > s->max_buffered) s->max_buffered = rc;
        /* With a lot queued, wait until it drains below 1 MiB, as a host
         * waits for DRAIN: bounds memory and lets the others go first. */
        if (rc > (int64_t)(4 * MiB)) {
            do sleep_ms(1);
            while (buffered_of(s->h) > (int64_t)MiB && t_now() < deadline);
        }
    }
    free(buf);
    STORE(&s->done, 1);
    return NULL;
}

typedef struct recv_records {
    uint8_t *buf;
    size_t len, cap, off;
    uint32_t next_seq[P1_THREADS];
    uint64_t bytes, records;
    int broken;
} recv_records;

static void rr_broken(recv_records *r, const char *what, const uint32_t *h) {
    r->broken = 1;
    printf("# stream broken at byte %llu: %s (magic %#x len %u thread %u seq %u)\n",
           (unsigned long long)(r->bytes - (r->len - r->off)), what, h[0], h[1], h[2], h[3]);
}

static void rr_feed(recv_records *r, const uint8_t *p, size_t n) {
    r->bytes += n;
    if (r->broken) return;
    if (r->len + n > r->cap) {
        if (r->buf != NULL) memmove(r->buf, r->buf + r->off, r->len - r->off);
        r->len -= r->off;
        r->off = 0;
        if (r->len + n > r->cap) {
            size_t cap = (r->len + n) * 2;
            uint8_t *nb = realloc(r->buf, cap);
            MUST(nb != NULL, "receive buffer of %zu bytes", cap);
            r->buf = nb;
            r->cap = cap;
        }
    }
    memcpy(r->buf + r->len, p, n);
    r->len += n;
    for (;;) {
        size_t avail = r->len - r->off;
        if (avail < REC_HDR) break;
        const uint8_t *rec = r->buf + r->off;
        uint32_t h[4];
        memcpy(h, rec, sizeof h);
        if (h[0] != REC_MAGIC || h[1] == 0 || h[1] > REC_MAX || h[2] >= P1_THREADS) {
            rr_broken(r, "bad record header", h);
            return;
        }
        size_t total = REC_HDR + h[1] + REC_TRAILER;
        if (avail < total) break;
        uint32_t sum;
        memcpy(&sum, rec + REC_HDR + h[1], 4);
        if (sum != fnv1a(FNV0, rec, REC_HDR + h[1])) {
            rr_broken(r, "checksum mismatch", h);
            return;
        }
        if (h[3] != r->next_seq[h[2]]) {
            rr_broken(r, "sequence out of order", h);
            return;
        }
        if (gen_bad(rec_seed(h[2], h[3]), 0, rec + REC_HDR, h[1]) != h[1]) {
            rr_broken(r, "payload is not what was sent", h);
            return;
        }
        r->next_seq[h[2]]++;
        r->records++;
        r->off += total;
    }
    if (r->off == r->len) r->off = r->len = 0;
}

static void test_threaded_senders(void) {
    printf("# part 1: records from %d threads on one socket\n", P1_THREADS);
    double t0 = t_now();
    bench b_ = open_bench(0);
    int64_t ls = b_.ls, lr = b_.lr, srv = b_.srv;
    /* Small, so big records are partial writes. (Not 32 KiB: with a send
     * buffer smaller than the loopback MTU the kernel waits for delayed
     * ACKs and plain sockets crawl at ~2 MB/s too.) */
    pair p;
    REQUIRE(connect_pair(&b_, 64 * 1024, &p), "connected pair");

    pumper pm; /* flushes the client's queued output */
    pumper_start(&pm, ls, p.c, 0, 0);
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, P1_THREADS);
    p1_sender snd[P1_THREADS];
    int nrec = (int)sc(350, 20);
    for (int t = 0; t < P1_THREADS; t++) {
        memset(&snd[t], 0, sizeof snd[t]);
        snd[t].h = p.c;
        snd[t].id = (uint32_t)t;
        snd[t].nrec = nrec;
        snd[t].start = &bar;
        REQUIRE(pthread_create(&snd[t].th, NULL, p1_sender_main, &snd[t]) == 0, "sender thread %d", t);
    }

    recv_records rr;
    memset(&rr, 0, sizeof rr);
    int a_end = 0, a_err = 0, a_close = 0, data_after_end = 0, other = 0;
    uint64_t expected = 0;
    int senders_done = 0;
    w3s_event evs[64];
    double end = t_now() + 40; /* the senders give up after 30 s */
    for (;;) {
        if (!senders_done) {
            int k = 0;
            for (int t = 0; t < P1_THREADS; t++) k += LOAD(&snd[t].done);
            if (k == P1_THREADS) {
                senders_done = 1;
                for (int t = 0; t < P1_THREADS; t++) {
                    pthread_join(snd[t].th, NULL);
                    expected += snd[t].bytes;
                }
            }
        }
        if ((senders_done && (rr.bytes >= expected || rr.broken)) || t_now() > end) break;
        int n = w3s_loop_poll(lr, evs, 64, 20);
        for (int i = 0; i < n; i++) {
            const w3s_event *ev = &evs[i];
            if (ev->handle == srv) continue;
            if (ev->handle != p.a) { other++; continue; }
            if (ev->type == W3S_EV_DATA) {
                if (a_end) data_after_end++;
                rr_feed(&rr, ev->data, ev->len);
            } else if (ev->type == W3S_EV_END) a_end++;
            else if (ev->type == W3S_EV_ERROR) a_err++;
            else if (ev->type == W3S_EV_CLOSE) a_close++;
            else other++;
        }
    }
    REQUIRE(senders_done, "sender threads finished");
    pthread_barrier_destroy(&bar);
    int fails = 0, queued = 0;
    int64_t max_buf = 0;
    for (int t = 0; t < P1_THREADS; t++) {
        fails += snd[t].fails;
        queued += snd[t].queued;
        if (snd[t].max_buffered > max_buf) max_buf = snd[t].max_buffered;
        if (snd[t].fails) printf("# thread %d: send failed with %s\n", t, w3s_err_name((int)snd[t].first_err));
    }
    CHECK(fails == 0, "%d threads x %d records: every w3s_send succeeded", P1_THREADS, nrec);
    CHECK(queued > 0, "partial writes were queued (%d sends left bytes buffered, up to %lld)", queued,
          (long long)max_buf);
    CHECK(!rr.broken && rr.records == (uint64_t)P1_THREADS * nrec,
          "%llu of %d records arrived whole, checksummed, none inside another",
          (unsigned long long)rr.records, P1_THREADS * nrec);
    int order_ok = 1;
    for (int t = 0; t < P1_THREADS; t++)
        if (rr.next_seq[t] != (uint32_t)nrec) order_ok = 0;
    CHECK(order_ok && !rr.broken, "each thread's records arrived in its order");
    CHECK(rr.bytes == expected, "bytes received %llu == bytes sent %llu", (unsigned long long)rr.bytes,
          (unsigned long long)expected);

    w3s_info ic, ia;
    int rc_c = get_info(p.c, &ic), rc_a = get_info(p.a, &ia);
    CHECK(rc_c == 0 && ic.bytes_sent == expected && ic.buffered_amount == 0,
          "sender: bytes_sent %llu, buffered %lld", (unsigned long long)ic.bytes_sent, (long long)ic.buffered_amount);
    CHECK(rc_a == 0 && ia.bytes_received == expected, "receiver: bytes_received %llu",
          (unsigned long long)ia.bytes_received);

    /* Graceful close of the sender: END after the last byte. */
    CHECK_CODE(w3s_close(p.c), W3S_OK);
    uint64_t before_end = rr.bytes;
    end = t_now() + 10;
    while (!a_end && !a_err && t_now() < end) {
        int n = w3s_loop_poll(lr, evs, 64, 20);
        for (int i = 0; i < n; i++) {
            const w3s_event *ev = &evs[i];
            if (ev->handle != p.a) continue;
            if (ev->type == W3S_EV_DATA) {
                if (a_end) data_after_end++;
                rr_feed(&rr, ev->data, ev->len);
            } else if (ev->type == W3S_EV_END) a_end++;
            else if (ev->type == W3S_EV_ERROR) a_err++;
            else if (ev->type == W3S_EV_CLOSE) a_close++;
        }
    }
    CHECK(a_end == 1 && data_after_end == 0 && rr.bytes == before_end, "receiver: END once, no data after it");
    CHECK_CODE(w3s_close(p.a), W3S_OK);
    end = t_now() + 10;
    while (!a_close && t_now() < end) {
        int n = w3s_loop_poll(lr, evs, 64, 20);
        for (int i = 0; i < n; i++)
            if (evs[i].handle == p.a && evs[i].type == W3S_EV_CLOSE) a_close++;
    }
    CHECK(a_close == 1 && a_err == 0 && other == 0, "receiver closed without error (%d other events)", other);
    CHECK(pumper_wait_close(&pm, 10), "sender's CLOSE seen by the polling thread");
    pumper_stop(&pm);
    CHECK(pm.poll_err == 0 && pm.s.errors == 0 && pm.s.data_events == 0 && pm.s.unexpected == 0 && pm.others == 0,
          "sender's loop: no error, no stray event");
    if (max_buf >= (int64_t)MiB)
        CHECK(pm.s.drains >= 1, "DRAIN after the buffer passed the high-water mark (%d)", pm.s.drains);
    free(rr.buf);
    w3s_close(srv);
    w3s_loop_close(ls);
    w3s_loop_close(lr);
    printf("# part 1: %.1f MB in %.2f s\n", expected / 1e6, t_now() - t0);
}

/* ------------------------------------------------------------ part 2 */
/* Ping-pong on one thread: both sockets on one loop, the same thread polls
 * and sends (the common fast path: a send goes straight to the kernel and
 * the reply is read by the next poll). Messages are 8..264 bytes:
 * [u16 length][u16 kind][u32 seq][payload]; the server answers each request
 * with a reply whose payload it generates itself, so an echo of stale or
 * misplaced bytes cannot pass. First strictly one message in flight, then
 * bursts of 16. Proves: no message lost, duplicated, reordered or
 * corrupted across many thousands of poll/send cycles, and the byte
 * counters agree with what went over the wire. */

#define PP_BUF 8192
#define PP_REQ 1
#define PP_REP 2

typedef struct pingpong {
    int64_t srv, c, a;
    uint8_t cb[PP_BUF], ab[PP_BUF];
    size_t cl, al;
    uint32_t req_next, rep_next, sent, target;
    int burst;
    uint64_t req_bytes, rep_bytes;
    int bad, errors, unexpected;
} pingpong;

static size_t pp_len(uint32_t seq) { return 8 + (seq * 7919u) % 257; }
static uint32_t pp_seed(uint16_t kind, uint32_t seq) { return seq * 0x2545F491u ^ kind * 0x9E3779B9u; }

static size_t pp_build(uint8_t *b, uint16_t kind, uint32_t seq) {
    size_t n = pp_len(seq);
    uint16_t l = (uint16_t)n;
    memcpy(b, &l, 2);
    memcpy(b + 2, &kind, 2);
    memcpy(b + 4, &seq, 4);
    gen_fill(pp_seed(kind, seq), 0, b + 8, n - 8);
    return n;
}

static void pp_send(pingpong *pp, int64_t h, uint16_t kind, uint32_t seq) {
    uint8_t b[300];
    size_t n = pp_build(b, kind, seq);
    int64_t rc = w3s_send(h, b, n);
    if (rc < 0) {
        if (pp->errors++ < 3) printf("# ping-pong send: %s\n", w3s_err_name((int)rc));
        return;
    }
    if (kind == PP_REQ) pp->req_bytes += n;
    else pp->rep_bytes += n;
}

static void pp_next_batch(pingpong *pp) {
    for (int i = 0; i < pp->burst && pp->sent < pp->target; i++) pp_send(pp, pp->c, PP_REQ, pp->sent++);
}

/* Takes whole messages from buf; kind is what this side expects. */
static void pp_parse(pingpong *pp, uint8_t *buf, size_t *len, uint16_t kind) {
    size_t off = 0;
    while (*len - off >= 8) {
        uint16_t l, k;
        uint32_t seq;
        memcpy(&l, buf + off, 2);
        memcpy(&k, buf + off + 2, 2);
        memcpy(&seq, buf + off + 4, 4);
        if (l < 8 || l > 264) {
            if (pp->bad++ < 3) printf("# ping-pong: bad length %u\n", l);
            *len = 0;
            return;
        }
        if (*len - off < l) break;
        uint32_t *next = kind == PP_REQ ? &pp->req_next : &pp->rep_next;
        if (k != kind || seq != *next || l != pp_len(seq) ||
            gen_bad(pp_seed(kind, seq), 0, buf + off + 8, (size_t)l - 8) != (size_t)l - 8) {
            if (pp->bad++ < 3)
                printf("# ping-pong: got kind %u seq %u len %u, want kind %u seq %u\n", k, seq, l, kind, *next);
        }
        (*next)++;
        off += l;
        if (kind == PP_REQ) pp_send(pp, pp->a, PP_REP, seq);
        else if (pp->rep_next == pp->sent) pp_next_batch(pp);
    }
    memmove(buf, buf + off, *len - off);
    *len -= off;
}

static void pp_feed(pingpong *pp, uint8_t *buf, size_t *len, const w3s_event *ev, uint16_t kind) {
    if (*len + ev->len > PP_BUF) {
        if (pp->bad++ < 3) printf("# ping-pong: %llu bytes pending, more than ever sent\n",
                                  (unsigned long long)(*len + ev->len));
        *len = 0;
        return;
    }
    memcpy(buf + *len, ev->data, ev->len);
    *len += ev->len;
    pp_parse(pp, buf, len, kind);
}

static void test_ping_pong(void) {
    printf("# part 2: ping-pong on one thread\n");
    double t0 = t_now();
    int64_t loop = w3s_loop_new();
    int64_t srv = listen_lo(loop, LISTENER_UD, 0);
    REQUIRE(loop > 0 && srv > 0, "loop and listener");
    pair p;
    REQUIRE(make_pair(loop, loop, srv, NULL, 1, 2, 1, &p), "connected pair");
    static pingpong pp;
    memset(&pp, 0, sizeof pp);
    pp.srv = srv;
    pp.c = p.c;
    pp.a = p.a;
    uint32_t single = (uint32_t)sc(20000, 200), bursts = (uint32_t)sc(600, 10);
    w3s_event evs[64];
    for (int phase = 0; phase < 2; phase++) {
        pp.burst = phase == 0 ? 1 : 16;
        pp.target += phase == 0 ? single : bursts * 16;
        uint32_t done0 = pp.rep_next;
        double ts = t_now(), end = ts + 60;
        pp_next_batch(&pp);
        while (pp.rep_next < pp.target && !pp.errors && pp.bad < 3 && t_now() < end) {
            int n = w3s_loop_poll(loop, evs, 64, 100);
            if (n < 0) {
                pp.errors++;
                break;
            }
            for (int i = 0; i < n; i++) {
                const w3s_event *ev = &evs[i];
                if (ev->type == W3S_EV_DATA && ev->handle == pp.c) pp_feed(&pp, pp.cb, &pp.cl, ev, PP_REP);
                else if (ev->type == W3S_EV_DATA && ev->handle == pp.a) pp_feed(&pp, pp.ab, &pp.al, ev, PP_REQ);
                else if (ev->type == W3S_EV_ERROR) pp.errors++;
                else pp.unexpected++;
            }
        }
        uint32_t done = pp.rep_next - done0;
        CHECK(pp.rep_next == pp.target && pp.req_next == pp.target && pp.bad == 0,
              "%s: %u replies of %u, in order and intact (%d bad)", phase == 0 ? "one in flight" : "bursts of 16",
              done, pp.target - done0, pp.bad);
        printf("# %u round trips in %.2f s\n", done, t_now() - ts);
    }
    CHECK(pp.errors == 0 && pp.unexpected == 0, "no error, no unexpected event (%d, %d)", pp.errors, pp.unexpected);
    w3s_info ic, ia;
    int ok = get_info(p.c, &ic) == 0 && get_info(p.a, &ia) == 0;
    CHECK(ok && ic.bytes_sent == pp.req_bytes && ia.bytes_received == pp.req_bytes,
          "requests: %llu bytes; client bytes_sent %llu, server bytes_received %llu",
          (unsigned long long)pp.req_bytes, (unsigned long long)ic.bytes_sent, (unsigned long long)ia.bytes_received);
    CHECK(ok && ia.bytes_sent == pp.rep_bytes && ic.bytes_received == pp.rep_bytes,
          "replies: %llu bytes; server bytes_sent %llu, client bytes_received %llu",
          (unsigned long long)pp.rep_bytes, (unsigned long long)ia.bytes_sent, (unsigned long long)ic.bytes_received);
    duo d;
    memset(&d, 0, sizeof d);
    d.srv = srv;
    side_init(&d.s[0], p.c, 0);
    side_init(&d.s[1], p.a, 0);
    d.s[1].close_on_end = 1;
    CHECK_CODE(w3s_close(p.c), W3S_OK);
    CHECK(wait_closed(loop, 0, &d, 10) && d.s[1].ends == 1 && d.s[0].errors + d.s[1].errors == 0,
          "both closed after the client's close");
    w3s_close(srv);
    w3s_loop_close(loop);
    printf("# part 2: %.2f s\n", t_now() - t0);
}

/* ------------------------------------------------------------ part 3 */
/* A paused receiver. The receiver pauses while ~20 MB are on their way
 * (both ends get a fixed 256 KiB socket buffer, so the kernels hold about
 * 1 MiB of it and the rest stays queued at the sender). Proves:
 *  - once w3s_pause() has returned, no poll started afterwards returns DATA
 *    for the socket, and the library reads nothing more from the kernel
 *    (bytes_received stands still); TCP flow control holds the sender back;
 *  - the same when another thread pauses while this one is polling: only
 *    a poll already running when pause returned may still carry DATA;
 *  - after w3s_resume() every byte arrives, in order (checked byte by byte
 *    and with a running checksum); pause and resume are idempotent.
 * "No DATA at all" is right for this loop: in poll mode the header has a
 * plain TCP socket read by w3s_loop_poll() itself, so no data read before
 * the pause can be waiting in the queue. */

typedef struct pauser {
    int64_t h;
    const uint64_t *progress;
    uint64_t at;
    int rc, done;
} pauser;

static void *pauser_main(void *arg) {
    pauser *z = arg;
    double end = t_now() + 30;
    while (LOAD(z->progress) < z->at && t_now() < end) sleep_us(200);
    z->rc = w3s_pause(z->h);
    STORE(&z->done, 1); /* after pause returned */
    return NULL;
}

static void test_pause(void) {
    printf("# part 3: paused receiver\n");
    double t0 = t_now();
    bench b_ = open_bench(256 * 1024);
    int64_t ls = b_.ls, lr = b_.lr, srv = b_.srv;
    pair p;
    REQUIRE(connect_pair(&b_, 256 * 1024, &p), "connected pair");
    duo d;
    memset(&d, 0, sizeof d);
    d.srv = srv;
    side_init(&d.s[0], p.c, 0);
    side_init(&d.s[1], p.a, 0x3001);
    side *ra = &d.s[1];
    stream_tx tx;
    stx_init(&tx, p.c, 0x3001);
    uint64_t total = (uint64_t)sc(20, 6) * MiB;

    for (int i = 0; i < 4; i++) stx_send(&tx, 256 * KiB);
    CHECK(pump_until(ls, lr, &d, &ra->got, 256 * KiB, 10), "data flows before the pause (%llu bytes)",
          (unsigned long long)ra->got);

    /* Pause from the polling thread, between polls. */
    CHECK_CODE(w3s_pause(p.a), W3S_OK);
    w3s_info in;
    get_info(p.a, &in);
    uint64_t kernel0 = in.bytes_received;
    CHECK(in.paused == 1, "info.paused is set");
    ra->strict = 1;
    while (tx.sent < total && !tx.fails) stx_send(&tx, (size_t)(total - tx.sent < 256 * KiB ? total - tx.sent : 256 * KiB));
    CHECK(tx.fails == 0, "%llu MB queued while the receiver is paused", (unsigned long long)(total / MiB));
    CHECK_CODE(w3s_pause(p.a), W3S_OK); /* idempotent */
    int polls = 0;
    for (double until = t_now() + 0.5; t_now() < until; polls++) pump2(ls, lr, 10, duo_event, &d);
    CHECK(ra->violations == 0, "no DATA in %d poll rounds after w3s_pause returned (%d)", polls, ra->violations);
    get_info(p.a, &in);
    CHECK(in.bytes_received == kernel0 && in.paused == 1, "nothing read from the kernel while paused (%llu -> %llu)",
          (unsigned long long)kernel0, (unsigned long long)in.bytes_received);
    int64_t held = buffered_of(p.c);
    CHECK(held > 0, "flow control holds the sender back: %lld bytes still queued there", (long long)held);
    ra->strict = 0;
    CHECK_CODE(w3s_resume(p.a), W3S_OK);
    CHECK_CODE(w3s_resume(p.a), W3S_OK); /* idempotent */

    /* Another thread pauses halfway while this one keeps polling. */
    pauser z = {p.a, &ra->progress, ra->got + (total - ra->got) / 2, 0, 0};
    pthread_t zt;
    REQUIRE(pthread_create(&zt, NULL, pauser_main, &z) == 0, "pausing thread");
    int phase = 0, strict_polls = 0, resume_rc = 0;
    uint64_t kernel1 = 0, got_at_pause = 0;
    double strict_until = 0, end = t_now() + 30;
    /* (until resumed too: should the pausing thread only run after the
     * last byte arrived, the round still ends right, just proving less) */
    while ((ra->got < total || phase != 2) && !ra->bad && t_now() < end) {
        if (phase == 0 && LOAD(&z.done)) {
            /* pause has returned: from this poll on no DATA may come */
            phase = 1;
            got_at_pause = ra->got;
            ra->strict = 1;
            strict_until = t_now() + 0.3;
            get_info(p.a, &in);
            kernel1 = in.bytes_received;
        }
        pump2(ls, lr, 10, duo_event, &d);
        if (phase == 1) {
            strict_polls++;
            if (t_now() > strict_until) {
                get_info(p.a, &in);
                if (in.bytes_received != kernel1) ra->violations++;
                ra->strict = 0;
                resume_rc = w3s_resume(p.a);
                phase = 2;
            }
        }
    }
    pthread_join(zt, NULL); /* bounded: it waits 30 s at most */
    CHECK(z.rc == W3S_OK && phase == 2 && resume_rc == W3S_OK,
          "paused by another thread and resumed (at byte %llu of %llu)", (unsigned long long)got_at_pause,
          (unsigned long long)total);
    CHECK(ra->violations == 0, "no DATA in %d poll rounds after the other thread's pause returned", strict_polls);
    CHECK(ra->got == total && !ra->bad && ra->sum == tx.sum,
          "all %llu bytes arrived in order after resume (checksum %08x == %08x)", (unsigned long long)ra->got,
          ra->sum, tx.sum);
    w3s_info ia, ic;
    int ok = get_info(p.a, &ia) == 0 && get_info(p.c, &ic) == 0;
    CHECK(ok && ia.bytes_received == total && ic.bytes_sent == total && ic.buffered_amount == 0 && ia.paused == 0,
          "counters: received %llu, sent %llu", (unsigned long long)ia.bytes_received,
          (unsigned long long)ic.bytes_sent);
    ra->close_on_end = 1;
    CHECK_CODE(w3s_close(p.c), W3S_OK);
    CHECK(wait_closed(ls, lr, &d, 10) && ra->ends == 1 && d.s[0].errors + ra->errors == 0 && d.other == 0,
          "both closed, no error");
    w3s_close(srv);
    w3s_loop_close(ls);
    w3s_loop_close(lr);
    printf("# part 3: %.2f s\n", t_now() - t0);
}

/* ------------------------------------------------------------ part 4 */
/* Close and abort racing a sending thread. Each round connects a pair; a
 * thread sends short chunks (1..48 bytes of a generated stream; in every
 * other round each 16th send is 64..128 KiB, so that the client, which has
 * a small send buffer, often has bytes queued when it is closed) in a loop
 * while, after k of them (k random, 0..64), the socket is closed: by a
 * third thread or by the polling thread; gracefully, by w3s_abort, or by
 * aborting the PEER (so the sender's socket dies of a reset). The main
 * thread polls both loops all along. Proves:
 *  - w3s_send returns >= 0, W3S_ESTATE or W3S_EBADF, never anything else,
 *    never crashes or hangs, and never succeeds again after it failed; a
 *    send right after w3s_close/w3s_abort returned fails with W3S_ESTATE
 *    (or W3S_EBADF if the poller has delivered the CLOSE meanwhile). After
 *    the PEER's reset, sends may go on succeeding (queued) until the
 *    polling thread meets the error: the header allows that;
 *  - the close/abort takes effect (and its call returns) while the other
 *    thread goes on sending flat out: it must not wait for the sender to
 *    stop (the sender gives up only after 5,000,000 sends or 5 s). How
 *    many sends the other thread made during the longest call is printed
 *    for information, not checked: it depends on the scheduler;
 *  - exactly one CLOSE per socket; abort and graceful close emit no ERROR;
 *  - graceful close delivers exactly the bytes of the sends that returned
 *    >= 0 (queued ones too), then END; an abort delivers a prefix of them;
 *  - afterwards w3s_stats counts as many sockets as before the rounds. */

enum { R_CLOSE, R_ABORT, R_PEER_ABORT };
static const char *race_what[] = {"w3s_close", "w3s_abort", "peer's w3s_abort"};

typedef struct race {
    int64_t c, a;
    int what, threaded, k, bigs;
    uint32_t seed;
    /* sender thread */
    int sends_ok, sender_done, errs, bad_code, ok_after_err, gave_up;
    int64_t first_err, first_bad, buffered; /* buffered: last successful send's result */
    uint64_t bytes_ok;
    /* closer */
    int acted, act_rc, probe_rc, closer_done;
    int sends_at_act, sends_at_return; /* sends_ok when the call began / returned */
    double call_s;                     /* how long the close/abort call took */
    /* main thread */
    uint64_t rx;
    int rx_bad, a_end, a_err, a_close, c_end, c_err, c_close, unexpected, close_bad;
    int32_t a_err_code, c_err_code, c_close_code;
} race;

static void *race_sender(void *arg) {
    race *r = arg;
    uint8_t *buf = malloc(128 * KiB);
    uint64_t rng = r->seed | 1;
    double end = t_now() + 5;
    for (int i = 0; buf; i++) {
        /* Flat out until a send fails (the close must take effect while
         * this goes on); the guard only stops a round whose close or abort
         * never takes effect: 5,000,000 sends or 5 s. */
        if (i >= 5000000 || ((i & 1023) == 0 && t_now() > end)) {
            r->gave_up = 1;
            break;
        }
        size_t n = 1 + xs(&rng) % 48;
        if (r->bigs && i % 16 == 15) n = 64 * KiB + xs(&rng) % (64 * KiB);
        gen_fill(r->seed, r->bytes_ok, buf, n);
        int64_t rc = w3s_send(r->c, buf, n);
        if (rc >= 0) {
            if (r->errs) r->ok_after_err++;
            r->buffered = rc;
            r->bytes_ok += n;
            ADD(&r->sends_ok, 1);
            continue;
        }
        if (rc != W3S_ESTATE && rc != W3S_EBADF && !r->bad_code++) r->first_bad = rc;
        if (!r->errs++) r->first_err = rc;
        if (r->errs >= 16) break;
    }
    free(buf);
    STORE(&r->sender_done, 1);
    return NULL;
}

/* Closes as the round says, then probes: a send on the closed socket must
 * fail with W3S_ESTATE (closing/closed) at once; from another thread than
 * the poller it may also be W3S_EBADF (CLOSE already delivered). */
static int race_act(race *r) {
    int64_t h = r->what == R_PEER_ABORT ? r->a : r->c;
    r->sends_at_act = LOAD(&r->sends_ok);
    double t0 = t_now();
    int rc = r->what == R_CLOSE ? w3s_close(h) : w3s_abort(h);
    r->call_s = t_now() - t0;
    r->sends_at_return = LOAD(&r->sends_ok);
    r->probe_rc = (int)w3s_send(h, "probe", 5);
    return rc;
}

static void *race_closer(void *arg) {
    race *r = arg;
    double end = t_now() + 10;
    while (LOAD(&r->sends_ok) < r->k && !LOAD(&r->sender_done) && t_now() < end) sleep_us(20);
    r->act_rc = race_act(r);
    STORE(&r->closer_done, 1);
    return NULL;
}

static void race_event(void *ctx, const w3s_event *ev) {
    race *r = ctx;
    if (ev->handle == r->a) {
        switch (ev->type) {
        case W3S_EV_DATA:
            if (gen_bad(r->seed, r->rx, ev->data, ev->len) != ev->len) r->rx_bad++;
            r->rx += ev->len;
            break;
        case W3S_EV_END: {
            r->a_end++;
            int rc = w3s_close(r->a);
            if (rc != W3S_OK) r->close_bad++;
            break;
        }
        case W3S_EV_ERROR: r->a_err++; r->a_err_code = ev->error; break;
        case W3S_EV_CLOSE: r->a_close++; break;
        default: r->unexpected++;
        }
    } else if (ev->handle == r->c) {
        switch (ev->type) {
        case W3S_EV_DRAIN: break;
        case W3S_EV_END:
            /* a reset should not look like a FIN, but END then a close is
             * a correct way to end too */
            r->c_end++;
            if (r->what != R_PEER_ABORT) r->unexpected++;
            else {
                int rc = w3s_close(r->c);
                if (rc != W3S_OK && rc != W3S_EBADF) r->close_bad++;
            }
            break;
        case W3S_EV_ERROR: r->c_err++; r->c_err_code = ev->error; break;
        case W3S_EV_CLOSE: r->c_close++; r->c_close_code = ev->error; break;
        default: r->unexpected++;
        }
    } else if (ev->type != W3S_EV_OPEN) {
        r->unexpected++;
    }
}

/* Returns NULL if the round is right, else what is wrong. */
static const char *race_verdict(const race *r) {
    if (r->act_rc != W3S_OK) return "the close/abort call failed";
    if (r->probe_rc != W3S_ESTATE && (!r->threaded || r->probe_rc != W3S_EBADF))
        return "w3s_send right after the close/abort did not fail with W3S_ESTATE";
    if (r->bad_code) return "w3s_send returned an undocumented error";
    if (r->ok_after_err) return "w3s_send succeeded after it had failed";
    if (!r->errs)
        return r->gave_up ? "the close/abort did not take effect while another thread kept sending (the sender gave up)"
                          : "w3s_send never failed although the socket was closed";
    if (r->c_close != 1 || r->a_close != 1) return "not exactly one CLOSE per socket";
    if (r->rx_bad) return "received bytes differ from what was sent";
    if (r->unexpected || r->close_bad) return "unexpected event or w3s_close result";
    if (r->rx > r->bytes_ok) return "more bytes received than sends succeeded";
    switch (r->what) {
    case R_CLOSE:
        if (r->c_err || r->c_close_code) return "graceful close emitted an error";
        if (r->a_err || r->a_end != 1) return "the peer did not see exactly END after a graceful close";
        if (r->rx != r->bytes_ok) return "graceful close lost queued bytes";
        break;
    case R_ABORT:
        if (r->c_err || r->c_close_code) return "w3s_abort emitted an error";
        break;
    default:
        if (r->a_err || r->c_err > 1) return "an abort emitted an error, or more than one ERROR";
    }
    return NULL;
}

static void test_close_races(void) {
    printf("# part 4: close/abort racing a sending thread\n");
    double t0 = t_now();
    bench b_ = open_bench(0);
    int64_t ls = b_.ls, lr = b_.lr, srv = b_.srv;
    w3s_event evs[8];
    for (double end = t_now() + 1; t_now() < end && w3s_loop_poll(lr, evs, 8, 10) == 0;) {
    } /* the listener's OPEN */
    w3s_stats_t st0, st;
    st0.size = st.size = sizeof st0;
    w3s_stats(&st0);

    int rounds = (int)sc(360, 24), failed = 0, by_what[3] = {0, 0, 0}, errs_seen[3] = {0, 0, 0};
    int closed_queued = 0, max_late = 0, max_during = 0, max_after = 0, rounds_run = 0;
    double max_call = 0;
    int max_call_round = -1;
    w3s_tcp_options co;
    w3s_tcp_options_init(&co);
    co.send_buffer_size = 64 * 1024;
    uint64_t rng = 0xC105Eull;
    for (int i = 0; i < rounds; i++) {
        pair p;
        MUST(make_pair(ls, lr, srv, &co, 0, 0, 0, &p), "round %d: connected pair", i);
        race r;
        memset(&r, 0, sizeof r);
        r.c = p.c;
        r.a = p.a;
        r.what = i % 3;
        r.threaded = (i / 3) % 2 == 0;
        r.bigs = (i / 6) % 2 == 0;
        r.k = (int)(xs(&rng) % 65);
        r.seed = 0x40000000u + (uint32_t)i;
        pthread_t ts, tc;
        MUST(pthread_create(&ts, NULL, race_sender, &r) == 0, "sender thread");
        if (r.threaded) MUST(pthread_create(&tc, NULL, race_closer, &r) == 0, "closer thread");
        double end = t_now() + 15;
        while (t_now() < end) {
            if (!r.threaded && !r.acted && (LOAD(&r.sends_ok) >= r.k || LOAD(&r.sender_done))) {
                r.acted = 1;
                r.act_rc = race_act(&r);
                STORE(&r.closer_done, 1);
            }
            pump2(ls, lr, 2, race_event, &r);
            if (r.c_close && r.a_close && LOAD(&r.sender_done) && LOAD(&r.closer_done)) break;
        }
        if (!LOAD(&r.sender_done) || !LOAD(&r.closer_done)) {
            CHECK(0, "round %d (%s, %s): a thread is stuck in a w3s call", i, race_what[r.what],
                  r.threaded ? "other thread" : "polling thread");
            exit(t_done());
        }
        pthread_join(ts, NULL);
        if (r.threaded) pthread_join(tc, NULL);
        const char *why = race_verdict(&r);
        by_what[r.what]++;
        rounds_run++;
        if (r.errs) errs_seen[r.what]++;
        if (r.what == R_CLOSE && r.buffered > 0) closed_queued++;
        if (r.sends_at_act - r.k > max_late) max_late = r.sends_at_act - r.k;
        if (r.sends_at_return - r.sends_at_act > max_during) max_during = r.sends_at_return - r.sends_at_act;
        if (r.call_s > max_call) {
            max_call = r.call_s;
            max_call_round = i;
        }
        if (r.what != R_PEER_ABORT && r.sends_ok - r.sends_at_return > max_after) max_after = r.sends_ok - r.sends_at_return;
        if (why && failed++ < 5)
            printf("# round %d (%s by the %s, k=%d): %s [act %s, probe %s; sends ok %d, first error %s, bad %s; bytes %llu, "
                   "received %llu; client err %d (%s) close %d code %d end %d; peer end %d err %d (%s) close %d; sends when "
                   "the call began %d, when it returned %d]\n",
                   i, race_what[r.what], r.threaded ? "other thread" : "polling thread", r.k, why,
                   w3s_err_name(r.act_rc), rc_str(r.probe_rc), r.sends_ok, w3s_err_name((int)r.first_err),
                   r.bad_code ? w3s_err_name((int)r.first_bad) : "-", (unsigned long long)r.bytes_ok,
                   (unsigned long long)r.rx, r.c_err, w3s_err_name(r.c_err_code), r.c_close, r.c_close_code,
                   r.c_end, r.a_end, r.a_err, w3s_err_name(r.a_err_code), r.a_close, r.sends_at_act, r.sends_at_return);
        if (failed >= 3) {
            printf("# stopping part 4 after 3 wrong rounds\n");
            break;
        }
    }
    CHECK(failed == 0 && rounds_run == rounds, "%d rounds (%d w3s_close, %d w3s_abort, %d peer aborts; half from "
          "another thread): %d wrong", rounds_run, by_what[0], by_what[1], by_what[2], failed);
    CHECK(errs_seen[0] + errs_seen[1] + errs_seen[2] == rounds_run,
          "in every round w3s_send failed (ESTATE/EBADF) once the socket was closed");
    printf("# %d graceful closes came right after a send that left bytes queued\n", closed_queued);
    printf("# most sends by the sending thread: %d between reaching k and the close/abort call, %d during "
           "one, %d after one returned; the longest call took %.1f ms (round %d)\n", max_late, max_during,
           max_after, max_call * 1e3, max_call_round);
    double end = t_now() + 5;
    do {
        w3s_stats(&st);
        if (st.sockets == st0.sockets) break;
        sleep_ms(10);
    } while (t_now() < end);
    CHECK(st.sockets == st0.sockets, "w3s_stats: %lld sockets, as before the rounds (%lld)", (long long)st.sockets,
          (long long)st0.sockets);
    w3s_close(srv);
    w3s_loop_close(ls);
    w3s_loop_close(lr);
    printf("# part 4: %.2f s\n", t_now() - t0);
}

/* ------------------------------------------------------------ part 5 */
/* user_data. An accepted socket's events carry the listener's user_data
 * until w3s_set_user_data() changes it; after that call every event the
 * host takes carries the new value: DATA read by the polling thread, DRAIN,
 * END and CLOSE. Also while a stream is flowing and the value changes
 * before every poll (a fast path that caches the value would show the old
 * one). */

static void test_user_data(void) {
    printf("# part 5: user_data\n");
    bench b_ = open_bench(0);
    int64_t ls = b_.ls, lr = b_.lr, srv = b_.srv;
    pair p;
    REQUIRE(make_pair(ls, lr, srv, NULL, 0xC0, 0, 0, &p), "connected pair");
    CHECK(p.conn_ud == LISTENER_UD, "CONNECTION carries the listener's user_data");
    duo d;
    memset(&d, 0, sizeof d);
    d.srv = srv;
    side_init(&d.s[0], p.c, 0x5002);
    side_init(&d.s[1], p.a, 0x5001);
    side *ra = &d.s[1], *rc = &d.s[0];
    ra->check_ud = rc->check_ud = 1;
    ra->want_ud = LISTENER_UD;
    rc->want_ud = 0xC0;
    stream_tx tx;
    stx_init(&tx, p.c, 0x5001);
    stx_send(&tx, 5);
    CHECK(pump_until(ls, lr, &d, &ra->got, tx.sent, 5) && ra->ud_bad == 0,
          "the accepted socket's first DATA carries the listener's user_data");

    int set_bad = 0;
    for (int i = 0; i < 64; i++) {
        ra->want_ud = 0xA5A50000ull + (uint64_t)i;
        if (w3s_set_user_data(p.a, ra->want_ud) != W3S_OK) set_bad++;
        stx_send(&tx, 1 + (size_t)i * 61);
        if (!pump_until(ls, lr, &d, &ra->got, tx.sent, 5)) break;
    }
    CHECK(set_bad == 0 && ra->got == tx.sent && ra->ud_bad == 0 && !ra->bad,
          "64 changes: DATA after each carries the new value (%d wrong)", ra->ud_bad);

    /* 4 MiB queued at once; the values change before every poll round. */
    uint64_t target = tx.sent + 4 * MiB;
    int64_t rc0 = stx_send(&tx, 4 * MiB);
    uint64_t v = 0xB0000000ull;
    double end = t_now() + 20;
    int rounds = 0;
    while (ra->got < target && t_now() < end) {
        v++;
        ra->want_ud = v;
        rc->want_ud = v | 0x0C000000ull;
        if (w3s_set_user_data(p.a, ra->want_ud) != W3S_OK || w3s_set_user_data(p.c, rc->want_ud) != W3S_OK)
            set_bad++;
        pump2(ls, lr, 10, duo_event, &d);
        rounds++;
    }
    /* the DRAIN (if the send passed the high-water mark) may still come */
    if (rc0 >= (int64_t)MiB) pump_until_int(ls, lr, &d, &rc->drains, 1, 5);
    CHECK(set_bad == 0 && ra->got == target && !ra->bad && ra->ud_bad == 0 && rc->ud_bad == 0,
          "stream with the value changed before each of %d poll rounds: every event carries the latest", rounds);
    if (rc0 >= (int64_t)MiB) CHECK(rc->drains == 1, "the sender's DRAIN came (with the latest value)");

    /* END and CLOSE carry the last value set. */
    ra->want_ud = 0xE0Aull;
    rc->want_ud = 0xE0Cull;
    w3s_set_user_data(p.a, ra->want_ud);
    w3s_set_user_data(p.c, rc->want_ud);
    ra->close_on_end = 1;
    CHECK_CODE(w3s_close(p.c), W3S_OK);
    CHECK(wait_closed(ls, lr, &d, 10) && ra->ends == 1 && ra->ud_bad == 0 && rc->ud_bad == 0,
          "END and CLOSE carry the last value");
    CHECK(ra->errors + rc->errors + ra->unexpected + rc->unexpected + d.other == 0, "no error, no stray event");
    w3s_close(srv);
    w3s_loop_close(ls);
    w3s_loop_close(lr);
}

/* ------------------------------------------------------------ part 6 */
/* Byte counters. Both sockets send 8 MiB to each other at once in chunks
 * of random size, each kept below 512 KiB queued. Proves: bytes_sent and
 * bytes_received of w3s_get_info() equal what went through, on both
 * sockets, whether the bytes were written directly, flushed later, or read
 * by the polling thread; and buffered_amount is back to 0. */

static void test_counters(void) {
    printf("# part 6: byte counters, both directions at once\n");
    double t0 = t_now();
    bench b_ = open_bench(0);
    int64_t ls = b_.ls, lr = b_.lr, srv = b_.srv;
    pair p;
    REQUIRE(connect_pair(&b_, 0, &p), "connected pair");
    duo d;
    memset(&d, 0, sizeof d);
    d.srv = srv;
    side_init(&d.s[0], p.c, 0x6002);
    side_init(&d.s[1], p.a, 0x6001);
    stream_tx tc, ta;
    stx_init(&tc, p.c, 0x6001);
    stx_init(&ta, p.a, 0x6002);
    uint64_t total = (uint64_t)sc(8, 1) * MiB;
    uint64_t rng = 0x600D;
    double end = t_now() + 30;
    while ((d.s[0].got < total || d.s[1].got < total) && t_now() < end && !tc.fails && !ta.fails) {
        stream_tx *t[2] = {&tc, &ta};
        for (int i = 0; i < 2; i++)
            if (t[i]->sent < total && buffered_of(t[i]->h) < (int64_t)(512 * KiB)) {
                size_t n = 1 + (size_t)(xs(&rng) % (64 * KiB));
                if (n > total - t[i]->sent) n = (size_t)(total - t[i]->sent);
                stx_send(t[i], n);
            }
        pump2(ls, lr, 5, duo_event, &d);
    }
    CHECK(d.s[1].got == total && !d.s[1].bad && d.s[1].sum == tc.sum, "client -> server: %llu bytes intact",
          (unsigned long long)d.s[1].got);
    CHECK(d.s[0].got == total && !d.s[0].bad && d.s[0].sum == ta.sum, "server -> client: %llu bytes intact",
          (unsigned long long)d.s[0].got);
    w3s_info ic, ia;
    int ok = get_info(p.c, &ic) == 0 && get_info(p.a, &ia) == 0;
    CHECK(ok && ic.bytes_sent == total && ic.bytes_received == total, "client counters: sent %llu, received %llu",
          (unsigned long long)ic.bytes_sent, (unsigned long long)ic.bytes_received);
    CHECK(ok && ia.bytes_sent == total && ia.bytes_received == total, "server counters: sent %llu, received %llu",
          (unsigned long long)ia.bytes_sent, (unsigned long long)ia.bytes_received);
    CHECK(ok && ic.buffered_amount == 0 && ia.buffered_amount == 0, "nothing left buffered");
    d.s[1].close_on_end = 1;
    CHECK_CODE(w3s_close(p.c), W3S_OK);
    CHECK(wait_closed(ls, lr, &d, 10) && d.s[0].errors + d.s[1].errors + d.other == 0, "both closed, no error");
    w3s_close(srv);
    w3s_loop_close(ls);
    w3s_loop_close(lr);
    printf("# part 6: %.2f s\n", t_now() - t0);
}

/* ------------------------------------------------------------ part 7 */
/* Half-close. The client sends (nothing, 1 byte, ..., 3 MiB in one send,
 * or 300 small sends) and calls w3s_half_close() at once, mostly with the
 * data still queued. Either the polling thread does it all, or a sending
 * thread does while another thread polls the client's loop. Proves: the
 * FIN goes after the queued data, so the peer gets every byte, then END,
 * then no DATA; a send after half_close fails with W3S_ESTATE; the state is
 * HALFCLOSED and the client still reads: the server's reply (sent after
 * its END) arrives whole before the client's END. */

typedef struct hc_sender {
    int64_t h;
    size_t size;
    int small;
    uint32_t seed;
    uint64_t sent;
    int64_t queued;
    int fails, hc_rc, after_rc, state, done;
} hc_sender;

/* Sends the round's data; returns what the last send left buffered. */
static int64_t hc_send_all(int64_t h, uint32_t seed, size_t size, int small, uint64_t *sent, int *fails) {
    stream_tx tx;
    stx_init(&tx, h, seed);
    if (small)
        for (int i = 0; i < 300; i++) stx_send(&tx, 100);
    else if (size > 0)
        stx_send(&tx, size);
    *sent = tx.sent;
    *fails = tx.fails;
    return tx.last_rc;
}

static void *hc_sender_main(void *arg) {
    hc_sender *s = arg;
    s->queued = hc_send_all(s->h, s->seed, s->size, s->small, &s->sent, &s->fails);
    s->hc_rc = w3s_half_close(s->h);
    s->after_rc = (int)w3s_send(s->h, "x", 1);
    w3s_info in;
    s->state = get_info(s->h, &in) == 0 ? in.ready_state : -1;
    STORE(&s->done, 1);
    return NULL;
}

static void test_half_close(void) {
    printf("# part 7: half-close\n");
    double t0 = t_now();
    bench b_ = open_bench(0);
    int64_t ls = b_.ls, lr = b_.lr, srv = b_.srv;
    static const size_t sizes[] = {0, 1, 1000, 65543, 3 * 1024 * 1024, 0};
    int rounds = 24, bad_rounds = 0, threaded_rounds = 0, queued_rounds = 0;
    /* A fixed small send buffer: a fresh loopback socket's buffer grows to
     * 4 MB and takes 3 MiB at once, and then nothing would be queued in the
     * library when w3s_half_close is called. */
    w3s_tcp_options co;
    w3s_tcp_options_init(&co);
    co.send_buffer_size = 64 * 1024;
    for (int i = 0; i < rounds; i++) {
        size_t size = sizes[i % 6];
        int small = i % 6 == 5;
        int threaded = (i / 6) % 2 == 1;
        uint32_t seed = 0x7000u + (uint32_t)i;
        const char *why = NULL;
        pair p;
        MUST(make_pair(ls, lr, srv, &co, 1, 2, 1, &p), "round %d: connected pair", i);
        duo d;
        memset(&d, 0, sizeof d);
        d.srv = srv;
        side_init(&d.s[0], p.c, seed ^ 0xFFFF);
        side_init(&d.s[1], p.a, seed);
        side *ra = &d.s[1], *rc = &d.s[0];
        rc->close_on_end = 1;
        uint64_t sent = 0;
        int fails = 0, hc_rc, after_rc, state = -1;
        if (!threaded) {
            if (hc_send_all(p.c, seed, size, small, &sent, &fails) > 0) queued_rounds++;
            hc_rc = w3s_half_close(p.c);
            after_rc = (int)w3s_send(p.c, "x", 1);
            w3s_info in;
            if (get_info(p.c, &in) == 0) state = in.ready_state;
            /* The server answers END with a reply and a graceful close. */
            double end = t_now() + 20;
            int replied = 0;
            stream_tx reply;
            stx_init(&reply, p.a, seed ^ 0xFFFF);
            while ((ra->closes < 1 || rc->closes < 1) && t_now() < end) {
                pump2(ls, lr, 10, duo_event, &d);
                if (ra->ends && !replied) {
                    replied = 1;
                    w3s_info ia;
                    if (get_info(p.a, &ia) != 0 || !ia.peer_ended) why = "peer_ended not set at END";
                    if (stx_send(&reply, 100 * KiB) < 0) why = "the reply's send failed";
                    if (w3s_close(p.a) != W3S_OK) why = "close after the reply failed";
                }
            }
            if (rc->got != 100 * KiB || rc->bad || rc->ends != 1 || rc->data_after_end)
                why = "the half-closed client did not get the whole reply before END";
        } else {
            /* a thread sends and half-closes; another polls the client's
             * loop; this one polls the server's */
            threaded_rounds++;
            pumper pm;
            pumper_start(&pm, ls, p.c, 0, 1);
            hc_sender hs = {p.c, size, small, seed, 0, 0, 0, 0, 0, -1, 0};
            pthread_t th;
            MUST(pthread_create(&th, NULL, hc_sender_main, &hs) == 0, "sender thread");
            double end = t_now() + 20;
            while (ra->ends < 1 && ra->closes < 1 && t_now() < end) pump2(lr, 0, 10, duo_event, &d);
            for (double e2 = t_now() + 10; !LOAD(&hs.done) && t_now() < e2;) sleep_ms(1);
            if (!LOAD(&hs.done)) {
                CHECK(0, "round %d: the sending thread is stuck", i);
                exit(t_done());
            }
            pthread_join(th, NULL);
            if (hs.queued > 0) queued_rounds++;
            /* only now, so the thread's probes after half_close met a live
             * socket: the server closes, the client sees END and closes */
            if (w3s_close(p.a) != W3S_OK) why = "the server's close failed";
            while (ra->closes < 1 && t_now() < end) pump2(lr, 0, 10, duo_event, &d);
            sent = hs.sent;
            fails = hs.fails;
            hc_rc = hs.hc_rc;
            after_rc = hs.after_rc;
            state = hs.state;
            if (!pumper_wait_close(&pm, 10)) why = "the client's CLOSE did not come";
            pumper_stop(&pm);
            if (pm.s.errors || pm.s.unexpected || pm.s.data_events || pm.poll_err) why = "client: error or stray event";
        }
        if (fails || hc_rc != W3S_OK) why = "a send or w3s_half_close failed";
        else if (after_rc != W3S_ESTATE) why = "w3s_send after w3s_half_close did not fail with W3S_ESTATE";
        else if (state != W3S_STATE_HALFCLOSED) why = "ready_state is not HALFCLOSED";
        else if (ra->got != sent || ra->bad) why = "the peer did not get every byte sent before the FIN";
        else if (ra->ends != 1 || ra->data_after_end) why = "not exactly one END after the data";
        else if (ra->errors || rc->errors || ra->unexpected || rc->unexpected || d.other || rc->close_bad)
            why = "an error, a stray event, or a failed w3s_close";
        else if (ra->closes != 1) why = "the server's CLOSE did not come";
        if (why && bad_rounds++ < 5)
            printf("# round %d (%s, %s%zu bytes): %s [half_close %s, send after %s, state %d, received %llu of %llu, "
                   "ends %d, data after end %d]\n", i, threaded ? "threads" : "one thread", small ? "300 x 100 B, " : "",
                   small ? (size_t)30000 : size, why, w3s_err_name(hc_rc), rc_str(after_rc), state,
                   (unsigned long long)ra->got, (unsigned long long)sent, ra->ends, ra->data_after_end);
        if (!threaded && rc->closes < 1) wait_closed(ls, lr, &d, 5);
    }
    CHECK(bad_rounds == 0, "%d half-close rounds (%d with a sending thread and a polling thread): "
          "all data before END, then the reply; %d wrong", rounds, threaded_rounds, bad_rounds);
    CHECK(queued_rounds >= 4, "in %d rounds data was still queued when w3s_half_close was called", queued_rounds);
    w3s_close(srv);
    w3s_loop_close(ls);
    w3s_loop_close(lr);
    printf("# part 7: %.2f s\n", t_now() - t0);
}

/* ------------------------------------------------------------ part 8 */
/* Blocking polls.
 *  a. w3s_loop_wake() makes a poll with timeout -1 return 0: one that waits
 *     in the kernel, one that is just starting, and one that starts only
 *     after the wake. A wake must not be lost when no poll is waiting yet:
 *     a host's poll thread checks its stop flag and then polls, and
 *     another thread sets the flag and wakes in between (the Python
 *     binding's sync engine stops its thread exactly so);
 *  b. a poll with timeout -1 returns DATA that another thread's send made
 *     arrive on a socket of the loop;
 *  c. a socket of that loop sends 8 MiB from another thread while the poll
 *     blocks: the blocked poll must notice the queued output, flush it all,
 *     and return DRAIN;
 *  d. another thread's w3s_close() of a socket of the loop: the blocked
 *     poll returns its CLOSE;
 *  e. with sockets but nothing to do, polls with timeouts 0 and 50 ms
 *     return 0; the loop fd turns readable when data arrives and not
 *     readable again once the data was taken. */

typedef struct waiter {
    int64_t loop;
    int iters, ready, go, returned, bad_rc, stop;
} waiter;

static void *waiter_main(void *arg) {
    waiter *w = arg;
    w3s_event evs[4];
    for (int i = 0; i < w->iters && !LOAD(&w->stop); i++) {
        STORE(&w->ready, i + 1);
        while (LOAD(&w->go) < i + 1 && !LOAD(&w->stop)) sleep_us(20);
        int n = w3s_loop_poll(w->loop, evs, 4, -1);
        if (n != 0) ADD(&w->bad_rc, 1);
        STORE(&w->returned, i + 1);
    }
    return NULL;
}

/* Polls one loop with timeout -1 until stopped, recording one socket. */
typedef struct blocker {
    int64_t loop, h;
    uint32_t seed;
    uint64_t got;
    int bad, drains, closes, errors, other, stop, done, polls;
} blocker;

static void *blocker_main(void *arg) {
    blocker *b = arg;
    w3s_event evs[32];
    while (!LOAD(&b->stop)) {
        int n = w3s_loop_poll(b->loop, evs, 32, -1);
        if (n < 0) {
            ADD(&b->errors, 1);
            break;
        }
        ADD(&b->polls, 1);
        for (int i = 0; i < n; i++) {
            const w3s_event *ev = &evs[i];
            if (ev->handle != b->h) {
                ADD(&b->other, 1);
                continue;
            }
            switch (ev->type) {
            case W3S_EV_DATA: {
                uint64_t g = LOAD(&b->got);
                if (gen_bad(b->seed, g, ev->data, ev->len) != ev->len) ADD(&b->bad, 1);
                STORE(&b->got, g + ev->len);
                break;
            }
            case W3S_EV_DRAIN: ADD(&b->drains, 1); break;
            case W3S_EV_CLOSE: ADD(&b->closes, 1); break;
            case W3S_EV_ERROR: ADD(&b->errors, 1); break;
            default: ADD(&b->other, 1);
            }
        }
    }
    STORE(&b->done, 1);
    return NULL;
}

/* Stops a thread blocked in poll(-1) with wakes; gives up after secs. */
static int stop_blocked(int64_t loop, int *stop, int *done, double secs) {
    STORE(stop, 1);
    double end = t_now() + secs;
    do {
        w3s_loop_wake(loop);
        for (int i = 0; i < 100 && !LOAD(done); i++) sleep_ms(1);
    } while (!LOAD(done) && t_now() < end);
    return LOAD(done);
}

static void test_blocking(void) {
    printf("# part 8: blocking polls\n");
    double t0 = t_now();

    /* a. wake */
    int64_t lw = w3s_loop_new();
    REQUIRE(lw > 0, "loop");
    waiter w;
    memset(&w, 0, sizeof w);
    w.loop = lw;
    w.iters = (int)sc(200, 20);
    pthread_t wt;
    REQUIRE(pthread_create(&wt, NULL, waiter_main, &w) == 0, "waiting thread");
    int lost = -1;
    for (int i = 0; i < w.iters; i++) {
        double end = t_now() + 5;
        while (LOAD(&w.ready) < i + 1 && t_now() < end) sleep_us(50);
        if (i % 3 == 0) {
            /* the wake comes first, the poll only after it */
            if (w3s_loop_wake(lw) != W3S_OK) ADD(&w.bad_rc, 1);
            STORE(&w.go, i + 1);
        } else {
            STORE(&w.go, i + 1);
            if (i % 3 == 1) sleep_ms(5); /* now it surely waits in the kernel */
            if (w3s_loop_wake(lw) != W3S_OK) ADD(&w.bad_rc, 1);
        }
        end = t_now() + 5;
        while (LOAD(&w.returned) < i + 1 && t_now() < end) sleep_us(50);
        if (LOAD(&w.returned) < i + 1) {
            lost = i;
            break;
        }
    }
    STORE(&w.stop, 1);
    if (lost >= 0) {
        int got_out = 0;
        for (double end = t_now() + 5; !got_out && t_now() < end; sleep_ms(50)) {
            w3s_loop_wake(lw);
            got_out = LOAD(&w.returned) >= lost + 1;
        }
        CHECK(0, "wake %d of %d was lost: the poll(-1) did not return%s", lost + 1, w.iters,
              got_out ? " (a later wake freed it)" : " and stays stuck");
        if (!got_out) exit(t_done());
    }
    pthread_join(wt, NULL);
    CHECK(lost < 0 && w.bad_rc == 0, "%d wakes (before, as and after the poll(-1) started): each made it return 0",
          w.iters);
    w3s_loop_close(lw);

    /* b-d: a thread blocks in poll(-1) on the server's loop */
    bench b_ = open_bench(0);
    int64_t ls = b_.ls, lr = b_.lr, srv = b_.srv;
    pair p;
    REQUIRE(connect_pair(&b_, 0, &p), "connected pair");
    blocker b;
    memset(&b, 0, sizeof b);
    b.loop = lr;
    b.h = p.a;
    b.seed = 0x8001;
    pthread_t bt;
    REQUIRE(pthread_create(&bt, NULL, blocker_main, &b) == 0, "blocking thread");
    duo d; /* the client side, polled here */
    memset(&d, 0, sizeof d);
    d.srv = srv;
    side_init(&d.s[0], p.c, 0x8002);
    side_init(&d.s[1], -1, 0);
    stream_tx tx;
    stx_init(&tx, p.c, 0x8001);
    int msgs = 20, delivered = 0;
    for (int i = 0; i < msgs; i++) {
        if (i % 2 == 0) sleep_ms(10); /* the poller waits in the kernel */
        stx_send(&tx, i % 3 == 0 ? 1 : 1 + (size_t)(i * 7919) % (64 * KiB));
        double end = t_now() + 5;
        while (LOAD(&b.got) < tx.sent && t_now() < end) pump2(ls, 0, 1, duo_event, &d);
        if (LOAD(&b.got) < tx.sent) break;
        delivered++;
    }
    CHECK(delivered == msgs && LOAD(&b.bad) == 0, "poll(-1) returned DATA for %d of %d sends from another thread",
          delivered, msgs);

    stream_tx ta; /* the blocked loop's own socket sends */
    stx_init(&ta, p.a, 0x8002);
    int64_t rc = stx_send(&ta, 8 * MiB);
    CHECK(pump_until(ls, 0, &d, &d.s[0].got, 8 * MiB, 30) && !d.s[0].bad && d.s[0].sum == ta.sum,
          "8 MiB queued by another thread were flushed by the blocked poll (%llu bytes arrived)",
          (unsigned long long)d.s[0].got);
    if (rc >= (int64_t)MiB) {
        for (double end = t_now() + 5; LOAD(&b.drains) < 1 && t_now() < end;) sleep_ms(1);
        CHECK(LOAD(&b.drains) == 1, "the blocked poll returned DRAIN (send left %lld queued)", (long long)rc);
    }

    CHECK_CODE(w3s_close(p.a), W3S_OK);
    for (double end = t_now() + 5; LOAD(&b.closes) < 1 && t_now() < end;) sleep_ms(1);
    CHECK(LOAD(&b.closes) == 1, "the blocked poll returned the CLOSE of another thread's w3s_close");
    d.s[0].close_on_end = 1;
    CHECK(pump_until_int(ls, 0, &d, &d.s[0].closes, 1, 10) && d.s[0].ends == 1, "client saw END and CLOSE");
    CHECK(stop_blocked(lr, &b.stop, &b.done, 5), "blocking thread stopped by w3s_loop_wake");
    if (!LOAD(&b.done)) exit(t_done());
    pthread_join(bt, NULL);
    CHECK(b.errors == 0 && b.other == 0 && d.s[0].errors == 0 && d.other == 0,
          "no error, no stray event (%d polls)", b.polls);
    w3s_close(srv);
    w3s_loop_close(ls);
    w3s_loop_close(lr);

    /* e. nothing to do; fd readiness */
    int64_t lq = w3s_loop_new();
    int64_t srv2 = listen_lo(lq, LISTENER_UD, 0);
    REQUIRE(lq > 0 && srv2 > 0, "loop and listener");
    pair q;
    REQUIRE(make_pair(lq, lq, srv2, NULL, 1, 2, 1, &q), "connected pair on one loop");
    w3s_event evs[8];
    int zeros = 0;
    for (int i = 0; i < 3; i++) {
        double ts = t_now();
        if (w3s_loop_poll(lq, evs, 8, 50) == 0) zeros++;
        printf("# poll(50 ms) with nothing to do returned after %.1f ms\n", (t_now() - ts) * 1e3);
    }
    if (w3s_loop_poll(lq, evs, 8, 0) == 0) zeros++;
    CHECK(zeros == 4, "polls with timeouts 50 and 0 and nothing to do return 0");
    struct pollfd pf = {w3s_loop_fd(lq), POLLIN, 0};
    CHECK(poll(&pf, 1, 0) == 0, "idle loop: fd not readable");
    CHECK(w3s_send(q.c, "0123456789", 10) >= 0, "10 bytes sent");
    CHECK(poll(&pf, 1, 5000) == 1, "fd readable once data arrived for a socket of the loop");
    int got = 0, other = 0;
    for (double end = t_now() + 5; got < 10 && t_now() < end;) {
        int n = w3s_loop_poll(lq, evs, 8, 100);
        for (int i = 0; i < n; i++) {
            if (evs[i].handle == q.a && evs[i].type == W3S_EV_DATA && got + evs[i].len <= 10 &&
                memcmp(evs[i].data, "0123456789" + got, evs[i].len) == 0)
                got += (int)evs[i].len;
            else
                other++;
        }
    }
    CHECK(got == 10 && other == 0, "the data came from the poll");
    CHECK(poll(&pf, 1, 0) == 0, "fd not readable once the data was taken");
    w3s_abort(q.c);
    w3s_abort(q.a);
    w3s_close(srv2);
    int closes = 0;
    for (double end = t_now() + 5; closes < 3 && t_now() < end;) {
        int n = w3s_loop_poll(lq, evs, 8, 100);
        for (int i = 0; i < n; i++) closes += evs[i].type == W3S_EV_CLOSE;
    }
    CHECK(closes == 3, "aborted sockets and listener closed");
    w3s_loop_close(lq);
    printf("# part 8: %.2f s\n", t_now() - t0);
}

/* ------------------------------------------------------------------ main */

/* W3S_DATAPATH_PARTS="1,3" runs only those parts (for debugging). */
static int want_part(int n) {
    const char *s = getenv("W3S_DATAPATH_PARTS");
    if (!s || !*s) return 1;
    for (; *s; s++)
        if (*s - '0' == n) return 1;
    return 0;
}

int main(void) {
    t_init();
    const char *dv = getenv("W3S_DATAPATH_DIV");
    const char *pre = getenv("LD_PRELOAD");
    if (dv && atoi(dv) > 0) g_div = atoi(dv);
    else if (pre && strstr(pre, "vgpreload")) g_div = 10; /* valgrind */
    if (g_div > 1) printf("# amounts of work divided by %d\n", g_div);
    double t0 = t_now();
    if (want_part(1)) test_threaded_senders();
    if (want_part(2)) test_ping_pong();
    if (want_part(3)) test_pause();
    if (want_part(4)) test_close_races();
    if (want_part(5)) test_user_data();
    if (want_part(6)) test_counters();
    if (want_part(7)) test_half_close();
    if (want_part(8)) test_blocking();
    CHECK(t_stats_zero(10), "w3s_stats: no loop and no socket left");
    printf("# total %.2f s\n", t_now() - t0);
    return t_done();
}
