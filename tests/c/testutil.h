/* Small helpers shared by the C tests: checks that print "ok"/"not ok"
 * lines, and an event pump with a deadline so no test can hang. */
#ifndef W3S_TESTUTIL_H
#define W3S_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "w3sock.h"

static int t_failures = 0;

#define CHECK(cond, ...) do { \
    if (cond) { printf("ok   %s:%d ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); } \
    else { printf("not ok %s:%d ", __FILE__, __LINE__); printf(__VA_ARGS__); \
           printf(" [last error: %s]\n", w3s_last_error_message()); t_failures++; } \
} while (0)

/* An error code check that also names the codes. */
#define CHECK_CODE(expr, want) do { \
    long long got_ = (long long)(expr); \
    CHECK(got_ == (want), "%s == %s (got %s)", #expr, w3s_err_name(want), \
          got_ >= 0 ? "success" : w3s_err_name((int)got_)); \
} while (0)

/* Like CHECK (cond is evaluated once), but stops the test on failure. */
#define REQUIRE(cond, ...) do { int ok_ = (cond) ? 1 : 0; CHECK(ok_, __VA_ARGS__); if (!ok_) exit(1); } while (0)

static double t_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Call first in main: line-buffered output survives a crash. */
static void t_init(void) { setvbuf(stdout, NULL, _IOLBF, 0); }

static int t_done(void) {
    printf("%s: %d failure(s)\n", t_failures ? "FAILED" : "PASSED", t_failures);
    return t_failures ? 1 : 0;
}

/* Waits for leak-free quiet: every socket and loop released. */
static inline int t_stats_zero(double timeout_s) {
    w3s_stats_t st;
    double end = t_now() + timeout_s;
    do {
        st.size = sizeof st;
        if (w3s_stats(&st) == 0 && st.sockets == 0 && st.loops == 0) return 1;
        struct timespec d = {0, 20 * 1000 * 1000};
        nanosleep(&d, NULL);
    } while (t_now() < end);
    printf("# stats: loops=%lld sockets=%lld goroutines=%lld fds=%lld queued=%lld\n",
           (long long)st.loops, (long long)st.sockets, (long long)st.goroutines,
           (long long)st.open_fds, (long long)st.events_queued);
    return 0;
}

/* ---- sockets and event pumps shared by the behaviour tests ----
 * (static inline: a test that does not use one gets no warning) */

typedef void (*t_ev_fn)(void *ctx, const w3s_event *ev);

static inline void t_sleep_ms(long ms) {
    struct timespec d = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&d, NULL);
}

static inline int t_info(int64_t h, w3s_info *in) {
    memset(in, 0, sizeof *in);
    in->size = sizeof *in;
    return w3s_get_info(h, in);
}

static inline int t_port(int64_t h) {
    w3s_info in;
    return t_info(h, &in) == 0 ? in.local_port : -1;
}

/* A loopback TCP listener (opts may be NULL). */
static inline int64_t t_listen(int64_t loop, w3s_tcp_options *opts, uint64_t ud) {
    w3s_tcp_options o;
    if (opts == NULL) {
        w3s_tcp_options_init(&o);
        opts = &o;
    }
    opts->local_address = "127.0.0.1";
    return w3s_tcp_listen(loop, opts, ud);
}

/* One poll of loop (waiting up to wait_ms), each event handed to fn.
 * Returns the poll's result. */
static inline int t_pump(int64_t loop, int wait_ms, t_ev_fn fn, void *ctx) {
    w3s_event evs[64];
    int n = w3s_loop_poll(loop, evs, 64, wait_ms);
    for (int i = 0; i < n; i++)
        if (fn) fn(ctx, &evs[i]);
    return n;
}

/* Connects a client on loop lc to listener srv (on loop ls), with client
 * options co (may be NULL), and waits for the client's OPEN and the
 * listener's CONNECTION; events of other sockets go to fn. */
static inline int t_pair(int64_t lc, int64_t ls, int64_t srv, const w3s_tcp_options *co,
                         int64_t *c, int64_t *a) {
    *a = 0;
    *c = w3s_tcp_connect(lc, "127.0.0.1", t_port(srv), co, 0);
    if (*c <= 0) return 0;
    int opened = 0;
    w3s_event evs[16];
    for (double end = t_now() + 10; (!opened || *a <= 0) && t_now() < end;) {
        int64_t lps[2] = {lc, ls};
        for (int l = 0; l < (lc == ls ? 1 : 2); l++) {
            int n = w3s_loop_poll(lps[l], evs, 16, 5);
            for (int i = 0; i < n; i++) {
                if (evs[i].handle == *c && evs[i].type == W3S_EV_OPEN) opened = 1;
                if (evs[i].handle == srv && evs[i].type == W3S_EV_CONNECTION) *a = evs[i].accepted;
                if (evs[i].handle == *c && evs[i].type == W3S_EV_CLOSE) return 0;
            }
        }
    }
    return opened && *a > 0;
}

/* Deterministic stream content: byte i of stream seed. */
static inline uint8_t t_byte(uint32_t seed, uint64_t i) {
    uint64_t x = (i >> 3) * 0x9E3779B97F4A7C15ull ^ ((uint64_t)seed << 32 | seed);
    x ^= x >> 29;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 32;
    return (uint8_t)(x >> ((i & 7) * 8));
}

static inline void t_fill(uint32_t seed, uint64_t off, uint8_t *p, size_t n) {
    for (size_t k = 0; k < n; k++) p[k] = t_byte(seed, off + k);
}

/* Index of the first byte of p that is not stream seed's bytes off..; n
 * if all match. */
static inline size_t t_bad(uint32_t seed, uint64_t off, const uint8_t *p, size_t n) {
    for (size_t k = 0; k < n; k++)
        if (p[k] != t_byte(seed, off + k)) return k;
    return n;
}

/* Live objects and descriptors now (process-wide). */
/* The whole of a small file dir/name (certificates, keys) as a NUL-terminated
 * string the caller may keep; a file that cannot be opened ends the test. */
static inline char *t_slurp(const char *dir, const char *name) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    REQUIRE(f != NULL, "open %s", path);
    char *b = calloc(1, 1 << 16);
    REQUIRE(b != NULL, "memory for %s", path);
    size_t n = fread(b, 1, (1 << 16) - 1, f);
    fclose(f);
    b[n] = 0;
    return b;
}

static inline w3s_stats_t t_stats(void) {
    w3s_stats_t st;
    memset(&st, 0, sizeof st);
    st.size = sizeof st;
    w3s_stats(&st);
    return st;
}

#endif
