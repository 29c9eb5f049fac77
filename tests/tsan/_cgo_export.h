/* Stand-in for the header cgo generates for capi/: the Go functions that
 * capi/fastpath.c calls, implemented in C by go_standin.c for the
 * sanitizer builds of the data-path protocol (see README.md). */
#ifndef W3S_TSAN_CGO_EXPORT_H
#define W3S_TSAN_CGO_EXPORT_H

#include <stddef.h>
#include <stdint.h>

#include "shim.h"

int64_t w3sgo_send(int64_t h, void *data, size_t len);
int w3sgo_loop_poll(int64_t h, w3s_event *events, int max, int timeout_ms);
void w3sgo_fast_read_result(int64_t h, int code);
void w3sgo_fast_stash(int64_t h, void *p, size_t n);

#endif
