package main

/*
#include <stdlib.h>
#include "fastpath.h"
*/
import "C"

import (
	"unsafe"

	"github.com/w3sock/w3sock/core"
)

// fastPath publishes sockets to the C data path of fastpath.c (see
// core/fastpath.go for the contract).
type fastPath struct{}

func init() { core.SetFastPath(fastPath{}) }

func (fastPath) Publish(s core.FastSlot) core.FastTaken {
	var carry *C.uint8_t
	var carryLen C.size_t
	var in, out C.uint64_t
	C.w3s_fast_publish(C.int64_t(s.Handle), C.int(s.FD), C.uint32_t(s.Flags), C.uint64_t(s.UserData),
		&carry, &carryLen, &in, &out)
	t := core.FastTaken{BytesIn: uint64(in), BytesOut: uint64(out)}
	if carry != nil {
		t.Carry = C.GoBytes(unsafe.Pointer(carry), C.int(carryLen))
		C.free(unsafe.Pointer(carry))
	}
	return t
}

func (fastPath) Harvest(h core.Handle) (uint64, uint64) {
	var in, out C.uint64_t
	C.w3s_fast_harvest(C.int64_t(h), &in, &out)
	return uint64(in), uint64(out)
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
