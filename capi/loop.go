package main

/*
#include <stdlib.h>
#include <string.h>
#include "shim.h"
#include "fastpath.h"
*/
import "C"

import (
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/w3sock/w3sock/core"
)

// loopState is what the C side of a loop needs besides the core loop: the
// C memory that event payloads are copied into (valid until the next poll)
// and the callback-mode goroutine.
type loopState struct {
	loop *core.Loop
	// eventSize is the caller's sizeof(w3s_event): the stride of every
	// events array this loop fills (w3s_loop_new_sized).
	eventSize uintptr

	pollMu  sync.Mutex // one poller at a time: the arena belongs to the loop
	scratch []core.Event
	arena   unsafe.Pointer
	arenaN  int
	// released: the loop was closed (or the library shut down) and its
	// arena freed for good; a poll that was already waiting for pollMu
	// must not allocate a new one.
	released atomic.Bool

	// closing is set once the loop starts closing (w3s_loop_close,
	// w3s_shutdown): from then on the notify callback is not called. The
	// host is tearing down, and a callback into it then may find its
	// runtime gone (a terminated Node worker: koffi aborts the process).
	closing atomic.Bool

	cbMu     sync.Mutex
	cbStop   chan struct{}
	cbDone   chan struct{}
	cbEvents *C.w3s_event
}

var (
	loopsMu sync.Mutex
	loops   = map[core.Handle]*loopState{}
)

func loopOf(h C.int64_t) (*loopState, *core.Error) {
	if e := guard(); e != nil {
		return nil, e
	}
	l, e := core.LookupLoop(core.Handle(h))
	if e != nil {
		return nil, e
	}
	loopsMu.Lock()
	st := loops[l.Handle()]
	loopsMu.Unlock()
	if st == nil {
		return nil, core.Errf(core.EBADF, "handle %d is not a live loop", int64(h))
	}
	return st, nil
}

// eventSizeV1 is sizeof(w3s_event) of the first ABI, the smallest stride.
const eventSizeV1 = C.W3S_EVENT_SIZE_V1

//export w3sgo_loop_new
func w3sgo_loop_new() C.int64_t { return w3sgo_loop_new_sized(eventSizeV1) }

//export w3sgo_loop_new_sized
func w3sgo_loop_new_sized(eventSize C.size_t) C.int64_t {
	if e := guard(); e != nil {
		return fail64(e)
	}
	if e := elemSizeOK(uintptr(eventSize), eventSizeV1, "w3s_event"); e != nil {
		return fail64(e)
	}
	l, err := core.NewLoop()
	if err != nil {
		return fail64(core.AsError(err))
	}
	loopsMu.Lock()
	loops[l.Handle()] = &loopState{loop: l, eventSize: uintptr(eventSize)}
	loopsMu.Unlock()
	// Without the C half (no memory) every poll simply goes to Go.
	C.w3s_fast_loop_add(C.int64_t(l.Handle()), C.int(l.FD()), C.int(l.EventFD()), eventSize)
	return C.int64_t(l.Handle())
}

//export w3sgo_loop_close
func w3sgo_loop_close(h C.int64_t) C.int {
	st, e := loopOf(h)
	if e != nil {
		return fail(e)
	}
	if C.w3s_current_cb_loop() == h {
		return fail(core.Errf(core.ESTATE, "w3s_loop_close called from inside the loop's own callback"))
	}
	st.closing.Store(true)
	st.stopCallback()
	loopsMu.Lock()
	delete(loops, st.loop.Handle())
	loopsMu.Unlock()
	st.retireFast()
	st.loop.Close()
	st.release()
	return 0
}

// release frees the loop's C memory for good once its core loop is closed
// (so no poll can be waiting in it while holding pollMu). From inside the
// loop's own callback (w3s_shutdown there) pollMu is held by this very
// thread: the callback goroutine frees the arena on its way out instead.
func (st *loopState) release() {
	st.released.Store(true)
	if C.w3s_current_cb_loop() == C.int64_t(st.loop.Handle()) {
		return
	}
	st.pollMu.Lock()
	st.freeArena()
	st.pollMu.Unlock()
}

// releaseAllLoops is the end of w3s_shutdown, after every core loop has
// closed: each loop's C memory is freed as w3s_loop_close would.
func releaseAllLoops() {
	loopsMu.Lock()
	all := make([]*loopState, 0, len(loops))
	for h, st := range loops {
		all = append(all, st)
		delete(loops, h)
	}
	loopsMu.Unlock()
	for _, st := range all {
		st.release()
	}
}

//export w3sgo_loop_fd
func w3sgo_loop_fd(h C.int64_t) C.int {
	st, e := loopOf(h)
	if e != nil {
		return fail(e)
	}
	return C.int(st.loop.FD())
}

//export w3sgo_loop_wake
func w3sgo_loop_wake(h C.int64_t) C.int {
	st, e := loopOf(h)
	if e != nil {
		return fail(e)
	}
	st.loop.Wake()
	return 0
}

// w3sgo_loop_poll is w3s_loop_poll's Go half: fastpath.c serves plain TCP
// data itself and calls this for everything else.
//
//export w3sgo_loop_poll
func w3sgo_loop_poll(h C.int64_t, events *C.w3s_event, max C.int, timeoutMS C.int) C.int {
	st, e := loopOf(h)
	if e != nil {
		return fail(e)
	}
	if events == nil || max < 1 {
		return fail(core.Errf(core.EINVAL, "w3s_loop_poll needs an events array and max >= 1"))
	}
	st.cbMu.Lock()
	cb := st.cbStop != nil
	st.cbMu.Unlock()
	if cb {
		return fail(core.Errf(core.ESTATE, "the loop is in callback mode"))
	}
	timeout := time.Duration(timeoutMS) * time.Millisecond
	if timeoutMS < 0 {
		timeout = -1
	}
	st.pollMu.Lock()
	defer st.pollMu.Unlock()
	n, e := st.pollInto(unsafe.Pointer(events), int(max), timeout)
	if e != nil {
		return fail(e)
	}
	return C.int(n)
}

// pollInto takes up to limit events from the core loop and converts them
// into the caller's array out (st.eventSize bytes apart), copying payloads
// into the loop's C arena. Callers hold pollMu.
func (st *loopState) pollInto(out unsafe.Pointer, limit int, timeout time.Duration) (int, *core.Error) {
	if st.released.Load() {
		return 0, core.Errf(core.EBADF, "loop is closed")
	}
	if cap(st.scratch) < limit {
		st.scratch = make([]core.Event, limit)
	}
	evs := st.scratch[:limit]
	n, e := st.loop.Poll(evs, timeout)
	if e != nil {
		return 0, e
	}
	evs = evs[:n]
	need := 0
	for i := range evs {
		need += len(evs[i].Data) + 1 // +1: NUL after every payload
	}
	if st.arenaN > 1<<20 && need < st.arenaN/8 {
		// A burst grew the arena; give the memory back once traffic is
		// small again, so an idle loop does not keep it.
		st.freeArena()
	}
	if need > st.arenaN {
		size := max(need, 64<<10, st.arenaN*2)
		p := C.realloc(st.arena, C.size_t(size))
		if p == nil {
			core.Release(evs)
			return 0, core.Errf(core.ENOMEM, "cannot allocate %d bytes for event payloads", size)
		}
		st.arena, st.arenaN = p, size
	}
	arena := unsafe.Slice((*byte)(st.arena), st.arenaN)
	off := 0
	for i := range evs {
		ev := &evs[i]
		o := (*C.w3s_event)(unsafe.Add(out, uintptr(i)*st.eventSize))
		o.handle = C.int64_t(ev.Handle)
		o.user_data = C.uint64_t(ev.UserData)
		o._type = C.int32_t(ev.Type)
		o.error = C.int32_t(ev.Code)
		n := copy(arena[off:], ev.Data)
		arena[off+n] = 0
		o.data = (*C.uint8_t)(unsafe.Pointer(&arena[off]))
		o.len = C.uint64_t(n)
		off += n + 1
		o.accepted = C.int64_t(ev.Accepted)
		o.port = C.uint16_t(ev.Port)
		o.family = C.uint16_t(ev.Family)
		o.reserved = 0
		copyCString(o.address[:], ev.Addr)
		if st.eventSize > unsafe.Sizeof(*o) {
			// A caller built against a later header: its fields we do not have read as zero.
			clear(unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(o), unsafe.Sizeof(*o))), st.eventSize-unsafe.Sizeof(*o)))
		}
	}
	core.Release(evs)
	return n, nil
}

// retireFast stops the C poll from using the loop's descriptors before
// they close: a poll waiting in C is woken and waited for.
func (st *loopState) retireFast() {
	st.loop.Wake()
	C.w3s_fast_loop_retire(C.int64_t(st.loop.Handle()))
}

func (st *loopState) freeArena() {
	if st.arena != nil {
		C.free(st.arena)
		st.arena, st.arenaN = nil, 0
	}
}

//export w3sgo_loop_set_callback
func w3sgo_loop_set_callback(h C.int64_t, cb C.w3s_event_cb, user unsafe.Pointer) C.int {
	st, e := loopOf(h)
	if e != nil {
		return fail(e)
	}
	st.stopCallback()
	if cb == nil {
		return 0
	}
	st.cbMu.Lock()
	defer st.cbMu.Unlock()
	stop, done := make(chan struct{}), make(chan struct{})
	st.cbStop, st.cbDone = stop, done
	C.w3s_fast_loop_set_callback_mode(h, 1)
	go st.runCallback(cb, user, stop, done)
	return 0
}

const callbackBatch = 1024

// runCallback is callback mode: it polls and hands each batch to cb on
// this goroutine's thread, in order, one batch at a time.
func (st *loopState) runCallback(cb C.w3s_event_cb, user unsafe.Pointer, stop, done chan struct{}) {
	defer close(done)
	defer func() {
		// Released from inside the callback (w3s_shutdown there): the
		// arena could not be freed while this goroutine held pollMu.
		if st.released.Load() {
			st.pollMu.Lock()
			st.freeArena()
			st.pollMu.Unlock()
		}
	}()
	events := (*C.w3s_event)(C.calloc(callbackBatch, C.size_t(st.eventSize)))
	defer C.free(unsafe.Pointer(events))
	h := C.int64_t(st.loop.Handle())
	for {
		select {
		case <-stop:
			return
		default:
		}
		st.pollMu.Lock()
		// No C poll reads while this one does; the C lock is not held
		// across the host's callback, which may call w3s_shutdown (that
		// takes it to retire the loop).
		fl := C.w3s_fast_loop_enter(h)
		n, e := st.pollInto(unsafe.Pointer(events), callbackBatch, -1)
		C.w3s_fast_loop_leave(fl)
		if e != nil {
			st.pollMu.Unlock()
			return
		}
		if n > 0 {
			C.w3s_call_event_cb(cb, user, events, C.int(n), h)
		}
		st.pollMu.Unlock()
	}
}

// stopCallback ends callback mode and waits for the callback goroutine,
// unless it is the caller itself (set_callback from inside the callback).
func (st *loopState) stopCallback() {
	st.cbMu.Lock()
	stop, done := st.cbStop, st.cbDone
	st.cbStop, st.cbDone = nil, nil
	st.cbMu.Unlock()
	if stop == nil {
		return
	}
	close(stop)
	C.w3s_fast_loop_set_callback_mode(C.int64_t(st.loop.Handle()), 0)
	st.loop.Wake()
	if C.w3s_current_cb_loop() != C.int64_t(st.loop.Handle()) {
		<-done
	}
}

// quiesceAllLoops prepares w3s_shutdown: callback threads stopped, and no
// C poll left using a loop's descriptors. loopsMu is not held meanwhile: a
// poll in progress may need it.
func quiesceAllLoops() {
	loopsMu.Lock()
	all := make([]*loopState, 0, len(loops))
	for _, st := range loops {
		all = append(all, st)
	}
	loopsMu.Unlock()
	for _, st := range all {
		st.closing.Store(true)
		st.stopCallback()
		st.retireFast()
	}
}

//export w3sgo_loop_set_notify
func w3sgo_loop_set_notify(h C.int64_t, fn C.w3s_notify_cb, user unsafe.Pointer) C.int {
	st, e := loopOf(h)
	if e != nil {
		return fail(e)
	}
	if fn == nil {
		st.loop.SetNotify(nil)
		return 0
	}
	st.loop.SetNotify(func() {
		if !st.closing.Load() {
			C.w3s_call_notify(fn, user)
		}
	})
	return 0
}
