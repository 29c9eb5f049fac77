/* After w3s_shutdown(): every socket is gone, every call returns
 * W3S_ESHUTDOWN, and only the version/error-string/stats functions work. */
#include <stdlib.h>
#include <unistd.h>

#include "testutil.h"

/* w3s_shutdown from inside the loop's own callback returns (the callback
 * may call any w3s_* function but w3s_loop_close on its own loop). Run in
 * a process of its own: shutdown is final. */
static volatile int shut_rc = 1, shut_done = 0;

static void shut_in_cb(void *user, const w3s_event *evs, int n) {
    (void)user;
    (void)evs;
    if (n > 0 && !shut_done) {
        shut_rc = w3s_shutdown();
        shut_done = 1;
    }
}

static int shutdown_from_callback(void) {
    int64_t loop = w3s_loop_new();
    w3s_tcp_options o;
    w3s_tcp_options_init(&o);
    o.local_address = "127.0.0.1";
    int64_t srv = w3s_tcp_listen(loop, &o, 0); /* its OPEN wakes the callback */
    if (loop <= 0 || srv <= 0 || w3s_loop_set_callback(loop, shut_in_cb, NULL) != 0) return 2;
    for (double end = t_now() + 10; !shut_done && t_now() < end;) {
        struct timespec d = {0, 10 * 1000 * 1000};
        nanosleep(&d, NULL);
    }
    return shut_done && shut_rc == W3S_OK ? 0 : 1;
}

int main(int argc, char **argv) {
    t_init();
    if (argc > 1 && strcmp(argv[1], "from-callback") == 0) return shutdown_from_callback();
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "timeout 20 %s from-callback", argv[0]);
    CHECK(system(cmd) == 0, "w3s_shutdown called inside the loop's callback returns W3S_OK");
    int64_t loop = w3s_loop_new();
    w3s_tcp_options o;
    w3s_tcp_options_init(&o);
    o.local_address = "127.0.0.1";
    int64_t srv = w3s_tcp_listen(loop, &o, 0);
    int64_t udp = w3s_udp_open(loop, NULL, 0);
    REQUIRE(loop > 0 && srv > 0 && udp > 0, "objects created");
    CHECK_CODE(w3s_shutdown(), W3S_OK);
    CHECK_CODE(w3s_shutdown(), W3S_OK);
    w3s_event evs[4];
    w3s_info info;
    info.size = sizeof info;
    int64_t v;
    CHECK_CODE(w3s_loop_new(), W3S_ESHUTDOWN);
    CHECK_CODE(w3s_loop_poll(loop, evs, 4, 0), W3S_ESHUTDOWN);
    CHECK_CODE(w3s_loop_fd(loop), W3S_ESHUTDOWN);
    CHECK_CODE(w3s_tcp_connect(loop, "127.0.0.1", 80, NULL, 0), W3S_ESHUTDOWN);
    CHECK_CODE(w3s_tcp_listen(loop, NULL, 0), W3S_ESHUTDOWN);
    CHECK_CODE(w3s_udp_open(loop, NULL, 0), W3S_ESHUTDOWN);
    CHECK_CODE(w3s_send(udp, "x", 1), W3S_ESHUTDOWN);
    CHECK_CODE(w3s_close(srv), W3S_ESHUTDOWN);
    CHECK_CODE(w3s_get_info(srv, &info), W3S_ESHUTDOWN);
    CHECK_CODE(w3s_get_option(udp, W3S_OPT_TTL, &v), W3S_ESHUTDOWN);
    CHECK_CODE(w3s_network_list(NULL, 0), W3S_ESHUTDOWN);
    CHECK(strcmp(w3s_err_name(W3S_ESHUTDOWN), "W3S_ESHUTDOWN") == 0, "error names still work");
    CHECK(w3s_version() == W3S_VERSION_HEX, "version still works");
    CHECK(t_stats_zero(5), "no loop or socket left after shutdown");
    return t_done();
}
