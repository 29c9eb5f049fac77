package main

/*
#include <stdlib.h>
#include "fastpath.h"
*/
import "C"

import (
	"bytes"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/w3sock/w3sock/core"
)

// fastPath publishes sockets to the C data path of fastpath.c (see
// core/fastpath.go for the contract).
type fastPath struct{}

func init() { core.SetFastPath(fastPath{}) }

func (fastPath) Publish(s core.FastSlot) core.FastTaken {
	pub := C.w3s_fast_pub{handle: C.int64_t(s.Handle), fd: C.int(s.FD), flags: C.uint32_t(s.Flags),
		user_data: C.uint64_t(s.UserData), epfd: C.int(s.EpollFD), watch_mask: C.uint32_t(s.WatchMask),
		high_water: C.int64_t(s.HighWater)}
	var taken C.w3s_fast_taken
	C.w3s_fast_publish(&pub, &taken)
	t := core.FastTaken{BytesIn: uint64(taken.bytes_in), BytesOut: uint64(taken.bytes_out),
		NeedDrain: taken.need_drain > 0, Lost: taken.need_drain < 0}
	if taken.carry != nil {
		// Not C.GoBytes: its length is a C int, and a sender that ignores
		// DRAIN can leave more than 2 GiB queued.
		t.Carry = bytes.Clone(unsafe.Slice((*byte)(unsafe.Pointer(taken.carry)), int(taken.carry_len)))
		C.free(unsafe.Pointer(taken.carry))
	}
	if b := takeStash(s.Handle); b != nil {
		// Only ever the whole output: w3s_send stashes when its queue was
		// empty and it could not allocate the carry.
		t.Carry = append(t.Carry, b...)
	}
	return t
}

// The unsent rest of a partial write that w3s_send could not malloc (see
// fastpath.c): kept here until the socket's next publish takes it.
var (
	stashMu sync.Mutex
	stash   = map[core.Handle][]byte{}
	stashed atomic.Int32 // len(stash), read without the lock by every publish
)

// w3sgo_fast_stash keeps n bytes at p for handle h; the C caller holds the
// slot's BUSY bit, so no publish of h runs meanwhile.
//
//export w3sgo_fast_stash
func w3sgo_fast_stash(h C.int64_t, p unsafe.Pointer, n C.size_t) {
	b := append([]byte(nil), unsafe.Slice((*byte)(p), int(n))...)
	stashMu.Lock()
	stash[core.Handle(h)] = b
	stashed.Store(int32(len(stash)))
	stashMu.Unlock()
}

func takeStash(h core.Handle) []byte {
	if stashed.Load() == 0 {
		return nil
	}
	stashMu.Lock()
	defer stashMu.Unlock()
	b, ok := stash[h]
	if !ok {
		return nil
	}
	delete(stash, h)
	stashed.Store(int32(len(stash)))
	return b
}

func (fastPath) Harvest(h core.Handle) (uint64, uint64, int64) {
	var in, out, queued C.uint64_t
	C.w3s_fast_harvest(C.int64_t(h), &in, &out, &queued)
	return uint64(in), uint64(out), int64(queued)
}

func (fastPath) SetUserData(h core.Handle, v uint64) {
	C.w3s_fast_set_user_data(C.int64_t(h), C.uint64_t(v))
}

// w3sgo_fast_read_result: the C poll met the end of the stream (errno 0)
// or a read error on a published socket.
//
//export w3sgo_fast_read_result
func w3sgo_fast_read_result(h C.int64_t, code C.int) {
	if s, e := core.LookupSocket(core.Handle(h)); e == nil {
		s.FastReadResult(int(code))
	}
}
