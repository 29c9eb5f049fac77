/* The Go half of the data path, modelled in C for the sanitizer builds
 * (see README.md). It follows core/fastpath.go's rules for one socket:
 *   - every change happens under the socket's lock (mu);
 *   - claim() withdraws FastWrite, taking the host thread's output into
 *     Go's queue, before Go writes; sync() republishes what Go wants when
 *     that changed; a high-water change republishes the current flags;
 *   - a publish that hands output back never grants FastWrite;
 *   - pause unregisters the descriptor from the loop's epoll set (so the
 *     host thread's partial writes become a carry), resume registers it.
 * Go's queue is flushed by a writer thread, as by the writer goroutine. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "_cgo_export.h"
#include "fastpath.h"
#include "go_standin.h"

volatile int w3s_forked = 0;

static __thread char errbuf[256];
void w3s_set_error(const char *msg, size_t len) {
    if (len >= sizeof errbuf) len = sizeof errbuf - 1;
    memcpy(errbuf, msg, len);
    errbuf[len] = 0;
}

/* capi/shim.c's answer in a forked child (never taken here: no fork). */
int w3s_forked_error(void) { return W3S_EFORKED; }

int w3s_abort(int64_t h) {
    fprintf(stderr, "w3s_abort(%lld): the data path lost output\n", (long long)h);
    abort();
}

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int64_t lh, h;
    int fd, epfd;
    uint32_t watch, pub;
    int paused, finishing, stop;
    int64_t high_water;
    uint8_t *q;
    size_t qlen, qcap;
    uint64_t written;
    pthread_t writer;
} g = {.mu = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static uint32_t want(void) {
    if (g.finishing) return 0;
    return (g.paused ? 0 : W3S_FAST_READ) | (g.qlen == 0 ? W3S_FAST_WRITE : 0);
}

static void q_put(const uint8_t *p, size_t n, int front) {
    if (g.qlen + n > g.qcap) {
        g.qcap = (g.qlen + n) * 2;
        g.q = realloc(g.q, g.qcap);
        if (g.q == NULL) abort();
    }
    if (front) {
        memmove(g.q + n, g.q, g.qlen);
        memcpy(g.q, p, n);
    } else {
        memcpy(g.q + g.qlen, p, n);
    }
    g.qlen += n;
}

/* What w3s_send handed over with w3sgo_fast_stash (a partial write whose
 * rest it could not malloc); the next publish takes it after the carry, as
 * capi/fastpath.go's Publish does. Its own lock: w3s_send stashes under the
 * slot's BUSY bit, never under g.mu. */
static pthread_mutex_t stash_mu = PTHREAD_MUTEX_INITIALIZER;
static uint8_t *stash;
static size_t stash_len;

void w3sgo_fast_stash(int64_t h, void *p, size_t n) {
    (void)h;
    pthread_mutex_lock(&stash_mu);
    if (stash != NULL) abort(); /* only ever the whole output, once */
    stash = malloc(n);
    if (stash == NULL) abort();
    memcpy(stash, p, n);
    stash_len = n;
    pthread_mutex_unlock(&stash_mu);
}

static void publish(uint32_t flags) {
    w3s_fast_pub pub = {.handle = g.h, .fd = g.fd, .flags = flags, .epfd = g.epfd,
                        .watch_mask = g.watch, .high_water = g.high_water};
    w3s_fast_taken t;
    w3s_fast_publish(&pub, &t);
    if (t.need_drain < 0) abort();
    pthread_mutex_lock(&stash_mu);
    if (stash != NULL) {
        q_put(stash, stash_len, 1); /* goes after the carry, put in front below */
        free(stash);
        stash = NULL;
        stash_len = 0;
        flags &= ~W3S_FAST_WRITE;
        pthread_cond_signal(&g.cond);
    }
    pthread_mutex_unlock(&stash_mu);
    if (t.carry_len > 0) {
        q_put(t.carry, t.carry_len, 1);
        flags &= ~W3S_FAST_WRITE; /* withheld by the C side while it hands output back */
        pthread_cond_signal(&g.cond);
    }
    free(t.carry);
    g.pub = flags;
}

static void sync_pub(void) {
    if (want() != g.pub) publish(want());
}

static void claim(void) {
    if (g.pub != 0) publish(want() & ~W3S_FAST_WRITE);
}

/* The writer goroutine: flushes Go's queue, then lets the host write. */
static void *writer_main(void *arg) {
    (void)arg;
    pthread_mutex_lock(&g.mu);
    for (;;) {
        while (g.qlen == 0 && !g.stop) pthread_cond_wait(&g.cond, &g.mu);
        if (g.qlen == 0 && g.stop) break;
        ssize_t n = send(g.fd, g.q, g.qlen, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            memmove(g.q, g.q + n, g.qlen - (size_t)n);
            g.qlen -= (size_t)n;
            g.written += (uint64_t)n;
            if (g.qlen == 0) sync_pub();
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR) abort();
        pthread_mutex_unlock(&g.mu);
        struct pollfd p = {.fd = g.fd, .events = POLLOUT};
        poll(&p, 1, 10);
        pthread_mutex_lock(&g.mu);
    }
    pthread_mutex_unlock(&g.mu);
    return NULL;
}

void go_open(int64_t lh, int epfd, int efd, int64_t h, int fd, int64_t high_water) {
    g.lh = lh, g.h = h, g.fd = fd, g.epfd = epfd, g.high_water = high_water;
    if (w3s_fast_loop_add(lh, epfd, efd, sizeof(w3s_event)) != 0) abort();
    pthread_mutex_lock(&g.mu);
    g.watch = EPOLLIN | EPOLLRDHUP;
    struct epoll_event ev = {.events = g.watch, .data.u64 = (uint32_t)fd | (uint64_t)(uint32_t)h << 32};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0) abort();
    sync_pub();
    pthread_mutex_unlock(&g.mu);
    pthread_create(&g.writer, NULL, writer_main, NULL);
}

void go_pause(void) {
    pthread_mutex_lock(&g.mu);
    if (g.pub & W3S_FAST_WRITE) claim(); /* the registration is about to change */
    if (!g.paused && !g.finishing) {
        g.paused = 1;
        epoll_ctl(g.epfd, EPOLL_CTL_DEL, g.fd, NULL);
        g.watch = 0;
    }
    sync_pub();
    pthread_mutex_unlock(&g.mu);
}

void go_resume(void) {
    pthread_mutex_lock(&g.mu);
    if (g.pub & W3S_FAST_WRITE) claim();
    if (g.paused && !g.finishing) {
        g.paused = 0;
        g.watch = EPOLLIN | EPOLLRDHUP;
        struct epoll_event ev = {.events = g.watch, .data.u64 = (uint32_t)g.fd | (uint64_t)(uint32_t)g.h << 32};
        epoll_ctl(g.epfd, EPOLL_CTL_ADD, g.fd, &ev);
    }
    sync_pub();
    pthread_mutex_unlock(&g.mu);
}

void go_set_high_water(int64_t v) {
    pthread_mutex_lock(&g.mu);
    g.high_water = v;
    if (g.pub != 0) publish(g.pub); /* the host thread's queue uses it too */
    pthread_mutex_unlock(&g.mu);
}

uint64_t go_finish(void) {
    pthread_mutex_lock(&g.mu);
    g.finishing = 1;
    publish(0); /* takes whatever the host thread still holds */
    g.stop = 1;
    pthread_cond_signal(&g.cond);
    pthread_mutex_unlock(&g.mu);
    pthread_join(g.writer, NULL);
    w3s_fast_loop_retire(g.lh);
    free(g.q);
    return g.written;
}

/* ---- the functions fastpath.c calls ---- */

void (*go_handoff_hook)(void);

int64_t w3sgo_send(int64_t h, void *data, size_t len) {
    if (h != g.h) return W3S_EBADF;
    if (len == 0 && go_handoff_hook != NULL) {
        void (*hook)(void) = go_handoff_hook;
        go_handoff_hook = NULL;
        hook();
    }
    pthread_mutex_lock(&g.mu);
    claim();
    if (len > 0) {
        q_put(data, len, 0);
        pthread_cond_signal(&g.cond);
    }
    sync_pub();
    int64_t q = (int64_t)g.qlen;
    pthread_mutex_unlock(&g.mu);
    return q;
}

/* Go's poll: nothing of its own to deliver here (no peer data is sent);
 * it waits a little as a poll that found nothing would. */
int w3sgo_loop_poll(int64_t h, w3s_event *events, int max, int timeout_ms) {
    (void)h, (void)events, (void)max;
    if (timeout_ms != 0) usleep(1000);
    return 0;
}

void w3sgo_fast_read_result(int64_t h, int code) {
    (void)h, (void)code; /* the peer does not close before the end */
}
