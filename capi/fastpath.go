package main

/*
#include <stdlib.h>
#include "fastpath.h"
*/
import "C"

import (
	"bytes"
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
	return t
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
