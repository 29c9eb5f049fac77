package main

/*
#include "shim.h"
*/
import "C"

import (
	"unsafe"

	"github.com/w3sock/w3sock/core"
)

// Sized structs: every struct the caller passes by pointer and that may
// gain fields (option structs, w3s_info, w3s_stats_t) begins with a
// uint32_t size, which the caller sets to the sizeof it was compiled with.
// The library then reads or writes exactly that many bytes, so a program
// built against an older header (smaller struct) and one built against a
// newer header (larger struct) both work, as Linux's clone3 and openat2 do
// it:
//   - smaller: the missing fields keep this library's defaults;
//   - larger: accepted only when every byte this library does not know is
//     zero (a set field it cannot honour must not be ignored silently).

// maxStructSize bounds the size a caller may claim, so an uninitialised
// size makes the call fail instead of reading far past the struct (the
// kernel uses the page size for the same purpose).
const maxStructSize = 4096

// sizeFieldLen is the size field itself: the smallest size there is.
const sizeFieldLen = 4

// inputAlign is the alignment of every sized input struct (each holds a
// pointer), hence a divisor of every size a caller can claim for one.
const inputAlign = 8

// callerSize reads the leading size field of the caller's struct at p and
// checks that it is plausible.
func callerSize(p unsafe.Pointer, name, hint string) (uintptr, *core.Error) {
	size := uintptr(*(*uint32)(p))
	if size < sizeFieldLen || size > maxStructSize {
		return 0, core.Errf(core.EINVAL, "%s.size is %d; %s", name, size, hint)
	}
	return size, nil
}

// sizedIn copies the caller's struct at src into dst, a struct of this
// library's layout (dstSize bytes) already holding the defaults: the first
// min(size, dstSize) bytes are the caller's, the rest keep their defaults.
// A caller's struct larger than dstSize must end in zeros.
func sizedIn(dst unsafe.Pointer, dstSize uintptr, src unsafe.Pointer, name, hint string) *core.Error {
	size, e := callerSize(src, name, hint)
	if e != nil {
		return e
	}
	// Every input struct holds pointers, so any sizeof a compiler gives it
	// is a multiple of 8. Another size would end inside a field and hand the
	// library half a pointer (found by FuzzOptionStructs). Output structs
	// need no such rule: a short one just gets fewer bytes.
	if size%inputAlign != 0 {
		return core.Errf(core.EINVAL, "%s.size is %d, not a multiple of %d (set it to sizeof the struct); %s",
			name, size, inputAlign, hint)
	}
	n := min(size, dstSize)
	copy(unsafe.Slice((*byte)(dst), n), unsafe.Slice((*byte)(src), n))
	if size > dstSize {
		tail := unsafe.Slice((*byte)(unsafe.Add(src, dstSize)), size-dstSize)
		for i, b := range tail {
			if b != 0 {
				return core.Errf(core.EINVAL,
					"%s.size is %d but this library (%s) knows only its first %d bytes, and byte %d is not zero: "+
						"a field this library does not have is set (use a newer library, or leave that field zero)",
					name, size, versionText, dstSize, dstSize+uintptr(i))
			}
		}
	}
	*(*uint32)(dst) = uint32(dstSize)
	return nil
}

// sizedOut writes src (srcSize bytes of this library's layout) into the
// caller's struct at dst, whose size field says how many bytes it has:
// exactly that many bytes are written (a smaller struct gets the first
// ones, a larger one gets zeros after ours), and its size field is kept.
func sizedOut(dst unsafe.Pointer, src unsafe.Pointer, srcSize uintptr, name, hint string) *core.Error {
	size, e := callerSize(dst, name, hint)
	if e != nil {
		return e
	}
	n := min(size, srcSize)
	out := unsafe.Slice((*byte)(dst), size)
	copy(out[sizeFieldLen:n], unsafe.Slice((*byte)(src), n)[sizeFieldLen:])
	clear(out[n:])
	return nil
}

// Arrays the library fills (events, joined groups, interfaces) cannot carry
// a size in each element; the caller passes its sizeof the element once
// (w3s_loop_new_sized, w3s_*_sized), and the library writes exactly that
// many bytes per element: its own fields, then zeros for fields of a later
// header. A size below the first ABI's layout cannot hold the fields every
// version has, so it is refused.

// elemSizeOK checks a caller's element size against the first ABI's (v1).
func elemSizeOK(size, v1 uintptr, name string) *core.Error {
	if size < v1 || size > maxStructSize {
		return core.Errf(core.EINVAL, "element size %d for %s: it must be sizeof(%s), at least %d (the first ABI's) and at most %d",
			size, name, name, v1, maxStructSize)
	}
	return nil
}

// fillArray writes up to max items into the caller's array out (elements
// elemSize bytes apart; out may be NULL when max is 0) and returns how many
// items there are in all. Each element is built in a zeroed E of this
// library's layout and then copied with sizedElem.
func fillArray[T, E any](out unsafe.Pointer, max C.int, elemSize uintptr, items []T, fill func(*E, T)) C.int {
	for i := 0; i < len(items) && i < int(max); i++ {
		var e E
		fill(&e, items[i])
		sizedElem(unsafe.Add(out, uintptr(i)*elemSize), elemSize, unsafe.Pointer(&e), unsafe.Sizeof(e))
	}
	return C.int(len(items))
}

// sizedElem writes one element of this library's layout (srcSize bytes)
// into the caller's element of size bytes: ours first, zeros after.
func sizedElem(dst unsafe.Pointer, size uintptr, src unsafe.Pointer, srcSize uintptr) {
	n := min(size, srcSize)
	out := unsafe.Slice((*byte)(dst), size)
	copy(out, unsafe.Slice((*byte)(src), n))
	clear(out[n:])
}
