// Command capi is the C ABI of w3sock: cgo exports only. It converts
// between C and Go and calls package core; it holds no socket logic.
// Built with -buildmode=c-shared into libw3sock.so; the contract is
// include/w3sock.h.
package main

/*
#cgo CFLAGS: -I${SRCDIR}/../include -O2
#cgo LDFLAGS: -ldl -lpthread
#include <stdlib.h>
#include <string.h>
#include "shim.h"

// Allocates one of the library's static strings (never freed). A function
// of its own so that the sanitizer run can name these allocations in its
// LeakSanitizer suppressions (tests/sanitize/lsan.supp); Go's heap, where
// the pointers live, is not scanned by LeakSanitizer.
static __attribute__((noinline)) char *w3s_static_string(const char *s, size_t n) {
	char *p = malloc(n + 1);
	if (p != NULL) {
		if (n > 0) memcpy(p, s, n);
		p[n] = 0;
	}
	return p;
}
*/
import "C"

import (
	"fmt"
	"runtime/debug"
	"unsafe"

	"github.com/w3sock/w3sock/core"
)

func main() {}

// The version is the header's W3S_VERSION_* (checked against the VERSION
// file by `make test-abi`), so the library always reports the header it
// was built from.
const versionMajor, versionMinor, versionPatch = C.W3S_VERSION_MAJOR, C.W3S_VERSION_MINOR, C.W3S_VERSION_PATCH

var versionText = fmt.Sprintf("%d.%d.%d", versionMajor, versionMinor, versionPatch)

// staticCString makes a C string that lives as long as the library.
func staticCString(s string) *C.char {
	return C.w3s_static_string((*C.char)(unsafe.Pointer(unsafe.StringData(s))), C.size_t(len(s)))
}

// Static C strings for w3s_strerror / w3s_err_name, made once.
var (
	errNames    = map[core.Code]*C.char{}
	errTexts    = map[core.Code]*C.char{}
	unknownName = staticCString("W3S_UNKNOWN")
	unknownText = staticCString("unknown error")
)

func init() {
	C.w3s_remember_unknown_code(unknownName, unknownText)
	for _, c := range core.AllCodes() {
		errNames[c] = staticCString(c.Name())
		errTexts[c] = staticCString(c.Text())
		// The same strings for a forked child, which must not enter Go.
		C.w3s_remember_code(C.int(c), errNames[c], errTexts[c])
	}
}

// fail records e's message for this thread and returns its code.
func fail(e *core.Error) C.int {
	setErrorMessage(e.Msg)
	return C.int(e.Code)
}

func fail64(e *core.Error) C.int64_t { return C.int64_t(fail(e)) }

func setErrorMessage(msg string) {
	if msg == "" {
		C.w3s_set_error(nil, 0)
		return
	}
	C.w3s_set_error((*C.char)(unsafe.Pointer(unsafe.StringData(msg))), C.size_t(len(msg)))
}

// guard refuses calls after w3s_shutdown. (A forked child never gets
// here: forkguard.c refuses its calls in C.)
func guard() *core.Error {
	if core.IsShutDown() {
		return core.Errf(core.ESHUTDOWN, "w3s_shutdown() was called")
	}
	return nil
}

func socketOf(h C.int64_t) (*core.Socket, *core.Error) {
	if e := guard(); e != nil {
		return nil, e
	}
	return core.LookupSocket(core.Handle(h))
}

func goString(p *C.char) string {
	if p == nil {
		return ""
	}
	return C.GoString(p)
}

// copyCString writes s into a fixed char array, truncated and terminated.
func copyCString(dst []C.char, s string) {
	n := min(len(s), len(dst)-1)
	for i := 0; i < n; i++ {
		dst[i] = C.char(s[i])
	}
	dst[n] = 0
}

//export w3sgo_strerror
func w3sgo_strerror(code C.int) *C.char {
	if s, ok := errTexts[core.Code(code)]; ok {
		return s
	}
	return unknownText
}

//export w3sgo_err_name
func w3sgo_err_name(code C.int) *C.char {
	if s, ok := errNames[core.Code(code)]; ok {
		return s
	}
	return unknownName
}

//export w3sgo_shutdown
func w3sgo_shutdown() C.int {
	quiesceAllLoops()
	core.Shutdown()
	releaseAllLoops()
	return 0
}

//export w3sgo_release_memory
func w3sgo_release_memory() C.int {
	debug.FreeOSMemory() // runs a collection first
	return 0
}

//export w3sgo_stats
func w3sgo_stats(out *C.w3s_stats_t) C.int {
	const hint = "set it to sizeof(w3s_stats_t)"
	if out == nil {
		return fail(core.Errf(core.EINVAL, "w3s_stats needs a w3s_stats_t with size set"))
	}
	if _, e := callerSize(unsafe.Pointer(out), "w3s_stats_t", hint); e != nil {
		return fail(e)
	}
	st := core.GetStats()
	own := C.w3s_stats_t{
		size:          C.uint32_t(unsafe.Sizeof(C.w3s_stats_t{})),
		loops:         C.int64_t(st.Loops),
		sockets:       C.int64_t(st.Sockets),
		goroutines:    C.int64_t(st.Goroutines),
		open_fds:      C.int64_t(st.OpenFDs),
		events_queued: C.int64_t(st.EventsQueued),
	}
	if e := sizedOut(unsafe.Pointer(out), unsafe.Pointer(&own), unsafe.Sizeof(own), "w3s_stats_t", hint); e != nil {
		return fail(e)
	}
	return 0
}
