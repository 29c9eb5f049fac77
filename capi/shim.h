/* Private C helpers of the capi package (never installed). */
#ifndef W3S_SHIM_H
#define W3S_SHIM_H

#include <stddef.h>
#include <stdint.h>
/* cgo declares our exports with non-const pointer parameters; seeing the
 * public prototypes with const would make the two declarations conflict.
 * Dropping const for this one include keeps every type identical in layout. */
#define const
#include "w3sock.h"
#undef const
/* The library defines the 0.1 entry points these macros stand in for. */
#undef w3s_loop_new
#undef w3s_get_joined_groups
#undef w3s_network_list

/* Internal: hidden, so only w3s_* functions of the header are exported. */
#define W3S_HIDDEN __attribute__((visibility("hidden")))
extern W3S_HIDDEN volatile int w3s_forked;
W3S_HIDDEN int w3s_forked_error(void);
W3S_HIDDEN void w3s_remember_code(int code, const char *name, const char *text);
W3S_HIDDEN void w3s_remember_unknown_code(const char *name, const char *text);
W3S_HIDDEN const char *w3s_code_name_in_child(int code);
W3S_HIDDEN const char *w3s_code_text_in_child(int code);
W3S_HIDDEN void w3s_set_error(const char *msg, size_t len);
W3S_HIDDEN const char *w3s_get_error(void);
W3S_HIDDEN void w3s_call_event_cb(w3s_event_cb cb, void *user, w3s_event *events, int count, int64_t loop);
W3S_HIDDEN void w3s_call_notify(w3s_notify_cb fn, void *user);
W3S_HIDDEN int64_t w3s_current_cb_loop(void);

#endif
