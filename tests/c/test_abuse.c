/* Concurrency abuse of the C ABI:
 *   1. threads call every socket function on live, stale and random
 *      handles while another thread polls and a transfer runs: every call
 *      returns success or a named W3S_E* code, nothing crashes, and the
 *      transfer stays intact;
 *   2. a loop closed while a thread sends on its socket and another polls
 *      it: later calls fail with W3S_EBADF;
 *   3. w3s_shutdown while calls are in flight (in a process of its own:
 *      shutdown is final): they return, then fail with W3S_ESHUTDOWN;
 *   4. a stale handle whose descriptor number was reused by a new socket:
 *      no byte sent on it reaches the new socket. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdint.h>
#include <unistd.h>

#include "testutil.h"

#define LD(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define ST(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)
#define INC(p) __atomic_add_fetch((p), 1, __ATOMIC_SEQ_CST)

static int unnamed; /* calls that returned a code without a name */

static void named(int64_t rc) {
    if (rc < 0 && strcmp(w3s_err_name((int)rc), "W3S_UNKNOWN") == 0) {
        printf("# unnamed return code %lld\n", (long long)rc);
        INC(&unnamed);
    }
}

/* Calls every socket function once on h (never close/abort: the caller
 * decides which handles may die). */
static void every_call(int64_t h, uint64_t *rng) {
    w3s_info in;
    int64_t v;
    w3s_group g[2];
    *rng ^= *rng << 13, *rng ^= *rng >> 7, *rng ^= *rng << 17;
    switch (*rng % 14) {
    case 0: named(w3s_send(h, "abuse", 5)); break;
    case 1: named(w3s_send_to(h, "x", 1, "127.0.0.1", 9)); break;
    case 2: named(w3s_pause(h)); break;
    case 3: named(w3s_resume(h)); break;
    case 4: in.size = sizeof in; named(w3s_get_info(h, &in)); break;
    case 5: named(w3s_get_option(h, W3S_OPT_NO_DELAY, &v)); break;
    case 6: named(w3s_set_option(h, W3S_OPT_HIGH_WATER_SEND, 1 + (int64_t)(*rng >> 40) % 100000)); break;
    case 7: named(w3s_set_user_data(h, *rng)); break;
    case 8: named(w3s_udp_set_peer(h, "127.0.0.1", 9)); break;
    case 9: named(w3s_join_group(h, "239.1.2.3", NULL)); break;
    case 10: named(w3s_get_joined_groups(h, g, 2)); break;
    case 11: named(w3s_start_tls(h, NULL)); break;
    case 12: named(w3s_send_file(h, "/nonexistent", 0, -1)); break;
    default: named(w3s_set_option(h, W3S_OPT_KEEP_ALIVE, 1)); break;
    }
}

/* ---- 1 ---- */

static int64_t g_loop, g_c, g_a, g_stale[8];
static int g_stop;

static void *abuser(void *arg) {
    uint64_t rng = 0x9E3779B97F4A7C15ull * (uint64_t)((intptr_t)arg + 1);
    while (!LD(&g_stop)) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        int64_t h;
        switch (rng % 4) {
        case 0: h = g_stale[rng % 8]; break;
        case 1: h = (int64_t)(rng >> 1); break; /* random */
        case 2: h = -(int64_t)(rng % 1000); break;
        default: h = (int64_t)((rng >> 8) % 70000); break; /* small numbers near real indexes */
        }
        every_call(h, &rng);
        /* Live sockets too, with calls that leave the transfer intact. */
        w3s_info in;
        in.size = sizeof in;
        named(w3s_get_info(g_c, &in));
        named(w3s_set_user_data(g_a, 7));
    }
    return NULL;
}

static void test_every_function(void) {
    g_loop = w3s_loop_new();
    int64_t srv = t_listen(g_loop, NULL, 0);
    REQUIRE(g_loop > 0 && srv > 0, "loop and listener");
    /* Stale handles: sockets made and closed. */
    for (int i = 0; i < 8; i++) {
        int64_t c, a;
        REQUIRE(t_pair(g_loop, g_loop, srv, NULL, &c, &a), "pair %d", i);
        w3s_abort(c), w3s_abort(a);
        g_stale[i] = i % 2 ? c : a;
    }
    for (int n = 0; n < 200 && t_pump(g_loop, 5, NULL, NULL) > 0; n++) {
    }
    REQUIRE(t_pair(g_loop, g_loop, srv, NULL, &g_c, &g_a), "live pair");
    pthread_t th[4];
    for (intptr_t i = 0; i < 4; i++) pthread_create(&th[i], NULL, abuser, (void *)i);
    const uint64_t total = 4u << 20;
    uint64_t sent = 0, got = 0;
    int bad = 0;
    static uint8_t chunk[16384];
    w3s_event evs[64];
    for (double end = t_now() + 60; got < total && !bad && t_now() < end;) {
        if (sent < total) {
            t_fill(5, sent, chunk, sizeof chunk);
            int64_t rc = w3s_send(g_c, chunk, sizeof chunk);
            if (rc >= 0) sent += sizeof chunk;
        }
        int n = w3s_loop_poll(g_loop, evs, 64, 1);
        for (int i = 0; i < n; i++) {
            if (evs[i].handle == g_a && evs[i].type == W3S_EV_DATA) {
                if (t_bad(5, got, evs[i].data, evs[i].len) != evs[i].len) bad = 1;
                got += evs[i].len;
            }
            if (evs[i].type == W3S_EV_CONNECTION) w3s_abort(evs[i].accepted); /* none expected */
        }
    }
    ST(&g_stop, 1);
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    CHECK(!bad && got == total, "4 MiB transfer intact while 4 threads called every function on stale and random "
          "handles (%llu bytes)", (unsigned long long)got);
    CHECK(LD(&unnamed) == 0, "every failing call returned a named W3S_E* code (%d did not)", unnamed);
    CHECK_CODE(w3s_loop_close(g_loop), W3S_OK);
}

/* ---- 2 ---- */

static int64_t m_c;
static int m_stop, m_after_close;

static void *mid_sender(void *arg) {
    (void)arg;
    static uint8_t chunk[65536];
    while (!LD(&m_stop)) {
        int64_t rc = w3s_send(m_c, chunk, sizeof chunk);
        named(rc);
        if (rc == W3S_EBADF) INC(&m_after_close);
    }
    return NULL;
}

static void *mid_poller(void *arg) {
    int64_t loop = *(int64_t *)arg;
    w3s_event evs[64];
    while (!LD(&m_stop)) {
        int n = w3s_loop_poll(loop, evs, 64, 5);
        named(n);
        if (n == W3S_EBADF) break;
    }
    return NULL;
}

static void test_loop_closed_mid_transfer(void) {
    for (int round = 0; round < 5; round++) {
        int64_t lc = w3s_loop_new(), ls = w3s_loop_new();
        int64_t srv = t_listen(ls, NULL, 0), a;
        REQUIRE(t_pair(lc, ls, srv, NULL, &m_c, &a), "round %d: pair", round);
        ST(&m_stop, 0);
        ST(&m_after_close, 0);
        pthread_t s, p, q;
        pthread_create(&s, NULL, mid_sender, NULL);
        pthread_create(&p, NULL, mid_poller, &lc);
        pthread_create(&q, NULL, mid_poller, &ls);
        for (int i = 0; i < 20 + round * 10; i++) t_sleep_ms(1); /* into the transfer */
        CHECK_CODE(w3s_loop_close(lc), W3S_OK);
        for (double end = t_now() + 10; LD(&m_after_close) == 0 && t_now() < end;) t_sleep_ms(1);
        CHECK(LD(&m_after_close) > 0, "round %d: sends after the sender's loop closed fail with W3S_EBADF", round);
        CHECK_CODE(w3s_send(m_c, "x", 1), W3S_EBADF);
        w3s_event ev;
        CHECK_CODE(w3s_loop_poll(lc, &ev, 1, 0), W3S_EBADF);
        ST(&m_stop, 1);
        pthread_join(s, NULL), pthread_join(p, NULL), pthread_join(q, NULL);
        CHECK_CODE(w3s_loop_close(ls), W3S_OK);
    }
}

/* ---- 3 (child process) ---- */

static int sh_stop, sh_refused;
static int64_t sh_c, sh_loop;

static void *sh_caller(void *arg) {
    uint64_t rng = (uint64_t)(intptr_t)arg * 77 + 1;
    static uint8_t chunk[4096];
    while (!LD(&sh_stop)) {
        int64_t rc = w3s_send(sh_c, chunk, sizeof chunk);
        every_call(sh_c, &rng);
        w3s_event evs[16];
        if ((intptr_t)arg == 0) w3s_loop_poll(sh_loop, evs, 16, 2);
        if (rc == W3S_ESHUTDOWN) INC(&sh_refused);
    }
    return NULL;
}

static int shutdown_child(void) {
    sh_loop = w3s_loop_new();
    int64_t srv = t_listen(sh_loop, NULL, 0), a;
    if (!t_pair(sh_loop, sh_loop, srv, NULL, &sh_c, &a)) return 3;
    pthread_t th[4];
    for (intptr_t i = 0; i < 4; i++) pthread_create(&th[i], NULL, sh_caller, (void *)i);
    t_sleep_ms(100); /* calls in flight */
    int rc = w3s_shutdown();
    for (double end = t_now() + 10; LD(&sh_refused) < 4 && t_now() < end;) t_sleep_ms(1);
    ST(&sh_stop, 1);
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    w3s_stats_t st = t_stats();
    printf("# child: shutdown %d, refused sends %d, loops %lld, sockets %lld\n", rc, sh_refused,
           (long long)st.loops, (long long)st.sockets);
    return rc == 0 && sh_refused >= 4 && st.loops == 0 && st.sockets == 0 && unnamed == 0 ? 0 : 1;
}

/* ---- 4 ---- */

static void test_stale_after_fd_reuse(void) {
    int64_t l = w3s_loop_new();
    int64_t srv = t_listen(l, NULL, 0);
    int reused = 0, leaked = 0;
    for (int round = 0; round < 20; round++) {
        int64_t c1, a1, c2, a2;
        REQUIRE(t_pair(l, l, srv, NULL, &c1, &a1), "round %d: first pair", round);
        w3s_abort(c1), w3s_abort(a1);
        int closes = 0;
        w3s_event evs[16];
        for (double end = t_now() + 10; closes < 2 && t_now() < end;) {
            int n = w3s_loop_poll(l, evs, 16, 5);
            for (int i = 0; i < n; i++) closes += evs[i].type == W3S_EV_CLOSE;
        }
        REQUIRE(t_pair(l, l, srv, NULL, &c2, &a2), "round %d: second pair", round);
        reused += c2 != c1; /* same index, new generation, likely the same fd */
        CHECK_CODE(w3s_send(c1, "WRONG", 5), W3S_EBADF);
        CHECK_CODE(w3s_send(a1, "WRONG", 5), W3S_EBADF);
        CHECK(w3s_send(c2, "RIGHT", 5) >= 0, "send on the new socket");
        char got[64];
        size_t n = 0;
        for (double end = t_now() + 10; n < 5 && t_now() < end;) {
            int k = w3s_loop_poll(l, evs, 16, 5);
            for (int i = 0; i < k; i++)
                if (evs[i].handle == a2 && evs[i].type == W3S_EV_DATA && n + evs[i].len < sizeof got)
                    memcpy(got + n, evs[i].data, evs[i].len), n += evs[i].len;
        }
        for (int i = 0; i < 5; i++) { /* anything more that might come */
            int k = w3s_loop_poll(l, evs, 16, 2);
            for (int j = 0; j < k; j++)
                if (evs[j].handle == a2 && evs[j].type == W3S_EV_DATA) n += evs[j].len;
        }
        leaked += !(n == 5 && memcmp(got, "RIGHT", 5) == 0);
        w3s_abort(c2), w3s_abort(a2);
        for (double end = t_now() + 10, closes = 0; closes < 2 && t_now() < end;) {
            int k = w3s_loop_poll(l, evs, 16, 5);
            for (int i = 0; i < k; i++) closes += evs[i].type == W3S_EV_CLOSE;
        }
    }
    CHECK(reused == 20, "stale handles are never handed out again (%d of 20 new handles differ)", reused);
    CHECK(leaked == 0, "no byte sent on a stale handle reached the socket that reused its descriptor (%d rounds "
          "wrong)", leaked);
    w3s_loop_close(l);
}

int main(int argc, char **argv) {
    t_init();
    if (argc > 1 && strcmp(argv[1], "shutdown-child") == 0) return shutdown_child();
    test_every_function();
    test_loop_closed_mid_transfer();
    test_stale_after_fd_reuse();
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "timeout 60 %s shutdown-child", argv[0]);
    CHECK(system(cmd) == 0, "w3s_shutdown while 4 threads call into the library: they return, then get "
          "W3S_ESHUTDOWN, nothing is left");
    CHECK(t_stats_zero(10), "no loop or socket left");
    return t_done();
}
