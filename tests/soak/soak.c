/* Soak: for SECONDS (argument; `make soak` 600, `make test` 30) one loop
 * runs a listener and keeps CONCURRENT client connections busy: each one
 * sends a checksummed payload and then, in turn, half-closes and waits for
 * the whole echo, aborts mid-transfer, closes at once, or is aborted by the
 * server. Four times a second it samples RSS, open descriptors and library
 * goroutines (w3s_stats) and prints the sample.
 *
 * It fails when a connection's echo is wrong or incomplete without an
 * error, when a connection hangs, or when a resource does not level off:
 * over the second half of the samples a least-squares line is fitted to
 * each resource against the sample number, and the growth it predicts
 * across that half must stay below a tolerance (live connections come and
 * go, so descriptors may move by a few per connection; RSS by a GC cycle's
 * worth). Nothing compares wall-clock times. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include "testutil.h"

#define CONCURRENT 32
#define MAX_SAMPLES 8192

static uint8_t pat(uint32_t seed, uint64_t i) { return (uint8_t)(seed * 7 + i * 13 + (i >> 8)); }

enum behaviour { ECHO, ABORT_MID, CLOSE_AT_ONCE, SERVER_ABORTS, NBEHAVIOURS };

typedef struct {
    int64_t h;
    int behaviour;
    uint32_t seed;
    uint64_t n, got;
    int end, error, bad;
    double started;
} conn;

static conn conns[CONCURRENT];
static int64_t loop, ln;
static int port;
static uint64_t opened, echoed_ok, aborted, closed_at_once, server_aborted, errors_seen, bytes_moved, failures;
static uint64_t seq;

typedef struct {
    double rss_kb, fds, goroutines;
} sample;
static sample samples[MAX_SAMPLES];
static int nsamples;

static double rss_kb(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, resident = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &resident) != 2) resident = 0;
        fclose(f);
    }
    return resident * (sysconf(_SC_PAGESIZE) / 1024.0);
}

static void start(int slot) {
    conn *c = &conns[slot];
    memset(c, 0, sizeof *c);
    c->seed = (uint32_t)(++seq * 2654435761u);
    c->behaviour = (int)(seq % NBEHAVIOURS);
    c->n = 1 + (c->seed >> 9) % (64 << 10);
    c->started = t_now();
    w3s_tcp_options o;
    w3s_tcp_options_init(&o);
    c->h = w3s_tcp_connect(loop, "127.0.0.1", port, &o, (uint64_t)slot + 1);
    if (c->h < 0) {
        printf("# connect: %s\n", w3s_err_name((int)c->h));
        failures++;
        c->h = 0;
        return;
    }
    opened++;
}

static void finished(int slot) {
    conn *c = &conns[slot];
    if (c->bad) {
        printf("# connection %d: wrong bytes in its echo\n", slot);
        failures++;
    }
    if (c->behaviour == ECHO) {
        if (c->end && c->got == c->n && !c->error) echoed_ok++;
        else if (!c->error) {
            printf("# echo ended after %llu of %llu bytes with no error\n", (unsigned long long)c->got,
                   (unsigned long long)c->n);
            failures++;
        }
    }
    if (c->error) errors_seen++;
    bytes_moved += c->got;
    c->h = 0;
}

static void on_event(const w3s_event *ev) {
    if (ev->handle == ln) return;
    if (ev->user_data == 0) { /* server side: echo; a marker byte 0xAB first asks for an abort */
        if (ev->type == W3S_EV_DATA) {
            if (ev->len > 0 && ev->data[0] == 0xAB) {
                w3s_abort(ev->handle);
                server_aborted++;
            } else w3s_send(ev->handle, ev->data, ev->len);
        }
        if (ev->type == W3S_EV_END) w3s_close(ev->handle);
        return;
    }
    int slot = (int)ev->user_data - 1;
    conn *c = &conns[slot];
    if (c->h != ev->handle) return;
    switch (ev->type) {
    case W3S_EV_OPEN: {
        uint8_t *b = malloc(c->n);
        for (uint64_t i = 0; i < c->n; i++) b[i] = pat(c->seed, i);
        if (c->behaviour == SERVER_ABORTS) b[0] = 0xAB;
        else if (b[0] == 0xAB) b[0] = 0;
        if (c->behaviour != CLOSE_AT_ONCE) w3s_send(c->h, b, c->n);
        free(b);
        switch (c->behaviour) {
        case ECHO: w3s_half_close(c->h); break;
        case CLOSE_AT_ONCE: w3s_close(c->h); closed_at_once++; break;
        default: break;
        }
        break;
    }
    case W3S_EV_DATA:
        for (uint64_t i = 0; i < ev->len; i++) {
            uint8_t want = pat(c->seed, c->got + i);
            if (c->got + i == 0 && want == 0xAB) want = 0;
            if (ev->data[i] != want) c->bad = 1;
        }
        c->got += ev->len;
        if (c->behaviour == ABORT_MID && c->got >= c->n / 2) {
            w3s_abort(c->h);
            aborted++;
        }
        break;
    case W3S_EV_END:
        c->end = 1;
        w3s_close(c->h);
        break;
    case W3S_EV_ERROR: c->error = ev->error; break;
    case W3S_EV_CLOSE:
        finished(slot);
        break;
    }
}

static void take_sample(void) {
    w3s_stats_t st = {.size = sizeof st};
    w3s_stats(&st);
    if (nsamples >= MAX_SAMPLES) return;
    sample *s = &samples[nsamples++];
    s->rss_kb = rss_kb();
    s->fds = (double)st.open_fds;
    s->goroutines = (double)st.goroutines;
    printf("sample %4d rss_kb=%.0f fds=%.0f goroutines=%.0f sockets=%lld connections=%llu\n", nsamples, s->rss_kb,
           s->fds, s->goroutines, (long long)st.sockets, (unsigned long long)opened);
}

/* The growth a least-squares line over samples [from, nsamples) predicts
 * across them, for the field at offset off. */
static double growth(int from, size_t off) {
    int n = nsamples - from;
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (int i = from; i < nsamples; i++) {
        double x = i - from, y = *(double *)((char *)&samples[i] + off);
        sx += x; sy += y; sxx += x * x; sxy += x * y;
    }
    double slope = (n * sxy - sx * sy) / (n * sxx - sx * sx);
    return slope * (n - 1);
}

static double mean(int from, size_t off) {
    double s = 0;
    for (int i = from; i < nsamples; i++) s += *(double *)((char *)&samples[i] + off);
    return s / (nsamples - from);
}

int main(int argc, char **argv) {
    t_init();
    int seconds = argc > 1 ? atoi(argv[1]) : 30;
    loop = w3s_loop_new();
    REQUIRE(loop > 0, "loop");
    w3s_tcp_options o;
    w3s_tcp_options_init(&o);
    o.local_address = "127.0.0.1";
    ln = w3s_tcp_listen(loop, &o, 0);
    REQUIRE(ln > 0, "listener");
    w3s_info info = {.size = sizeof info};
    w3s_get_info(ln, &info);
    port = info.local_port;

    double end = t_now() + seconds, next_sample = t_now();
    w3s_event evs[128];
    while (t_now() < end) {
        for (int i = 0; i < CONCURRENT; i++) {
            if (conns[i].h == 0) start(i);
            else if (t_now() - conns[i].started > 30) {
                printf("# connection %d (behaviour %d) open for 30 s: a hang\n", i, conns[i].behaviour);
                failures++;
                w3s_abort(conns[i].h);
                conns[i].started = t_now();
            }
        }
        int n = w3s_loop_poll(loop, evs, 128, 50);
        for (int i = 0; i < n; i++) on_event(&evs[i]);
        if (t_now() >= next_sample) {
            take_sample();
            next_sample += 0.25;
        }
    }
    for (int i = 0; i < CONCURRENT; i++)
        if (conns[i].h) w3s_abort(conns[i].h);
    printf("# %llu connections: %llu echoed whole, %llu aborted by us mid-transfer, %llu closed at once, "
           "%llu aborted by the server, %llu ended with an error; %llu bytes echoed\n",
           (unsigned long long)opened, (unsigned long long)echoed_ok, (unsigned long long)aborted,
           (unsigned long long)closed_at_once, (unsigned long long)server_aborted, (unsigned long long)errors_seen,
           (unsigned long long)bytes_moved);
    CHECK(failures == 0, "no wrong byte, silent truncation or hung connection (%llu failures)",
          (unsigned long long)failures);
    CHECK(nsamples >= 8, "%d samples", nsamples);
    int half = nsamples / 2;
    double g_rss = growth(half, offsetof(sample, rss_kb)), g_fds = growth(half, offsetof(sample, fds)),
           g_gor = growth(half, offsetof(sample, goroutines));
    double m_rss = mean(half, offsetof(sample, rss_kb));
    /* Tolerances: a GC cycle's worth of RSS (an eighth of it, at least
     * 8 MiB); a few descriptors and goroutines per live connection. */
    double tol_rss = fmax(8192, m_rss / 8), tol_fds = CONCURRENT, tol_gor = 4 * CONCURRENT;
    printf("# second half (%d samples): trend growth rss %+.0f KiB (tolerance %.0f), fds %+.1f (%.0f), "
           "goroutines %+.1f (%.0f)\n", nsamples - half, g_rss, tol_rss, g_fds, tol_fds, g_gor, tol_gor);
    CHECK(g_rss < tol_rss, "RSS levels off (%+.0f KiB over the second half)", g_rss);
    CHECK(g_fds < tol_fds, "descriptors level off (%+.1f over the second half)", g_fds);
    CHECK(g_gor < tol_gor, "goroutines level off (%+.1f over the second half)", g_gor);
    w3s_close(ln);
    w3s_loop_close(loop);
    CHECK(t_stats_zero(10), "w3s_stats: no loop or socket left");
    return t_done();
}
