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
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "_cgo_export.h"
#include "fastpath.h"

#define BUSY 0x80000000u
/* Go is waiting to publish: the host thread stops taking BUSY (its calls
 * fall back to Go, which waits for the socket's lock), so a thread that
 * sends in a tight loop cannot keep a close or pause waiting. */
#define CLAIM 0x40000000u

/* ---- the slot table: one slot per handle index, pages made on demand ---- */

typedef struct fast_loop fast_loop;

/* Output the host thread queued while the kernel's send buffer was full. */
typedef struct out_chunk {
    struct out_chunk *next;
    size_t len, off; /* data[off, len) is still to be sent */
    uint8_t data[];
} out_chunk;

typedef struct fast_slot {
    _Atomic uint32_t state; /* W3S_FAST_* | BUSY */
    _Atomic int64_t handle; /* the handle now using the index */
    _Atomic uint64_t user_data;
    _Atomic uint64_t bytes_in, bytes_out; /* counted here, harvested by Go */
    _Atomic uint64_t queued;              /* bytes in the queue below */
    /* Written under BUSY; the poll also peeks at fd without it to sort
     * readiness (then checks again under BUSY), hence atomic. */
    _Atomic int fd;
    /* The rest is written and read under BUSY. */
    int epfd;            /* the loop's epoll set */
    uint32_t watch_mask; /* Go's registration of fd there; 0: not registered */
    int out_armed;       /* we added EPOLLOUT to it (while the queue is not empty) */
    int gave_up_write;   /* the host thread dropped FAST_WRITE itself, leaving output for Go */
    int need_drain;      /* the queue reached high_water: DRAIN when it empties */
    int64_t high_water;
    out_chunk *q_head, *q_tail;
    uint8_t *carry; /* the unsent rest of a partial write when there is no queue */
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
        if ((st & need) != need || (st & CLAIM)) return 0;
        if (!(st & BUSY) &&
            atomic_compare_exchange_weak_explicit(&s->state, &st, st | BUSY, memory_order_acquire,
                                                  memory_order_relaxed))
            return st;
        relax(spins);
    }
}

/* Host side: releases BUSY with flags (what it held, or fewer), keeping a
 * CLAIM raised meanwhile. */
static inline void slot_leave(fast_slot *s, uint32_t flags) {
    uint32_t st = atomic_load_explicit(&s->state, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&s->state, &st, (st & CLAIM) | flags,
                                                  memory_order_release, memory_order_relaxed)) {
    }
}

/* Go side: publishes flags, releasing BUSY and its CLAIM. */
static inline void slot_unlock(fast_slot *s, uint32_t flags) {
    atomic_store_explicit(&s->state, flags, memory_order_release);
}

/* Go side (one caller at a time per slot: it holds the socket's lock):
 * takes BUSY whatever the flags, first raising CLAIM so that no host
 * thread takes BUSY again meanwhile; the holder's one syscall is all it
 * waits for. slot_leave clears CLAIM with everything else. */
static void slot_lock(fast_slot *s) {
    atomic_fetch_or_explicit(&s->state, CLAIM, memory_order_acq_rel);
    for (int spins = 0;; spins++) {
        uint32_t st = atomic_load_explicit(&s->state, memory_order_acquire);
        if (!(st & BUSY) &&
            atomic_compare_exchange_weak_explicit(&s->state, &st, st | BUSY, memory_order_acquire,
                                                  memory_order_relaxed))
            return;
        relax(spins);
    }
}


/* Sets fd's registration in the loop's epoll set: Go's mask, plus
 * EPOLLOUT while our queue waits for room. */
static void set_armed(fast_slot *s, int armed) {
    if (s->out_armed == armed) return;
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = s->watch_mask | (armed ? EPOLLOUT : 0);
    ev.data.u64 = (uint32_t)s->fd | ((uint64_t)(uint32_t)(atomic_load(&s->handle) & 0xffffffff) << 32);
    if (epoll_ctl(s->epfd, EPOLL_CTL_MOD, s->fd, &ev) == 0) s->out_armed = armed;
}

/* Takes the queue (and a carry) as one malloc'd block, in order; disarms
 * EPOLLOUT so the registration is Go's again. Under BUSY. */
static void take_output(fast_slot *s, w3s_fast_taken *t) {
    size_t n = s->carry_len;
    for (out_chunk *c = s->q_head; c; c = c->next) n += c->len - c->off;
    set_armed(s, 0);
    s->out_armed = 0; /* the registration is Go's from here on, whatever epoll said */
    t->need_drain = s->need_drain;
    s->need_drain = 0;
    if (n == 0) return;
    uint8_t *p = s->carry;
    if (s->q_head != NULL) {
        p = malloc(n);
        if (p != NULL) {
            size_t o = 0;
            if (s->carry) memcpy(p, s->carry, s->carry_len), o = s->carry_len;
            for (out_chunk *c = s->q_head; c; c = c->next) {
                memcpy(p + o, c->data + c->off, c->len - c->off);
                o += c->len - c->off;
            }
        }
        /* else: no memory for the hand-over; the bytes are lost and Go is
         * told below to fail the socket rather than send a stream with a hole. */
        free(s->carry);
        for (out_chunk *c = s->q_head, *next; c; c = next) {
            next = c->next;
            free(c);
        }
    }
    s->q_head = s->q_tail = NULL;
    s->carry = NULL;
    s->carry_len = 0;
    atomic_store(&s->queued, 0);
    t->carry = p;
    t->carry_len = p ? n : 0;
    if (p == NULL) t->need_drain = -1;
}

void w3s_fast_publish(const w3s_fast_pub *pub, w3s_fast_taken *t) {
    memset(t, 0, sizeof *t);
    int64_t h = pub->handle;
    fast_slot *s = slot_of(h, pub->flags != 0);
    if (s == NULL) return; /* nothing was ever published (or no memory: stay in Go) */
    slot_lock(s);
    if (atomic_load_explicit(&s->handle, memory_order_relaxed) == h) {
        t->bytes_in = atomic_exchange(&s->bytes_in, 0);
        t->bytes_out = atomic_exchange(&s->bytes_out, 0);
    }
    /* Go asks for the output whenever it withdraws writes (and the slot of
     * a handle that is gone has none: it published 0 first). Output the
     * host thread left for Go after dropping FAST_WRITE itself is handed
     * over at the first publish, whatever it grants, and FAST_WRITE is
     * then withheld: Go republishes when only other flags change and does
     * not know the host thread dropped it, and a write granted now would
     * overtake (or, after another partial write, replace) that output.
     * Go sees the output come back and records FAST_WRITE as withdrawn. */
    uint32_t flags = pub->flags;
    if (!(flags & W3S_FAST_WRITE) || atomic_load(&s->handle) != h || s->gave_up_write) {
        if (s->gave_up_write) flags &= ~W3S_FAST_WRITE;
        s->gave_up_write = 0;
        take_output(s, t);
    }
    if (pub->flags == 0) {
        atomic_store(&s->handle, 0);
        slot_unlock(s, 0);
        return;
    }
    if (atomic_load_explicit(&s->handle, memory_order_relaxed) != h) {
        atomic_store(&s->bytes_in, 0);
        atomic_store(&s->bytes_out, 0);
        atomic_store(&s->handle, h);
    }
    s->fd = pub->fd;
    s->epfd = pub->epfd;
    s->watch_mask = pub->watch_mask;
    s->high_water = pub->high_water;
    atomic_store(&s->user_data, pub->user_data);
    slot_unlock(s, flags);
}

void w3s_fast_harvest(int64_t h, uint64_t *bytes_in, uint64_t *bytes_out, uint64_t *queued) {
    *bytes_in = *bytes_out = *queued = 0;
    fast_slot *s = slot_of(h, 0);
    if (s == NULL || atomic_load(&s->handle) != h) return;
    *bytes_in = atomic_exchange(&s->bytes_in, 0);
    *bytes_out = atomic_exchange(&s->bytes_out, 0);
    *queued = atomic_load(&s->queued);
}

void w3s_fast_set_user_data(int64_t h, uint64_t user_data) {
    fast_slot *s = slot_of(h, 0);
    if (s != NULL && atomic_load(&s->handle) == h) atomic_store(&s->user_data, user_data);
}

/* ---- w3s_send ---- */

static int enqueue(fast_slot *s, const uint8_t *p, size_t n) {
    out_chunk *c = malloc(sizeof *c + n);
    if (c == NULL) return -1;
    c->next = NULL;
    c->len = n;
    c->off = 0;
    memcpy(c->data, p, n);
    if (s->q_tail)
        s->q_tail->next = c;
    else
        s->q_head = c;
    s->q_tail = c;
    uint64_t q = atomic_load(&s->queued) + n;
    atomic_store(&s->queued, q);
    if ((int64_t)q >= s->high_water) s->need_drain = 1;
    return 0;
}

int64_t w3s_send(int64_t h, void *data, size_t len) {
    if (__builtin_expect(w3s_forked, 0)) return w3s_forked_error(); /* never Go in a child */
    if (data == NULL || len == 0 || len > ((size_t)1 << 31))
        return w3sgo_send(h, data, len);
    fast_slot *s = slot_of(h, 0);
    uint32_t flags;
    if (s == NULL || (flags = slot_enter(s, W3S_FAST_WRITE)) == 0) return w3sgo_send(h, data, len);
    if (atomic_load_explicit(&s->handle, memory_order_relaxed) != h) {
        slot_leave(s, flags);
        return w3sgo_send(h, data, len);
    }
    size_t sent = 0;
    if (s->q_head == NULL) {
        ssize_t n;
        do {
            n = send(s->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        } while (n < 0 && errno == EINTR);
        sent = n > 0 ? (size_t)n : 0;
        if (sent) atomic_fetch_add_explicit(&s->bytes_out, sent, memory_order_relaxed);
        if (sent == len) {
            slot_leave(s, flags);
            return 0; /* nothing was queued and nothing is */
        }
    }
    /* The rest waits: in our queue, flushed by the poll when the socket
     * turns writable, as libuv would; or, where we cannot watch the socket,
     * in Go's queue, handed over as the carry under BUSY so no other send
     * can come between. A send error is met again by whoever flushes. */
    const uint8_t *rest = (const uint8_t *)data + sent;
    size_t n = len - sent;
    if (s->watch_mask != 0 && enqueue(s, rest, n) == 0) {
        set_armed(s, 1);
        if (s->out_armed) {
            int64_t q = (int64_t)atomic_load(&s->queued);
            slot_leave(s, flags);
            return q;
        }
    } else {
        uint8_t *c = malloc(n);
        if (c != NULL) {
            memcpy(c, rest, n);
            s->carry = c;
            s->carry_len = n;
        } else if (sent == 0) {
            /* Nothing of this send went out: it fails as a whole, and the
             * socket goes on as before (a failed call emits no event). */
            slot_leave(s, flags);
            static const char msg[] = "cannot allocate memory to queue the send";
            w3s_set_error(msg, sizeof msg - 1);
            return W3S_ENOMEM;
        } else {
            /* Part of this send is on the wire, so it cannot fail now: the
             * rest must follow, before any other send. Still under BUSY,
             * Go copies it into its own memory (its heap is not malloc's),
             * and its publish below takes it as the carry. */
            w3sgo_fast_stash(h, (void *)rest, n);
        }
    }
    /* Go takes our output at its next publish (w3sgo_send claims it). */
    s->gave_up_write = 1;
    slot_leave(s, flags & ~W3S_FAST_WRITE);
    int64_t q = w3sgo_send(h, NULL, 0);
    /* This send is done (part of it may be on the wire, the rest is Go's
     * now); a close or abort that came meanwhile makes Go's empty send
     * fail, but that failure is not this send's: report it as queued. */
    return q < 0 ? (int64_t)n : q;
}

/* Writes queued output on the poll's thread (EPOLLOUT). Returns 1 when the
 * queue emptied after reaching the high-water mark (a DRAIN is due), -1
 * when the socket failed (Go must take over and report it), else 0. */
static int flush(fast_slot *s) {
    struct iovec iov[64];
    while (s->q_head != NULL) {
        int k = 0;
        for (out_chunk *c = s->q_head; c && k < 64; c = c->next, k++) {
            iov[k].iov_base = c->data + c->off;
            iov[k].iov_len = c->len - c->off;
        }
        struct msghdr m;
        memset(&m, 0, sizeof m);
        m.msg_iov = iov;
        m.msg_iovlen = (size_t)k;
        ssize_t n;
        do {
            n = sendmsg(s->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
        } while (n < 0 && errno == EINTR);
        if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
        atomic_fetch_add_explicit(&s->bytes_out, (uint64_t)n, memory_order_relaxed);
        atomic_store(&s->queued, atomic_load(&s->queued) - (uint64_t)n);
        size_t left = (size_t)n;
        while (left > 0) {
            out_chunk *c = s->q_head;
            size_t k2 = c->len - c->off;
            if (left < k2) {
                c->off += left;
                break;
            }
            left -= k2;
            s->q_head = c->next;
            free(c);
        }
        if (s->q_head == NULL) s->q_tail = NULL;
    }
    set_armed(s, 0);
    int drain = s->need_drain;
    s->need_drain = 0;
    return drain;
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
    size_t ev_size; /* the caller's sizeof(w3s_event): its arrays' stride */
    uint8_t *arena;
    size_t arena_cap;
    struct epoll_event ready[READY_MAX];
};

static pthread_mutex_t loops_mu = PTHREAD_MUTEX_INITIALIZER;

int w3s_fast_loop_add(int64_t h, int epfd, int efd, size_t event_size) {
    fast_slot *s = slot_of(h, 1);
    fast_loop *l = calloc(1, sizeof *l);
    if (s == NULL || l == NULL) {
        free(l);
        return -1;
    }
    l->handle = h;
    l->epfd = epfd;
    l->efd = efd;
    l->ev_size = event_size;
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

#define NEED_GO (-1000000)

/* A read goes into the host's buffer (w3s_loop_poll_into) while this much
 * of it is left, else into the loop's arena. */
#define HOST_MIN (16 * 1024 + 1)

/* What the poll may do with a ready socket itself: EPOLLIN of a socket
 * published for reading, EPOLLOUT of one whose queue is ours. */
static int served_here(fast_loop *l, const struct epoll_event *ev, fast_slot **out) {
    uint64_t d = ev->data.u64;
    int fd = (int32_t)(uint32_t)d;
    uint32_t idx = (uint32_t)(d >> 32);
    fast_slot *s = idx ? slot_of(idx, 0) : NULL;
    *out = s;
    if (fd == l->efd || s == NULL || atomic_load_explicit(&s->fd, memory_order_relaxed) != fd) return 0;
    uint32_t st = atomic_load_explicit(&s->state, memory_order_relaxed);
    uint32_t ok = ((st & W3S_FAST_READ) ? EPOLLIN : 0) | ((st & W3S_FAST_WRITE) ? EPOLLOUT : 0);
    return ev->events != 0 && (ev->events & ~ok) == 0;
}

/* The i-th element of the caller's events array. The library's w3s_event
 * is the first ABI's, the smallest stride a loop accepts, so every field
 * written here lies inside the caller's element. */
static inline w3s_event *event_at(const fast_loop *l, w3s_event *events, int i) {
    return (w3s_event *)((uint8_t *)events + (size_t)i * l->ev_size);
}

static void fill_event(const fast_loop *l, w3s_event *e, int64_t h, uint64_t ud, int type, uint64_t len) {
    /* A caller built against a later header: its fields we do not have read as zero. */
    if (l->ev_size > sizeof *e) memset(e + 1, 0, l->ev_size - sizeof *e);
    e->handle = h;
    e->user_data = ud;
    e->type = type;
    e->error = 0;
    e->len = len;
    e->accepted = 0;
    e->port = 0;
    e->family = 0;
    e->reserved = 0;
    e->address[0] = 0;
}

enum { IN_ARENA, IN_HOST };

/* One poll served in C, or NEED_GO when something needs the Go poll (which
 * then sees the same readiness: the epoll set is level-triggered and
 * nothing was consumed). *timeout_ms is updated to what is left. */
static int fast_poll(fast_loop *l, w3s_event *events, int max, int *timeout_ms, uint8_t *hbuf,
                     size_t hcap) {
    int64_t deadline = *timeout_ms > 0 ? now_ms() + *timeout_ms : 0;
    int wait = *timeout_ms;
    int64_t to_go[READY_MAX]; /* sockets whose end, error or failed flush Go reports */
    int ends_err[READY_MAX];  /* errno of a read (0: end of stream) */
    int n = 0;
    size_t off = 0, hoff = 0;
    size_t offs[READY_MAX]; /* payload offsets in the arena or in hbuf */
    uint8_t where[READY_MAX];
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
        fast_slot *s;
        if (n == 0) {
            /* Anything else goes to Go, before anything is consumed. */
            for (int i = 0; i < k; i++)
                if (!served_here(l, &l->ready[i], &s)) return NEED_GO;
        }
        int ngo = 0, full = 0;
        for (int i = 0; i < k && n < max; i++) {
            /* Later rounds take only what is served here; the rest waits
             * for the next poll (the host's fd stays readable). */
            if (!served_here(l, &l->ready[i], &s)) continue;
            int fd = (int32_t)(uint32_t)l->ready[i].data.u64;
            uint32_t evs = l->ready[i].events;
            if (evs & EPOLLOUT) {
                uint32_t flags = slot_enter(s, W3S_FAST_WRITE);
                if (flags != 0) {
                    int64_t h = atomic_load_explicit(&s->handle, memory_order_relaxed);
                    int r = s->fd == fd ? flush(s) : 0;
                    uint64_t ud = atomic_load_explicit(&s->user_data, memory_order_relaxed);
                    if (r < 0) s->gave_up_write = 1;
                    slot_leave(s, r < 0 ? flags & ~W3S_FAST_WRITE : flags);
                    if (r < 0) {
                        to_go[ngo++] = -h; /* negative: a failed flush */
                    } else if (r > 0 && arena_reserve(l, off) == 0) {
                        /* no payload: data points at a NUL, as Go's events do */
                        fill_event(l, event_at(l, events, n), h, ud, W3S_EV_DRAIN, 0);
                        l->arena[off] = 0;
                        where[n] = IN_ARENA;
                        offs[n++] = off++;
                    } else if (r > 0) {
                        s->need_drain = 1; /* no memory for the event now: next flush */
                    }
                }
                if (!(evs & EPOLLIN) || n >= max) continue;
            }
            int host = hbuf != NULL && hcap - hoff >= HOST_MIN;
            if (!host && hbuf != NULL && hcap >= HOST_MIN) {
                /* The caller's buffer is full: the rest waits in the kernel
                 * for the next poll rather than be copied out of ours. */
                if (n > 0) break;
                continue;
            }
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
                fill_event(l, event_at(l, events, n), h, ud, W3S_EV_DATA, (uint64_t)r);
                dst[r] = 0;
                where[n] = host ? IN_HOST : IN_ARENA;
                if (host) {
                    offs[n++] = hoff;
                    hoff += (size_t)r + 1;
                } else {
                    offs[n++] = off;
                    off += (size_t)r + 1;
                }
                full |= (size_t)r == room;
            } else if (r == 0 || (err != EAGAIN && err != EWOULDBLOCK)) {
                to_go[ngo++] = h;
                ends_err[ngo - 1] = err;
            }
        }
        /* End of stream, errors and failed flushes are Go's to report (END,
         * ERROR, CLOSE through its queue, after what is returned here). */
        for (int i = 0; i < ngo; i++) {
            if (to_go[i] < 0)
                w3sgo_send(-to_go[i], NULL, 0); /* Go takes the queue; its flush meets the error */
            else
                w3sgo_fast_read_result(to_go[i], ends_err[i]);
        }
        if (n > 0 && (!full || n >= max || off > ARENA_MAX ||
                      (hbuf != NULL && hcap >= HOST_MIN && hcap - hoff < HOST_MIN)))
            break;
        if (n > 0) {
            wait = 0; /* a read filled its buffer: take what else is there */
            continue;
        }
        if (ngo > 0) return NEED_GO; /* deliver what Go queued */
        if (*timeout_ms == 0) return 0;
        if (*timeout_ms > 0) {
            int64_t left = deadline - now_ms();
            if (left <= 0) return 0;
            wait = (int)left;
        }
        round = -1; /* nothing consumed yet: wait again (every round may be a wait) */
    }
    for (int i = 0; i < n; i++)
        event_at(l, events, i)->data = (where[i] == IN_HOST ? hbuf : l->arena) + offs[i];
    if (*timeout_ms > 0) {
        int64_t left = deadline - now_ms();
        *timeout_ms = left > 0 ? (int)left : 0;
    }
    return n;
}

static int poll_common(int64_t h, w3s_event *events, int max, int timeout_ms, uint8_t *hbuf,
                       size_t hcap) {
    if (events == NULL || max < 1) return w3sgo_loop_poll(h, events, max, timeout_ms);
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
    if (__builtin_expect(w3s_forked, 0)) return w3s_forked_error(); /* never Go in a child */
    return poll_common(h, events, max, timeout_ms, NULL, 0);
}

int w3s_loop_poll_into(int64_t h, w3s_event *events, int max, int timeout_ms, void *buf,
                       size_t cap) {
    if (__builtin_expect(w3s_forked, 0)) return w3s_forked_error(); /* never Go in a child */
    if (buf == NULL && cap > 0) {
        static const char msg[] = "w3s_loop_poll_into: buf is NULL but cap > 0";
        w3s_set_error(msg, sizeof msg - 1);
        return W3S_EINVAL;
    }
    return poll_common(h, events, max, timeout_ms, buf, buf ? cap : 0);
}
