/* C side of the capi package: per-thread error messages, fork detection,
 * callback trampolines, and the stack-bounds cache that makes calls from
 * foreign stacks (koffi) cheap. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <string.h>

#include "shim.h"

/* ---- per-thread detail message of the last failed call ---- */

static __thread char errbuf[1024];

void w3s_set_error(const char *msg, size_t len) {
    if (len >= sizeof errbuf) len = sizeof errbuf - 1;
    if (len) memcpy(errbuf, msg, len);
    errbuf[len] = 0;
}

const char *w3s_get_error(void) { return errbuf; }

/* ---- fork: the Go runtime's threads do not survive into a child ----
 * A child made while the runtime was collecting garbage (or held one of its
 * locks) would wait forever for threads that are gone the moment it entered
 * Go. So every exported function checks w3s_forked in C first
 * (forkguard.c, fastpath.c) and answers from here, without Go. */

volatile int w3s_forked = 0;

static void on_fork_child(void) { w3s_forked = 1; }

int w3s_forked_error(void) {
    static const char msg[] = "w3sock cannot be used in a child process after fork()";
    w3s_set_error(msg, sizeof msg - 1);
    return W3S_EFORKED;
}

/* The error strings Go made at init (static, never freed), kept here too
 * so that a child can have them: indexed by -code. */
#define CODE_SLOTS 256
static const char *code_names[CODE_SLOTS], *code_texts[CODE_SLOTS];
static const char *unknown_name, *unknown_text;

void w3s_remember_code(int code, const char *name, const char *text) {
    if (code > 0 || code <= -CODE_SLOTS) return;
    code_names[-code] = name;
    code_texts[-code] = text;
}

void w3s_remember_unknown_code(const char *name, const char *text) {
    unknown_name = name;
    unknown_text = text;
}

/* "" only if the parent forked before the library finished loading. */
const char *w3s_code_name_in_child(int code) {
    const char *s = code <= 0 && code > -CODE_SLOTS ? code_names[-code] : NULL;
    return s ? s : unknown_name ? unknown_name : "";
}

const char *w3s_code_text_in_child(int code) {
    const char *s = code <= 0 && code > -CODE_SLOTS ? code_texts[-code] : NULL;
    return s ? s : unknown_text ? unknown_text : "";
}

__attribute__((constructor)) static void w3s_register_atfork(void) {
    pthread_atfork(NULL, NULL, on_fork_child);
}

/* ---- callback trampolines (C function pointers cannot be called from Go) ---- */

static __thread int64_t in_cb_loop = 0;

void w3s_call_event_cb(w3s_event_cb cb, void *user, w3s_event *events, int count, int64_t loop) {
    in_cb_loop = loop;
    cb(user, events, count);
    in_cb_loop = 0;
}

int64_t w3s_current_cb_loop(void) { return in_cb_loop; }

void w3s_call_notify(w3s_notify_cb fn, void *user) { fn(user); }

/* ---- stack bounds cache ----
 * On every call into Go from a thread it did not create, the Go runtime asks
 * pthread_getattr_np for the thread's stack bounds. For a process's main
 * thread glibc answers by parsing /proc/self/maps: ~150 us per call from
 * Node/koffi. This hidden definition binds only the library's own references
 * (it is not exported, so nothing else in the process sees it); it asks the
 * real function once per thread and answers from that cache afterwards. The
 * bounds of a thread's stack do not change while the thread lives. */

typedef int (*getattr_fn)(pthread_t, pthread_attr_t *);

static __thread int cached;
static __thread void *cached_addr;
static __thread size_t cached_size;

__attribute__((visibility("hidden"))) int pthread_getattr_np(pthread_t th, pthread_attr_t *attr) {
    static getattr_fn real;
    if (!real) real = (getattr_fn)dlsym(RTLD_NEXT, "pthread_getattr_np");
    if (cached && pthread_equal(th, pthread_self())) {
        /* The caller may or may not have initialized attr (see Go's
         * x_cgo_getstackbound); initialize it as glibc's version does. */
        pthread_attr_init(attr);
        return pthread_attr_setstack(attr, cached_addr, cached_size);
    }
    int rc = real(th, attr);
    if (rc == 0 && pthread_equal(th, pthread_self())) {
        if (pthread_attr_getstack(attr, &cached_addr, &cached_size) == 0) cached = 1;
    }
    return rc;
}
