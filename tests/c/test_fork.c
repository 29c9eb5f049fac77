/* fork(): every call in a child returns W3S_EFORKED, promptly, without
 * entering the Go runtime.
 *
 * Why this needs a test of its own: the Go runtime's threads do not exist
 * in a child. If the parent forked while the runtime was in a garbage
 * collection (or held one of its locks), a child that enters the runtime
 * waits forever for threads that are gone. So the library must refuse in
 * C, before any Go code runs. The parent here keeps the runtime busy
 * (collections in one thread, socket churn in another) while it forks
 * many times; each child calls a spread of functions and exits with 0
 * only if each said W3S_EFORKED (or, for the string functions, answered
 * with static text). A child that does not exit within CHILD_LIMIT_S is
 * killed and counted as hung. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define FORKS 200
#define BUDGET_S 60.0    /* stop forking after this long (a bound, not a check) */
#define CHILD_LIMIT_S 10 /* a child that has not exited by then is hung */
#define MAX_HANGS 3      /* enough to fail: stop waiting for more */

static atomic_int stop;
static int port;

/* Collections, back to back: the runtime is often mid-GC at the fork. */
static void *collect(void *arg) {
    (void)arg;
    while (!atomic_load(&stop)) w3s_release_memory();
    return NULL;
}

/* Connections opened and aborted: allocation, goroutines and runtime locks. */
static void *churn(void *arg) {
    (void)arg;
    int64_t loop = w3s_loop_new();
    if (loop <= 0) return NULL;
    w3s_event evs[64];
    static const char msg[] = "hello through the Go runtime";
    while (!atomic_load(&stop)) {
        int64_t c[8];
        for (int i = 0; i < 8; i++) c[i] = w3s_tcp_connect(loop, "127.0.0.1", port, NULL, 0);
        for (int i = 0; i < 4; i++) w3s_loop_poll(loop, evs, 64, 1);
        for (int i = 0; i < 8; i++)
            if (c[i] > 0) {
                w3s_send(c[i], msg, sizeof msg);
                w3s_abort(c[i]);
            }
        w3s_loop_poll(loop, evs, 64, 0);
    }
    w3s_loop_close(loop);
    return NULL;
}

/* The listener's side of the churn: accepts and drops. */
static void *serve(void *arg) {
    int64_t loop = *(int64_t *)arg;
    w3s_event evs[64];
    while (!atomic_load(&stop)) {
        int n = w3s_loop_poll(loop, evs, 64, 5);
        for (int i = 0; i < n; i++)
            if (evs[i].type == W3S_EV_CONNECTION) w3s_abort(evs[i].accepted);
    }
    return NULL;
}

/* In the child: each call must refuse. The exit code names the first that
 * did not (1 + its index), so the parent can say which. */
static void child(int64_t loop, int64_t srv) {
    int step = 0;
#define EXPECT(cond) do { step++; if (!(cond)) _exit(1 + step); } while (0)
    w3s_event evs[4];
    char buf[64];
    w3s_stats_t st = {.size = sizeof st};
    w3s_info in = {.size = sizeof in};
    w3s_tcp_options o;
    int64_t v;
    EXPECT(w3s_loop_new() == W3S_EFORKED);
    EXPECT(w3s_tcp_connect(loop, "127.0.0.1", port, NULL, 0) == W3S_EFORKED);
    EXPECT(w3s_send(srv, "x", 1) == W3S_EFORKED);
    EXPECT(w3s_loop_poll(loop, evs, 4, 0) == W3S_EFORKED);
    EXPECT(w3s_loop_poll_into(loop, evs, 4, 0, buf, sizeof buf) == W3S_EFORKED);
    EXPECT(w3s_get_info(srv, &in) == W3S_EFORKED);
    EXPECT(w3s_stats(&st) == W3S_EFORKED);
    EXPECT(w3s_get_option(srv, W3S_OPT_NO_DELAY, &v) == W3S_EFORKED);
    EXPECT(w3s_tcp_options_init(&o) == W3S_EFORKED);
    EXPECT(w3s_release_memory() == W3S_EFORKED);
    EXPECT(w3s_close(srv) == W3S_EFORKED);
    EXPECT(w3s_loop_close(loop) == W3S_EFORKED);
    EXPECT(w3s_shutdown() == W3S_EFORKED);
    EXPECT(strstr(w3s_last_error_message(), "fork") != NULL);
    EXPECT(strcmp(w3s_err_name(W3S_EFORKED), "W3S_EFORKED") == 0);
    EXPECT(w3s_strerror(W3S_EFORKED)[0] != 0);
    EXPECT(w3s_version() == W3S_VERSION_HEX);
    EXPECT(w3s_version_string()[0] != 0);
#undef EXPECT
    _exit(0);
}

/* Waits for pid up to CHILD_LIMIT_S; kills it if it is still there.
 * Returns its exit code, or -1 if it hung, -2 if a signal ended it. */
static int reap(pid_t pid) {
    for (double end = t_now() + CHILD_LIMIT_S; t_now() < end;) {
        int status;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -2;
        if (r < 0 && errno != EINTR) return -2;
        t_sleep_ms(1);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

int main(void) {
    t_init();
    int64_t loop = w3s_loop_new();
    REQUIRE(loop > 0, "loop");
    int64_t srv = t_listen(loop, NULL, 0);
    REQUIRE(srv > 0, "listener");
    port = t_port(srv);
    REQUIRE(port > 0, "listener port");

    pthread_t th[3];
    pthread_create(&th[0], NULL, collect, NULL);
    pthread_create(&th[1], NULL, churn, NULL);
    pthread_create(&th[2], NULL, serve, &loop);

    int forks = 0, hung = 0, wrong = 0, first_wrong = 0;
    double end = t_now() + BUDGET_S;
    for (; forks < FORKS && hung < MAX_HANGS && t_now() < end; forks++) {
        t_sleep_ms(forks % 7); /* fork at varying points of the churn */
        pid_t pid = fork();
        if (pid == 0) child(loop, srv);
        if (pid < 0) {
            CHECK(0, "fork: %s", strerror(errno));
            break;
        }
        int rc = reap(pid);
        if (rc == -1) {
            hung++;
        } else if (rc != 0) {
            wrong++;
            if (!first_wrong) first_wrong = rc;
        }
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < 3; i++) pthread_join(th[i], NULL);

    printf("# %d forks, %d children hung, %d answered wrongly\n", forks, hung, wrong);
    CHECK(forks >= 20, "forked %d times", forks);
    CHECK(hung == 0, "no child hung in the library (%d of %d did)", hung, forks);
    if (wrong > 0)
        printf("# first wrong answer: exit %d (the EXPECT number %d in child(); -2: a signal)\n",
               first_wrong, first_wrong - 1);
    CHECK(wrong == 0, "every child got W3S_EFORKED or static text (%d did not)", wrong);
    CHECK_CODE(w3s_close(srv), 0);
    CHECK_CODE(w3s_loop_close(loop), 0);
    CHECK(t_stats_zero(10), "everything released");
    return t_done();
}
