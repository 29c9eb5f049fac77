/* Transfers through a fault-injecting proxy (tests/faultproxy, built by
 * the Makefile as build/faultproxy): 1-byte fragments, delays, stalls,
 * resets mid-stream and early half-closes for TCP, in poll and callback
 * modes, plain and TLS; drops, duplicates and reordering for UDP.
 *
 * Each TCP transfer sends N checksummed bytes to an echo server on the same
 * loop and half-closes; the echo must come back whole, or the socket must
 * report an error. Never allowed: a wrong byte, or a CLOSE with neither the
 * whole echo nor an ERROR (silent truncation). One case is the transport's
 * own: a plain TCP stream that the proxy ends early with FIN is an END the
 * application can only catch by its framing (here: the expected length);
 * over TLS the same cut must be W3S_ETLS_TRUNCATED or an END carrying
 * W3S_ETLS_NO_CLOSE_NOTIFY.
 *
 * FAULTS_TRANSFERS (default 60 per mode) and FAULTS_STALL_MS (default 300)
 * size the run; it prints transfers, bytes and faults. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

/* ---- the proxy process ------------------------------------------------------ */

typedef struct {
    pid_t pid;
    int in;    /* its stdin: closing it stops the proxy */
    FILE *out; /* its stdout: "PORT n", then "STATS ..." */
    int port;
} proxy_proc;

static int proxy_spawn(proxy_proc *p, const char *mode, int target, const char *faults, int stall_ms) {
    int in[2], out[2];
    if (pipe(in) != 0 || pipe(out) != 0) return -1;
    char tgt[64], stall[32];
    snprintf(tgt, sizeof tgt, "127.0.0.1:%d", target);
    snprintf(stall, sizeof stall, "%dms", stall_ms);
    p->pid = fork();
    if (p->pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[1]);
        close(out[0]);
        execl("build/faultproxy", "faultproxy", "-mode", mode, "-target", tgt, "-faults", faults,
              "-stall", stall, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    p->in = in[1];
    p->out = fdopen(out[0], "r");
    char line[256];
    if (!fgets(line, sizeof line, p->out) || sscanf(line, "PORT %d", &p->port) != 1) return -1;
    return 0;
}

/* Stops the proxy and copies its STATS line into stats. */
static void proxy_finish(proxy_proc *p, char *stats, size_t cap) {
    close(p->in);
    stats[0] = 0;
    if (!fgets(stats, (int)cap, p->out)) snprintf(stats, cap, "(no stats)");
    stats[strcspn(stats, "\n")] = 0;
    fclose(p->out);
    int st;
    waitpid(p->pid, &st, 0);
}

/* ---- transfers ---------------------------------------------------------------- */

static char *ca, *server_cert, *server_key;

static uint8_t pat(uint32_t seed, uint64_t i) { return (uint8_t)(seed + i * 31 + (i >> 9)); }

typedef struct {
    int64_t h;
    uint64_t n, got;
    uint32_t seed;
    int end, end_code, error, corrupt;
} xfer;

#define INFLIGHT 8

typedef struct {
    int64_t loop, ln;
    int proxy_port, tls, total, started, finished;
    xfer x[INFLIGHT];
    /* outcomes */
    int intact, errored, peer_ended, silent, corrupt;
    uint64_t bytes;
    int errcodes[128];
    pthread_mutex_t mu;
    pthread_cond_t cv;
} run_state;

static w3s_tls_options client_tls(void) {
    w3s_tls_options t;
    w3s_tls_options_init(&t);
    t.ca_pem = ca;
    t.server_name = "localhost";
    return t;
}

static void start_one(run_state *r, int slot) {
    xfer *x = &r->x[slot];
    memset(x, 0, sizeof *x);
    x->seed = (uint32_t)(r->started * 2654435761u);
    x->n = 1 + (x->seed >> 8) % (96 << 10);
    w3s_tcp_options o;
    w3s_tcp_options_init(&o);
    w3s_tls_options t = client_tls();
    if (r->tls) {
        o.use_secure_transport = 1;
        o.tls = &t;
    }
    o.connect_timeout_ms = 30000;
    x->h = w3s_tcp_connect(r->loop, r->tls ? "localhost" : "127.0.0.1", r->proxy_port, &o, (uint64_t)slot + 1);
    r->started++;
    if (x->h < 0) {
        printf("# connect failed: %s\n", w3s_err_name((int)x->h));
        r->errored++;
        r->finished++;
        x->h = 0;
    }
}

static void finish_one(run_state *r, xfer *x) {
    if (x->corrupt) r->corrupt++;
    else if (x->got == x->n && x->end && !x->error) r->intact++;
    else if (x->error) {
        r->errored++;
        r->errcodes[-x->error & 127]++;
    } else if (x->end && x->got < x->n) {
        if (r->tls && x->end_code != W3S_ETLS_NO_CLOSE_NOTIFY) {
            r->silent++;
            printf("# TLS END (error %d) after %llu of %llu bytes\n", x->end_code,
                   (unsigned long long)x->got, (unsigned long long)x->n);
        } else r->peer_ended++;
    } else {
        r->silent++;
        printf("# CLOSE after %llu of %llu bytes, no END, no ERROR\n", (unsigned long long)x->got,
               (unsigned long long)x->n);
    }
    r->bytes += x->got;
    r->finished++;
    x->h = 0;
}

static void handle(run_state *r, const w3s_event *ev) {
    if (ev->handle == r->ln) return;
    if (ev->user_data == 0) { /* the echo server's side */
        switch (ev->type) {
        case W3S_EV_DATA: w3s_send(ev->handle, ev->data, ev->len); break;
        case W3S_EV_END: w3s_close(ev->handle); break;
        }
        return;
    }
    int slot = (int)ev->user_data - 1;
    xfer *x = &r->x[slot];
    if (x->h != ev->handle) return;
    switch (ev->type) {
    case W3S_EV_OPEN: {
        uint8_t *b = malloc(x->n);
        for (uint64_t i = 0; i < x->n; i++) b[i] = pat(x->seed, i);
        w3s_send(x->h, b, x->n);
        free(b);
        w3s_half_close(x->h);
        break;
    }
    case W3S_EV_DATA:
        for (uint64_t i = 0; i < ev->len; i++)
            if (x->got + i >= x->n || ev->data[i] != pat(x->seed, x->got + i)) x->corrupt = 1;
        x->got += ev->len;
        break;
    case W3S_EV_END:
        x->end = 1;
        x->end_code = ev->error;
        w3s_close(x->h);
        break;
    case W3S_EV_ERROR: x->error = ev->error; break;
    case W3S_EV_CLOSE:
        finish_one(r, x);
        if (r->started < r->total) start_one(r, slot);
        break;
    }
}

static void on_events(void *user, const w3s_event *evs, int n) {
    run_state *r = user;
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < n; i++) handle(r, &evs[i]);
    if (r->finished >= r->total) pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

static int64_t echo_listener(int64_t loop, int tls) {
    w3s_tcp_options o;
    w3s_tcp_options_init(&o);
    o.local_address = "127.0.0.1";
    w3s_tls_options t;
    w3s_tls_options_init(&t);
    t.cert_pem = server_cert;
    t.key_pem = server_key;
    if (tls) {
        o.use_secure_transport = 1;
        o.tls = &t;
    }
    return w3s_tcp_listen(loop, &o, 0);
}

static int local_port(int64_t h) {
    w3s_info info;
    info.size = sizeof info;
    w3s_get_info(h, &info);
    return info.local_port;
}

static void tcp_run(int tls, int callback, int total, int stall_ms) {
    run_state *r = calloc(1, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->tls = tls;
    r->total = total;
    r->loop = w3s_loop_new();
    REQUIRE(r->loop > 0, "loop");
    r->ln = echo_listener(r->loop, tls);
    REQUIRE(r->ln > 0, "echo listener");
    proxy_proc px;
    REQUIRE(proxy_spawn(&px, "tcp", local_port(r->ln), "pass,frag,delay,stall,rst,halfclose", stall_ms) == 0,
            "faultproxy started (build/faultproxy)");
    r->proxy_port = px.port;
    double t0 = t_now(), deadline = t0 + 120;
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < INFLIGHT && r->started < total; i++) start_one(r, i);
    pthread_mutex_unlock(&r->mu);
    if (callback) {
        w3s_loop_set_callback(r->loop, on_events, r);
        pthread_mutex_lock(&r->mu);
        while (r->finished < total && t_now() < deadline) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&r->cv, &r->mu, &ts);
        }
        pthread_mutex_unlock(&r->mu);
        w3s_loop_set_callback(r->loop, NULL, NULL);
    } else {
        w3s_event evs[64];
        while (r->finished < total && t_now() < deadline) {
            int n = w3s_loop_poll(r->loop, evs, 64, 100);
            on_events(r, evs, n > 0 ? n : 0);
        }
    }
    char stats[512];
    proxy_finish(&px, stats, sizeof stats);
    const char *what = tls ? (callback ? "TLS, callback" : "TLS, poll") : (callback ? "plain, callback" : "plain, poll");
    printf("# %s: %d transfers: %d intact, %d reported an error, %d ended early by the proxy's FIN (plain TCP: "
           "caught by length), %d silent, %d corrupt; %llu bytes echoed\n",
           what, r->finished, r->intact, r->errored, r->peer_ended, r->silent, r->corrupt,
           (unsigned long long)r->bytes);
    printf("#   errors:");
    for (int c = 1; c < 128; c++)
        if (r->errcodes[c]) printf(" %s=%d", w3s_err_name(-c), r->errcodes[c]);
    printf("\n#   proxy: %s\n", stats);
    CHECK(r->finished == total, "%s: all %d transfers finished (no hang)", what, total);
    CHECK(r->corrupt == 0 && r->silent == 0, "%s: no corrupt and no silently truncated transfer", what);
    CHECK(r->intact > 0 && r->errored > 0, "%s: some transfers intact (%d), some ended by a reported fault (%d)", what,
          r->intact, r->errored);
    w3s_close(r->ln);
    w3s_loop_close(r->loop);
    free(r);
}

/* ---- UDP ------------------------------------------------------------------------ */

typedef struct {
    int64_t echo;
    int count, got, dups, reordered, corrupt, maxseq;
    uint8_t *seen;
    double last;
} udp_state;

static size_t udp_len(int s) { return 16 + (size_t)(s * 7) % 200; }

static void udp_event(udp_state *u, const w3s_event *ev) {
    if (ev->type != W3S_EV_MESSAGE) return;
    if (ev->handle == u->echo) {
        w3s_send_to(u->echo, ev->data, ev->len, ev->address, ev->port);
        return;
    }
    u->last = t_now();
    int32_t s;
    uint32_t sum = 0, want;
    if (ev->len < 8) { u->corrupt++; return; }
    memcpy(&s, ev->data, 4);
    memcpy(&want, ev->data + 4, 4);
    for (size_t k = 8; k < ev->len; k++) sum = sum * 31 + ev->data[k];
    if (s < 0 || s >= u->count || sum != want || ev->len != udp_len(s)) {
        u->corrupt++;
        return;
    }
    for (size_t k = 8; k < ev->len; k++)
        if (ev->data[k] != pat((uint32_t)s, k)) { u->corrupt++; return; }
    if (u->seen[s]) u->dups++;
    else u->got++;
    u->seen[s] = 1;
    if (s < u->maxseq) u->reordered++;
    if (s > u->maxseq) u->maxseq = s;
}

static void udp_pump(int64_t loop, udp_state *u, int ms) {
    w3s_event evs[64];
    int n = w3s_loop_poll(loop, evs, 64, ms);
    for (int i = 0; i < n; i++) udp_event(u, &evs[i]);
}

static void udp_run(int count) {
    int64_t loop = w3s_loop_new();
    w3s_udp_options o;
    w3s_udp_options_init(&o);
    o.local_address = "127.0.0.1";
    udp_state u = {.count = count, .maxseq = -1, .seen = calloc((size_t)count, 1)};
    u.echo = w3s_udp_open(loop, &o, 1);
    int64_t cl = w3s_udp_open(loop, &o, 2);
    REQUIRE(u.echo > 0 && cl > 0, "udp sockets");
    double end = t_now() + 10;
    while (local_port(u.echo) == 0 && t_now() < end) udp_pump(loop, &u, 20);
    proxy_proc px;
    REQUIRE(proxy_spawn(&px, "udp", local_port(u.echo), "pass,pass,drop,dup,reorder", 0) == 0, "udp faultproxy");
    for (int s = 0; s < count; s++) {
        uint8_t d[256];
        size_t len = udp_len(s);
        uint32_t sum = 0;
        memcpy(d, &s, 4);
        for (size_t i = 8; i < len; i++) {
            d[i] = pat((uint32_t)s, i);
            sum = sum * 31 + d[i];
        }
        memcpy(d + 4, &sum, 4);
        w3s_send_to(cl, d, len, "127.0.0.1", px.port);
        udp_pump(loop, &u, 0);
    }
    /* Lost datagrams never come: stop after a quiet second (this bounds
     * the wait; no check below depends on timing). */
    u.last = t_now();
    end = t_now() + 15;
    while (t_now() < u.last + 1 && t_now() < end) udp_pump(loop, &u, 50);
    char stats[512];
    proxy_finish(&px, stats, sizeof stats);
    printf("# udp: %d sent, %d came back (%d duplicates, %d out of order, %d lost), %d corrupt\n", count, u.got,
           u.dups, u.reordered, count - u.got, u.corrupt);
    printf("#   proxy: %s\n", stats);
    CHECK(u.corrupt == 0, "udp: no datagram corrupted");
    CHECK(u.got > 0 && u.got < count && u.dups > 0 && u.reordered > 0,
          "udp: drops, duplicates and reordering all happened and were told apart");
    free(u.seen);
    w3s_loop_close(loop);
}

/* ---- main ------------------------------------------------------------------------- */


int main(void) {
    t_init();
    signal(SIGPIPE, SIG_IGN);
    const char *e = getenv("FAULTS_TRANSFERS");
    int total = e ? atoi(e) : 60;
    e = getenv("FAULTS_STALL_MS");
    int stall = e ? atoi(e) : 300;
    char dir[64], cmd[160];
    snprintf(dir, sizeof dir, "/tmp/w3s-faults-XXXXXX");
    REQUIRE(mkdtemp(dir) != NULL, "mkdtemp");
    snprintf(cmd, sizeof cmd, "tests/certs.sh %s", dir);
    REQUIRE(system(cmd) == 0, "tests/certs.sh (run from the repository root)");
    ca = t_slurp(dir, "ca.pem");
    server_cert = t_slurp(dir, "server.pem");
    server_key = t_slurp(dir, "server.key");
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0, "keys removed");

    tcp_run(0, 0, total, stall);
    tcp_run(0, 1, total, stall);
    tcp_run(1, 0, total, stall);
    tcp_run(1, 1, total, stall);
    udp_run(total * 10);
    CHECK(t_stats_zero(10), "w3s_stats: no loop or socket left");
    return t_done();
}
