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
static int t_stats_zero(double timeout_s) {
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

#endif
