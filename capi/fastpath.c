/* The host-thread data path: w3s_loop_poll and w3s_send in C.
 *
 * Why: entering the Go runtime from a host's thread costs 0.5 us back to
 * back and 4-10 us once the thread has spent a while outside Go (the
 * runtime wakes its monitor thread on the way out and must take a P again
 * on the way in). A loopback round trip has about 25 us per side, and a
 * message costs two entries (poll, send). So the common case of a plain
 * TCP socket never enters Go: poll reads a readable socket straight into
 * the loop's memory, and send writes straight to the kernel while nothing
 * is queued. Everything else (queued events, listeners, TLS, UDP, EOF,
 * errors, partial writes, flushes) goes to the Go implementation, which
 * these functions call as w3sgo_loop_poll and w3sgo_send.
 *
 * Go decides, under each socket's lock, what the host thread may do with it
 * (core/fastpath.go) and publishes that into the socket's slot here. A slot
 * is a word of flags plus a BUSY bit: the host thread sets BUSY around its
 * one syscall; Go's publish waits for BUSY to clear before it changes the
 * flags, so once Go has withdrawn a flag no host operation is in flight,
 * and the descriptor can be closed or handed to a goroutine safely.
 *
 * Reads never overlap: the host's poll and Go's poll both run under the
 * loop's mutex here (Go's only through w3s_loop_poll or the callback
 * goroutine, which takes it too). */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "_cgo_export.h"
#include "fastpath.h"

#define BUSY 0x80000000u

/* ---- the slot table: one slot per handle index, pages made on demand ---- */

typedef struct fast_loop fast_loop;

typedef struct fast_slot {
    _Atomic uint32_t state; /* W3S_FAST_* | BUSY */
    int fd;                 /* written by Go under BUSY */
    _Atomic int64_t handle; /* the handle now using the index */
    _Atomic uint64_t user_data;
    _Atomic uint64_t bytes_in, bytes_out; /* counted here, harvested by Go */
    uint8_t *carry;                       /* unsent tail of a partial write */
    size_t carry_len;
    fast_loop *loop; /* a loop's slot: its poll state (under loops_mu) */
} fast_slot;

#define PAGE_BITS 12
#define PAGE_SLOTS (1u << PAGE_BITS)
#define MAX_PAGES 8192 /* 32 M handle indexes */

static _Atomic(fast_slot *) pages[MAX_PAGES];
static pthread_mutex_t pages_mu = PTHREAD_MUTEX_INITIALIZER;

static fast_slot *slot_of(int64_t h, int create) {
    if (h <= 0) return NULL;
    uint32_t idx = (uint32_t)(h & 0xffffffff);
    uint32_t p = idx >> PAGE_BITS;
    if (idx == 0 || p >= MAX_PAGES) return NULL;
    fast_slot *page = atomic_load_explicit(&pages[p], memory_order_acquire);
    if (page == NULL) {
        if (!create) return NULL;
        pthread_mutex_lock(&pages_mu);
        page = atomic_load_explicit(&pages[p], memory_order_acquire);
        if (page == NULL) {
            page = calloc(PAGE_SLOTS, sizeof(fast_slot));
            atomic_store_explicit(&pages[p], page, memory_order_release);
        }
        pthread_mutex_unlock(&pages_mu);
        if (page == NULL) return NULL;
    }
    return &page[idx & (PAGE_SLOTS - 1)];
}

static inline void relax(int spins) {
    if (spins < 64) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    } else {
        sched_yield();
    }
}

/* Host side: takes BUSY if the slot has every flag in need. Returns the
 * flags it held, or 0 (then the caller falls back to Go). */
static uint32_t slot_enter(fast_slot *s, uint32_t need) {
    for (int spins = 0;; spins++) {
        uint32_t st = atomic_load_explicit(&s->state, memory_order_acquire);
        if ((st & need) != need) return 0;
        if (!(st & BUSY) &&
            atomic_compare_exchange_weak_explicit(&s->state, &st, st | BUSY, memory_order_acquire,
                                                  memory_order_relaxed))
            return st;
        relax(spins);
    }
}

static inline void slot_leave(fast_slot *s, uint32_t flags) {
    atomic_store_explicit(&s->state, flags, memory_order_release);
}

/* Go side: takes BUSY whatever the flags. */
static void slot_lock(fast_slot *s) {
    for (int spins = 0;; spins++) {
        uint32_t st = atomic_load_explicit(&s->state, memory_order_acquire);
        if (!(st & BUSY) &&
            atomic_compare_exchange_weak_explicit(&s->state, &st, st | BUSY, memory_order_acquire,
                                                  memory_order_relaxed))
            return;
        relax(spins);
    }
}

void w3s_fast_publish(int64_t h, int fd, uint32_t flags, uint64_t user_data, uint8_t **carry,
                      size_t *carry_len, uint64_t *bytes_in, uint64_t *bytes_out) {
    *carry = NULL;
    *carry_len = 0;
    *bytes_in = *bytes_out = 0;
    fast_slot *s = slot_of(h, flags != 0);
    if (s == NULL) return; /* nothing was ever published (or no memory: stay in Go) */
    slot_lock(s);
    if (atomic_load_explicit(&s->handle, memory_order_relaxed) == h) {
        *carry = s->carry;
        *carry_len = s->carry_len;
        *bytes_in = atomic_exchange(&s->bytes_in, 0);
        *bytes_out = atomic_exchange(&s->bytes_out, 0);
    } else if (s->carry) {
        free(s->carry); /* left by a handle that is gone (cannot happen: it publishes 0 first) */
    }
    s->carry = NULL;
    s->carry_len = 0;
    if (flags == 0) {
        atomic_store(&s->handle, 0);
        slot_leave(s, 0);
        return;
    }
    if (atomic_load_explicit(&s->handle, memory_order_relaxed) != h) {
        atomic_store(&s->bytes_in, 0);
        atomic_store(&s->bytes_out, 0);
        atomic_store(&s->handle, h);
    }
    s->fd = fd;
    atomic_store(&s->user_data, user_data);
    if (*carry) flags &= ~W3S_FAST_WRITE; /* Go queues the carry: writes wait behind it */
    slot_leave(s, flags);
}

void w3s_fast_harvest(int64_t h, uint64_t *bytes_in, uint64_t *bytes_out) {
    *bytes_in = *bytes_out = 0;
    fast_slot *s = slot_of(h, 0);
    if (s == NULL || atomic_load(&s->handle) != h) return;
    *bytes_in = atomic_exchange(&s->bytes_in, 0);
    *bytes_out = atomic_exchange(&s->bytes_out, 0);
}

void w3s_fast_set_user_data(int64_t h, uint64_t user_data) {
    fast_slot *s = slot_of(h, 0);
    if (s != NULL && atomic_load(&s->handle) == h) atomic_store(&s->user_data, user_data);
}

/* ---- w3s_send ---- */

int64_t w3s_send(int64_t h, void *data, size_t len) {
    if (w3s_forked || data == NULL || len == 0 || len > ((size_t)1 << 31))
        return w3sgo_send(h, data, len);
    fast_slot *s = slot_of(h, 0);
    uint32_t flags;
    if (s == NULL || (flags = slot_enter(s, W3S_FAST_WRITE)) == 0) return w3sgo_send(h, data, len);
    if (atomic_load_explicit(&s->handle, memory_order_relaxed) != h) {
        slot_leave(s, flags);
        return w3sgo_send(h, data, len);
    }
    ssize_t n;
    do {
        n = send(s->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    size_t sent = n > 0 ? (size_t)n : 0;
    if (sent) atomic_fetch_add_explicit(&s->bytes_out, sent, memory_order_relaxed);
    if (sent == len) {
        slot_leave(s, flags);
        return 0; /* nothing was queued and nothing is */
    }
    /* The kernel took part (or nothing, or reported an error, which Go's
     * flush meets and reports): the rest waits in Go's queue. It is handed
     * over as the carry, under BUSY, so no other send can come between. */
    uint8_t *rest = malloc(len - sent);
    if (rest == NULL) {
        /* Cannot keep the bytes, cannot unsend the rest: the stream would
         * have a hole. Leave the socket to Go, which fails on its own
         * allocation or sends what it is given; report no memory. */
        slot_leave(s, flags & ~W3S_FAST_WRITE);
        static const char msg[] = "cannot allocate the unsent part of a send";
        w3s_set_error(msg, sizeof msg - 1);
        return W3S_ENOMEM;
    }
    memcpy(rest, (uint8_t *)data + sent, len - sent);
    s->carry = rest;
    s->carry_len = len - sent;
    slot_leave(s, flags & ~W3S_FAST_WRITE);
    return w3sgo_send(h, NULL, 0); /* Go takes the carry; returns what is buffered */
}

/* ---- loops ---- */

#define READ_SIZE (64 * 1024)
#define ARENA_MAX (4u << 20) /* stop reading more sockets in one poll past this */
#define READY_MAX 256
#define READ_ROUNDS 8

struct fast_loop {
    int64_t handle;
    int epfd, efd;
    pthread_mutex_t mu; /* one poller at a time */
    _Atomic int closed, callback_mode;
    int refs; /* under loops_mu */
    uint8_t *arena;
    size_t arena_cap;
    struct epoll_event ready[READY_MAX];
};

static pthread_mutex_t loops_mu = PTHREAD_MUTEX_INITIALIZER;

int w3s_fast_loop_add(int64_t h, int epfd, int efd) {
    fast_slot *s = slot_of(h, 1);
    fast_loop *l = calloc(1, sizeof *l);
    if (s == NULL || l == NULL) {
        free(l);
        return -1;
    }
    l->handle = h;
    l->epfd = epfd;
    l->efd = efd;
    l->refs = 1; /* the table's */
    pthread_mutex_init(&l->mu, NULL);
    pthread_mutex_lock(&loops_mu);
    s->loop = l;
    pthread_mutex_unlock(&loops_mu);
    return 0;
}

static fast_loop *loop_ref(int64_t h) {
    fast_slot *s = slot_of(h, 0);
    if (s == NULL) return NULL;
    pthread_mutex_lock(&loops_mu);
    fast_loop *l = s->loop;
    if (l != NULL && l->handle == h)
        l->refs++;
    else
        l = NULL;
    pthread_mutex_unlock(&loops_mu);
    return l;
}

static void loop_unref(fast_loop *l) {
    pthread_mutex_lock(&loops_mu);
    int last = --l->refs == 0;
    pthread_mutex_unlock(&loops_mu);
    if (last) {
        pthread_mutex_destroy(&l->mu);
        free(l->arena);
        free(l);
    }
}

/* Called by Go before the loop's descriptors close, after waking the loop:
 * new polls stop using them, and a poll in progress is waited for. */
void w3s_fast_loop_retire(int64_t h) {
    fast_slot *s = slot_of(h, 0);
    if (s == NULL) return;
    pthread_mutex_lock(&loops_mu);
    fast_loop *l = s->loop;
    if (l == NULL || l->handle != h) {
        pthread_mutex_unlock(&loops_mu);
        return;
    }
    s->loop = NULL;
    pthread_mutex_unlock(&loops_mu);
    atomic_store(&l->closed, 1);
    pthread_mutex_lock(&l->mu);
    pthread_mutex_unlock(&l->mu);
    loop_unref(l);
}

void w3s_fast_loop_set_callback_mode(int64_t h, int on) {
    fast_loop *l = loop_ref(h);
    if (l == NULL) return;
    atomic_store(&l->callback_mode, on);
    loop_unref(l);
}

/* The callback goroutine polls in Go under the loop's mutex too. */
void *w3s_fast_loop_enter(int64_t h) {
    fast_loop *l = loop_ref(h);
    if (l != NULL) pthread_mutex_lock(&l->mu);
    return l;
}

void w3s_fast_loop_leave(void *p) {
    fast_loop *l = p;
    if (l == NULL) return;
    pthread_mutex_unlock(&l->mu);
    loop_unref(l);
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Makes room for one more read at off. */
static int arena_reserve(fast_loop *l, size_t off) {
    size_t need = off + READ_SIZE + 1;
    if (need <= l->arena_cap) return 0;
    size_t cap = l->arena_cap ? l->arena_cap * 2 : 256 * 1024;
    while (cap < need) cap *= 2;
    uint8_t *p = realloc(l->arena, cap);
    if (p == NULL) return -1;
    l->arena = p;
    l->arena_cap = cap;
    return 0;
}

typedef struct {
    int64_t handle;
    int err; /* 0: end of stream */
} read_end;

#define NEED_GO (-1000000)

/* One poll served in C, or NEED_GO when something needs the Go poll (which
 * then sees the same readiness: the epoll set is level-triggered and
 * nothing was consumed). *timeout_ms is updated to what is left. */
/* A read goes into the host's buffer (w3s_loop_poll_into) while this much
 * of it is left, else into the loop's arena. */
#define HOST_MIN (16 * 1024 + 1)

static int fast_poll(fast_loop *l, w3s_event *events, int max, int *timeout_ms, uint8_t *hbuf,
                     size_t hcap) {
    int64_t deadline = *timeout_ms > 0 ? now_ms() + *timeout_ms : 0;
    int wait = *timeout_ms;
    read_end ends[READY_MAX];
    int n = 0;
    size_t off = 0, hoff = 0;
    size_t offs[READY_MAX]; /* payload offsets, in the arena or (in_host) in hbuf */
    uint8_t in_host[READY_MAX];
    if (l->arena_cap > (1u << 20)) { /* a burst grew it: give it back */
        free(l->arena);
        l->arena = NULL;
        l->arena_cap = 0;
    }
    for (int round = 0; round < READ_ROUNDS; round++) {
        int want = max - n + 1;
        if (want > READY_MAX) want = READY_MAX;
        int k = epoll_wait(l->epfd, l->ready, want, wait);
        if (k < 0) {
            if (errno != EINTR) return NEED_GO; /* Go reports it */
            k = 0;
        }
        int nends = 0;
        int full = 0;
        if (n == 0) {
            /* Anything that is not plain data for a published socket goes
             * to Go, before anything is consumed. */
            for (int i = 0; i < k; i++) {
                uint64_t d = l->ready[i].data.u64;
                int fd = (int32_t)(uint32_t)d;
                uint32_t idx = (uint32_t)(d >> 32);
                fast_slot *s = idx ? slot_of(idx, 0) : NULL;
                if (fd == l->efd || s == NULL || l->ready[i].events != EPOLLIN ||
                    !(atomic_load_explicit(&s->state, memory_order_relaxed) & W3S_FAST_READ) ||
                    s->fd != fd)
                    return NEED_GO;
            }
        }
        for (int i = 0; i < k && n < max; i++) {
            uint64_t d = l->ready[i].data.u64;
            int fd = (int32_t)(uint32_t)d;
            uint32_t idx = (uint32_t)(d >> 32);
            fast_slot *s = idx ? slot_of(idx, 0) : NULL;
            if (s == NULL || l->ready[i].events != EPOLLIN) continue; /* later rounds: next poll */
            int host = hbuf != NULL && hcap - hoff >= HOST_MIN;
            size_t room = READ_SIZE;
            uint8_t *dst;
            if (host) {
                if (room > hcap - hoff - 1) room = hcap - hoff - 1;
                dst = hbuf + hoff;
            } else {
                if (off > ARENA_MAX || arena_reserve(l, off) != 0) break;
                dst = l->arena + off;
            }
            uint32_t flags = slot_enter(s, W3S_FAST_READ);
            if (flags == 0) continue; /* withdrawn meanwhile: Go's next poll */
            int64_t h = atomic_load_explicit(&s->handle, memory_order_relaxed);
            if (s->fd != fd) {
                slot_leave(s, flags);
                continue;
            }
            ssize_t r;
            do {
                r = read(fd, dst, room);
            } while (r < 0 && errno == EINTR);
            int err = r < 0 ? errno : 0;
            if (r > 0) atomic_fetch_add_explicit(&s->bytes_in, (uint64_t)r, memory_order_relaxed);
            uint64_t ud = atomic_load_explicit(&s->user_data, memory_order_relaxed);
            slot_leave(s, flags);
            if (r > 0) {
                w3s_event *e = &events[n];
                e->handle = h;
                e->user_data = ud;
                e->type = W3S_EV_DATA;
                e->error = 0;
                e->len = (uint64_t)r;
                e->accepted = 0;
                e->port = 0;
                e->family = 0;
                e->reserved = 0;
                e->address[0] = 0;
                dst[r] = 0;
                in_host[n] = (uint8_t)host;
                if (host) {
                    offs[n++] = hoff;
                    hoff += (size_t)r + 1;
                } else {
                    offs[n++] = off;
                    off += (size_t)r + 1;
                }
                full |= (size_t)r == room;
            } else if (r == 0 || (err != EAGAIN && err != EWOULDBLOCK)) {
                ends[nends].handle = h;
                ends[nends++].err = err;
            }
        }
        /* End of stream and errors are Go's to report (END, ERROR, CLOSE
         * through its queue, after the data returned here). */
        for (int i = 0; i < nends; i++) w3sgo_fast_read_result(ends[i].handle, ends[i].err);
        if (n > 0 && (!full || n >= max || off > ARENA_MAX)) break;
        if (n > 0) {
            wait = 0; /* a read filled its buffer: take what else is there */
            continue;
        }
        if (nends > 0) return NEED_GO; /* deliver what Go queued */
        if (*timeout_ms == 0) return 0;
        if (*timeout_ms > 0) {
            int64_t left = deadline - now_ms();
            if (left <= 0) return 0;
            wait = (int)left;
        }
        round = -1; /* nothing consumed yet: wait again (every round may be a wait) */
    }
    for (int i = 0; i < n; i++) events[i].data = (in_host[i] ? hbuf : l->arena) + offs[i];
    if (*timeout_ms > 0) {
        int64_t left = deadline - now_ms();
        *timeout_ms = left > 0 ? (int)left : 0;
    }
    return n;
}

static int poll_common(int64_t h, w3s_event *events, int max, int timeout_ms, uint8_t *hbuf,
                       size_t hcap) {
    if (w3s_forked || events == NULL || max < 1) return w3sgo_loop_poll(h, events, max, timeout_ms);
    fast_loop *l = loop_ref(h);
    if (l == NULL) return w3sgo_loop_poll(h, events, max, timeout_ms);
    if (atomic_load(&l->callback_mode)) {
        loop_unref(l);
        return w3sgo_loop_poll(h, events, max, timeout_ms); /* refuses: W3S_ESTATE */
    }
    pthread_mutex_lock(&l->mu);
    if (atomic_load(&l->closed)) {
        /* Closing: the descriptors may be gone; Go answers (EBADF). */
        pthread_mutex_unlock(&l->mu);
        loop_unref(l);
        return w3sgo_loop_poll(h, events, max, timeout_ms);
    }
    int left = timeout_ms < 0 ? -1 : timeout_ms;
    int n = fast_poll(l, events, max, &left, hbuf, hcap);
    if (n == NEED_GO) n = w3sgo_loop_poll(h, events, max, left);
    pthread_mutex_unlock(&l->mu);
    loop_unref(l);
    return n;
}

int w3s_loop_poll(int64_t h, w3s_event *events, int max, int timeout_ms) {
    return poll_common(h, events, max, timeout_ms, NULL, 0);
}

int w3s_loop_poll_into(int64_t h, w3s_event *events, int max, int timeout_ms, void *buf,
                       size_t cap) {
    if (buf == NULL && cap > 0) {
        static const char msg[] = "w3s_loop_poll_into: buf is NULL but cap > 0";
        w3s_set_error(msg, sizeof msg - 1);
        return W3S_EINVAL;
    }
    return poll_common(h, events, max, timeout_ms, buf, buf ? cap : 0);
}
