/* Descriptor exhaustion: with 64 descriptors, creating sockets fails with
 * W3S_EMFILE (no crash), a listener that cannot accept backs off and keeps
 * serving once descriptors are free again, and everything closes cleanly.
 * The test re-runs itself under `prlimit --nofile=64:64` (the Go runtime
 * raises the soft limit to the hard one, so the hard limit is lowered). */
#define _POSIX_C_SOURCE 200809L
#include <sys/resource.h>
#include <unistd.h>

#include "testutil.h"

#define MAXS 128

static int port_of(int64_t h) {
    w3s_info info;
    info.size = sizeof info;
    return w3s_get_info(h, &info) == 0 ? info.local_port : -1;
}

int main(int argc, char **argv) {
    (void)argc;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_max > 64) {
        execlp("prlimit", "prlimit", "--nofile=64:64", argv[0], (char *)NULL);
        perror("prlimit");
        return 1;
    }
    t_init();
    int64_t loop = w3s_loop_new();
    REQUIRE(loop > 0, "loop");
    w3s_tcp_options o;
    w3s_tcp_options_init(&o);
    o.local_address = "127.0.0.1";
    int64_t srv = w3s_tcp_listen(loop, &o, 1);
    REQUIRE(srv > 0, "listener");

    /* Fill the table with UDP sockets until the library says EMFILE. */
    w3s_udp_options uo;
    w3s_udp_options_init(&uo);
    uo.local_address = "127.0.0.1";
    int64_t udp[MAXS];
    int n = 0;
    int64_t rc = 0;
    while (n < MAXS && (rc = w3s_udp_open(loop, &uo, 2)) > 0) udp[n++] = rc;
    CHECK_CODE(rc, W3S_EMFILE);
    CHECK(n > 10 && n < 64, "%d sockets opened before the limit", n);
    CHECK(strlen(w3s_last_error_message()) > 0, "detail: %s", w3s_last_error_message());
    CHECK_CODE(w3s_tcp_listen(loop, &o, 1), W3S_EMFILE);

    /* A connect now fails with an ERROR event (the socket cannot be made). */
    int64_t c = w3s_tcp_connect(loop, "127.0.0.1", port_of(srv), NULL, 3);
    int refused_by_limit = c < 0 ? (c == W3S_EMFILE) : 0;
    w3s_event evs[64];
    double end = t_now() + 5;
    int c_closed = c < 0;
    while (!c_closed && t_now() < end) {
        int k = w3s_loop_poll(loop, evs, 64, 100);
        for (int i = 0; i < k; i++) {
            if (evs[i].handle == c && evs[i].type == W3S_EV_ERROR && evs[i].error == W3S_EMFILE) refused_by_limit = 1;
            if (evs[i].handle == c && evs[i].type == W3S_EV_CLOSE) c_closed = 1;
        }
    }
    CHECK(refused_by_limit && c_closed, "connect at the limit fails with W3S_EMFILE");

    /* Free one descriptor: the client fits, but its accepted end does not;
     * the listener must back off and accept once more are free. */
    w3s_close(udp[--n]);
    end = t_now() + 5;
    int freed = 0;
    while (freed < 1 && t_now() < end) {
        int k = w3s_loop_poll(loop, evs, 64, 100);
        for (int i = 0; i < k; i++) freed += evs[i].type == W3S_EV_CLOSE;
    }
    c = w3s_tcp_connect(loop, "127.0.0.1", port_of(srv), NULL, 3);
    CHECK(c > 0, "a connect fits after one socket closed");
    w3s_send(c, "after the limit", 15);
    w3s_half_close(c);
    /* One loop handles everything; after 0.3 s the remaining UDP sockets are
     * closed, so a listener that met the limit meanwhile can accept again. */
    int accepted = 0, echoed = 0, closed = 0, released = 0;
    double release_at = t_now() + 0.3;
    end = t_now() + 10;
    while (!closed && t_now() < end) {
        if (!released && t_now() >= release_at) {
            while (n > 0) w3s_close(udp[--n]);
            released = 1;
        }
        int k = w3s_loop_poll(loop, evs, 64, 50);
        for (int i = 0; i < k; i++) {
            w3s_event *ev = &evs[i];
            if (ev->type == W3S_EV_CONNECTION) {
                accepted++;
                w3s_set_user_data(ev->accepted, 4);
            } else if (ev->type == W3S_EV_DATA && ev->handle != c) {
                w3s_send(ev->handle, ev->data, ev->len);
            } else if (ev->type == W3S_EV_END && ev->handle != c) {
                w3s_half_close(ev->handle);
            } else if (ev->type == W3S_EV_DATA && ev->handle == c) {
                echoed += (int)ev->len;
            } else if (ev->type == W3S_EV_CLOSE && ev->handle == c) {
                closed = 1;
            } else if (ev->type == W3S_EV_ERROR) {
                printf("# error on %lld: %s %s\n", (long long)ev->handle, w3s_err_name(ev->error), (const char *)ev->data);
            }
        }
    }
    CHECK(accepted == 1 && echoed == 15 && closed, "the listener kept serving (accepted %d, echoed %d)", accepted, echoed);
    w3s_close(srv);
    end = t_now() + 5;
    while (t_now() < end && w3s_loop_poll(loop, evs, 64, 100) >= 0) {
        w3s_stats_t st;
        st.size = sizeof st;
        w3s_stats(&st);
        if (st.sockets == 0) break;
    }
    w3s_loop_close(loop);
    CHECK(t_stats_zero(5), "nothing left");
    return t_done();
}
