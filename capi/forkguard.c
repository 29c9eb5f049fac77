/* The library's exported functions: each refuses in a forked child, in C,
 * before anything enters Go, then calls its Go half (w3sgo_*, hidden by
 * exports.map).
 *
 * Why in C: the Go runtime's threads do not survive fork(). A child made
 * while the parent's runtime was collecting garbage (or held one of its
 * locks) waits forever on its first entry into Go, so checking there is too
 * late (the Python binding saw a child's first call hang in 3 of 3 runs
 * under GC churn). The check is one load of a flag set by a
 * pthread_atfork child handler (shim.c); no getpid() on the way.
 *
 * w3s_send, w3s_loop_poll and w3s_loop_poll_into are in fastpath.c (they
 * check the same flag first). The version and error-string functions
 * answer from C data in a child too, as the header promises they always
 * work.
 *
 * The definitions spell the header's types as shim.h shows them, without
 * const (see there); the layout is the same. */
#include "_cgo_export.h"
#include "shim.h"

#define REFUSE_IN_CHILD()                                   \
    do {                                                    \
        if (__builtin_expect(w3s_forked, 0)) return w3s_forked_error(); \
    } while (0)

#define W3S_STR2(x) #x
#define W3S_STR(x) W3S_STR2(x)

/* ---- version and error strings: C data only ---- */

uint32_t w3s_version(void) { return W3S_VERSION_HEX; }

char *w3s_version_string(void) {
    static const char v[] = W3S_STR(W3S_VERSION_MAJOR) "." W3S_STR(W3S_VERSION_MINOR) "." W3S_STR(
        W3S_VERSION_PATCH);
    return (char *)v;
}

char *w3s_last_error_message(void) { return (char *)w3s_get_error(); }

/* The parent asks Go, which waits for the library's initialization (the
 * tables are filled there); a child reads the copies Go left in shim.c. */
char *w3s_strerror(int code) {
    if (__builtin_expect(w3s_forked, 0)) return (char *)w3s_code_text_in_child(code);
    return w3sgo_strerror(code);
}

char *w3s_err_name(int code) {
    if (__builtin_expect(w3s_forked, 0)) return (char *)w3s_code_name_in_child(code);
    return w3sgo_err_name(code);
}

/* ---- lifecycle ---- */

int w3s_shutdown(void) {
    REFUSE_IN_CHILD();
    return w3sgo_shutdown();
}

int w3s_release_memory(void) {
    REFUSE_IN_CHILD();
    return w3sgo_release_memory();
}

int w3s_stats(w3s_stats_t *out) {
    REFUSE_IN_CHILD();
    return w3sgo_stats(out);
}

/* ---- loops ---- */

int64_t w3s_loop_new_sized(size_t event_size) {
    REFUSE_IN_CHILD();
    return w3sgo_loop_new_sized(event_size);
}

int64_t w3s_loop_new(void) {
    REFUSE_IN_CHILD();
    return w3sgo_loop_new();
}

int w3s_loop_close(int64_t loop) {
    REFUSE_IN_CHILD();
    return w3sgo_loop_close(loop);
}

int w3s_loop_fd(int64_t loop) {
    REFUSE_IN_CHILD();
    return w3sgo_loop_fd(loop);
}

int w3s_loop_wake(int64_t loop) {
    REFUSE_IN_CHILD();
    return w3sgo_loop_wake(loop);
}

int w3s_loop_set_callback(int64_t loop, w3s_event_cb cb, void *user) {
    REFUSE_IN_CHILD();
    return w3sgo_loop_set_callback(loop, cb, user);
}

int w3s_loop_set_notify(int64_t loop, w3s_notify_cb fn, void *user) {
    REFUSE_IN_CHILD();
    return w3sgo_loop_set_notify(loop, fn, user);
}

/* ---- options and sockets ---- */

int w3s_tls_options_init(w3s_tls_options *o) {
    REFUSE_IN_CHILD();
    return w3sgo_tls_options_init(o);
}

int w3s_tcp_options_init(w3s_tcp_options *o) {
    REFUSE_IN_CHILD();
    return w3sgo_tcp_options_init(o);
}

int w3s_udp_options_init(w3s_udp_options *o) {
    REFUSE_IN_CHILD();
    return w3sgo_udp_options_init(o);
}

int64_t w3s_tcp_connect(int64_t loop, char *host, int port, w3s_tcp_options *opts,
                        uint64_t user_data) {
    REFUSE_IN_CHILD();
    return w3sgo_tcp_connect(loop, host, port, opts, user_data);
}

int64_t w3s_tcp_listen(int64_t loop, w3s_tcp_options *opts, uint64_t user_data) {
    REFUSE_IN_CHILD();
    return w3sgo_tcp_listen(loop, opts, user_data);
}

int64_t w3s_udp_open(int64_t loop, w3s_udp_options *opts, uint64_t user_data) {
    REFUSE_IN_CHILD();
    return w3sgo_udp_open(loop, opts, user_data);
}

int w3s_set_user_data(int64_t h, uint64_t user_data) {
    REFUSE_IN_CHILD();
    return w3sgo_set_user_data(h, user_data);
}

int64_t w3s_send_to(int64_t h, void *data, size_t len, char *address, int port) {
    REFUSE_IN_CHILD();
    return w3sgo_send_to(h, data, len, address, port);
}

int64_t w3s_send_file(int64_t h, char *path, int64_t offset, int64_t len) {
    REFUSE_IN_CHILD();
    return w3sgo_send_file(h, path, offset, len);
}

int w3s_pause(int64_t h) {
    REFUSE_IN_CHILD();
    return w3sgo_pause(h);
}

int w3s_resume(int64_t h) {
    REFUSE_IN_CHILD();
    return w3sgo_resume(h);
}

int w3s_half_close(int64_t h) {
    REFUSE_IN_CHILD();
    return w3sgo_half_close(h);
}

int w3s_close(int64_t h) {
    REFUSE_IN_CHILD();
    return w3sgo_close(h);
}

int w3s_abort(int64_t h) {
    REFUSE_IN_CHILD();
    return w3sgo_abort(h);
}

int w3s_start_tls(int64_t h, w3s_tls_options *opts) {
    REFUSE_IN_CHILD();
    return w3sgo_start_tls(h, opts);
}

int w3s_start_tls_with(int64_t h, w3s_tls_options *opts, void *unread, size_t len) {
    REFUSE_IN_CHILD();
    return w3sgo_start_tls_with(h, opts, unread, len);
}

int w3s_udp_set_peer(int64_t h, char *address, int port) {
    REFUSE_IN_CHILD();
    return w3sgo_udp_set_peer(h, address, port);
}

/* ---- multicast ---- */

int w3s_join_group(int64_t h, char *group, char *iface) {
    REFUSE_IN_CHILD();
    return w3sgo_join_group(h, group, iface);
}

int w3s_leave_group(int64_t h, char *group, char *iface) {
    REFUSE_IN_CHILD();
    return w3sgo_leave_group(h, group, iface);
}

int w3s_join_source_group(int64_t h, char *source, char *group, char *iface) {
    REFUSE_IN_CHILD();
    return w3sgo_join_source_group(h, source, group, iface);
}

int w3s_leave_source_group(int64_t h, char *source, char *group, char *iface) {
    REFUSE_IN_CHILD();
    return w3sgo_leave_source_group(h, source, group, iface);
}

int w3s_get_joined_groups_sized(int64_t h, w3s_group *out, int max, size_t elem_size) {
    REFUSE_IN_CHILD();
    return w3sgo_get_joined_groups_sized(h, out, max, elem_size);
}

int w3s_get_joined_groups(int64_t h, w3s_group *out, int max) {
    REFUSE_IN_CHILD();
    return w3sgo_get_joined_groups(h, out, max);
}

/* ---- options, info, interfaces ---- */

int w3s_set_option(int64_t h, int opt, int64_t value) {
    REFUSE_IN_CHILD();
    return w3sgo_set_option(h, opt, value);
}

int w3s_get_option(int64_t h, int opt, int64_t *value) {
    REFUSE_IN_CHILD();
    return w3sgo_get_option(h, opt, value);
}

int w3s_get_info(int64_t h, w3s_info *info) {
    REFUSE_IN_CHILD();
    return w3sgo_get_info(h, info);
}

int w3s_network_list_sized(w3s_interface *out, int max, size_t elem_size) {
    REFUSE_IN_CHILD();
    return w3sgo_network_list_sized(out, max, elem_size);
}

int w3s_network_list(w3s_interface *out, int max) {
    REFUSE_IN_CHILD();
    return w3sgo_network_list(out, max);
}
