/* capi/fastpath.c's protocol with its Go half (modelled by go_standin.c),
 * driven from several threads at once: senders on one socket, a thread
 * that pauses, resumes and changes the high-water mark, and the polling
 * thread that flushes the host thread's queue; the peer checks that every
 * record arrives once, whole and in each sender's order. Built with
 * ThreadSanitizer and with AddressSanitizer (make test-tsan); either
 * sanitizer's report, a broken record or a missing one fails it. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fastpath.h"
#include "go_standin.h"

#define SENDERS 4
#define RECORDS 400
#define MAXLEN 3000
#define HDR 12
#define LOOP_H ((int64_t)1 << 32 | 1)
#define SOCK_H ((int64_t)1 << 32 | 2)

#define SCRIPTED SENDERS /* the records of the scripted part */

static int stop_churn, stop_poll;
static uint32_t sent[SENDERS + 1];

static void fill(uint8_t *b, unsigned t, uint32_t seq, uint32_t len) {
    b[0] = (uint8_t)t, b[1] = 0x5E, b[2] = 0xC0, b[3] = 0;
    memcpy(b + 4, &seq, 4);
    memcpy(b + 8, &len, 4);
    for (uint32_t i = 0; i < len; i++) b[HDR + i] = (uint8_t)(t * 31 + seq * 7 + i);
}

static void *sender(void *arg) {
    unsigned t = (unsigned)(uintptr_t)arg;
    static __thread uint8_t buf[HDR + MAXLEN];
    uint64_t rng = 88172645463325252ull * (t + 1);
    for (uint32_t seq = 0; seq < RECORDS; seq++) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        uint32_t len = 1 + (uint32_t)(rng % MAXLEN);
        fill(buf, t, seq, len);
        if (w3s_send(SOCK_H, buf, HDR + len) < 0) {
            fprintf(stderr, "sender %u: w3s_send failed\n", t);
            exit(2);
        }
        __atomic_store_n(&sent[t], seq + 1, __ATOMIC_RELEASE);
    }
    return NULL;
}

static void *churn(void *arg) {
    (void)arg;
    uint64_t rng = 0x2545F4914F6CDD1Dull;
    while (!__atomic_load_n(&stop_churn, __ATOMIC_ACQUIRE)) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        switch (rng % 3) {
        case 0: go_pause(); break;
        case 1: go_resume(); break;
        default: go_set_high_water(4096 + (int64_t)(rng >> 32) % 65536); break;
        }
    }
    return NULL;
}

/* The scripted part (single-threaded, so the interleaving is certain):
 * while the socket is paused (not registered in the epoll set) and the
 * peer does not read, a send the kernel does not take whole leaves its
 * tail with the C side, which drops its own permission to write and hands
 * the tail to Go. Before Go takes it, the high-water mark changes (Go
 * republishes its flags) and another send comes in: it must queue behind
 * the tail, not overtake or replace it. */
static uint8_t script_buf[HDR + MAXLEN];

static int64_t scripted_send(void) {
    /* Counted first: the hook sends the next record from inside this send. */
    uint32_t seq = sent[SCRIPTED]++;
    fill(script_buf, SCRIPTED, seq, MAXLEN);
    return w3s_send(SOCK_H, script_buf, HDR + MAXLEN);
}

static int hook_ran;

static void in_the_window(void) {
    go_set_high_water(32768);
    scripted_send();
    hook_ran = 1;
}

static void scripted_part(void) {
    go_pause();
    go_handoff_hook = in_the_window;
    for (int i = 0; i < 10000 && !hook_ran; i++)
        if (scripted_send() < 0) exit(2);
    go_handoff_hook = NULL;
    go_resume();
    printf("%s the scripted hand-over ran after %u records\n", hook_ran ? "ok  " : "not ok",
           sent[SCRIPTED]);
    if (!hook_ran) exit(1);
}

static void *poller(void *arg) {
    (void)arg;
    w3s_event evs[64];
    while (!__atomic_load_n(&stop_poll, __ATOMIC_ACQUIRE)) w3s_loop_poll(LOOP_H, evs, 64, 5);
    return NULL;
}

typedef struct {
    int fd;
    uint32_t next[SENDERS + 1];
    uint64_t records, bytes;
    int broken;
} peer_state;

static void *peer(void *arg) {
    peer_state *p = arg;
    size_t cap = 1 << 20, len = 0;
    uint8_t *buf = malloc(cap);
    for (;;) {
        ssize_t n = read(p->fd, buf + len, cap - len > 65536 ? 65536 : cap - len);
        if (n <= 0) break;
        p->bytes += (uint64_t)n;
        len += (size_t)n;
        size_t off = 0;
        while (!p->broken && len - off >= HDR) {
            uint8_t *r = buf + off;
            uint32_t seq, l;
            memcpy(&seq, r + 4, 4);
            memcpy(&l, r + 8, 4);
            unsigned t = r[0];
            if (t > SENDERS || r[1] != 0x5E || r[2] != 0xC0 || l == 0 || l > MAXLEN) {
                fprintf(stderr, "peer: bad record header after %llu records\n", (unsigned long long)p->records);
                p->broken = 1;
                break;
            }
            if (len - off < HDR + l) break;
            int ok = seq == p->next[t];
            for (uint32_t i = 0; ok && i < l; i++) ok = r[HDR + i] == (uint8_t)(t * 31 + seq * 7 + i);
            if (!ok) {
                fprintf(stderr, "peer: sender %u: record %u where %u was due (or its bytes differ)\n", t, seq,
                        p->next[t]);
                p->broken = 1;
                break;
            }
            p->next[t]++;
            p->records++;
            off += HDR + l;
        }
        if (p->broken) off = len; /* keep draining so the senders can finish */
        memmove(buf, buf + off, len - off);
        len -= off;
    }
    free(buf);
    return NULL;
}

int main(void) {
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (bind(lfd, (struct sockaddr *)&a, sizeof a) || listen(lfd, 1) ||
        getsockname(lfd, (struct sockaddr *)&a, &al))
        return 2;
    int fd = socket(AF_INET, SOCK_STREAM, 0), small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small); /* partial writes are common */
    if (connect(fd, (struct sockaddr *)&a, sizeof a)) return 2;
    peer_state ps;
    memset(&ps, 0, sizeof ps);
    ps.fd = accept(lfd, NULL, NULL);
    int epfd = epoll_create1(EPOLL_CLOEXEC), efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    go_open(LOOP_H, epfd, efd, SOCK_H, fd, 16384);

    scripted_part();
    pthread_t th[SENDERS], ch, po, pe;
    pthread_create(&pe, NULL, peer, &ps);
    pthread_create(&po, NULL, poller, NULL);
    pthread_create(&ch, NULL, churn, NULL);
    for (unsigned t = 0; t < SENDERS; t++) pthread_create(&th[t], NULL, sender, (void *)(uintptr_t)t);
    for (unsigned t = 0; t < SENDERS; t++) pthread_join(th[t], NULL);
    __atomic_store_n(&stop_churn, 1, __ATOMIC_RELEASE);
    pthread_join(ch, NULL);
    go_resume();
    __atomic_store_n(&stop_poll, 1, __ATOMIC_RELEASE);
    pthread_join(po, NULL);
    go_finish(); /* Go takes and writes all that is left */
    shutdown(fd, SHUT_WR);
    pthread_join(pe, NULL);
    int fails = ps.broken;
    for (unsigned t = 0; t <= SENDERS; t++) {
        if (ps.next[t] != sent[t]) {
            printf("not ok sender %u: %u records sent, %u arrived in order\n", t, sent[t], ps.next[t]);
            fails++;
        }
    }
    printf("%s %llu records (%llu bytes) from %d threads arrived once, whole and in order\n",
           fails ? "not ok" : "ok  ", (unsigned long long)ps.records, (unsigned long long)ps.bytes, SENDERS);
    close(fd), close(ps.fd), close(lfd), close(epfd), close(efd);
    return fails ? 1 : 0;
}
