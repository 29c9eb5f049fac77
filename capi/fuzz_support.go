package main

/*
#include <stdlib.h>
#include <string.h>
#include "shim.h"
*/
import "C"

import (
	"unsafe"

	"github.com/w3sock/w3sock/core"
)

// This file exists for capi/fuzz_test.go: a _test.go file cannot use cgo,
// so the fuzz test reaches the C option structs through these. Nothing
// here is exported to C.

// overlay copies b over a zeroed C struct of size n (malloc'ed; the caller
// frees it). The allocation also covers the size b's leading size field
// claims (up to maxStructSize), since the library reads that many bytes of
// a struct larger than its own; bytes past it are ignored, and a short b
// leaves the rest zero.
func overlay(b []byte, n uintptr) unsafe.Pointer {
	alloc := max(n, min(claimedSize(b), maxStructSize))
	p := C.calloc(1, C.size_t(alloc))
	if len(b) > 0 {
		C.memcpy(p, unsafe.Pointer(&b[0]), C.size_t(min(uintptr(len(b)), alloc)))
	}
	return p
}

// claimedSize is the struct size b's leading size field says (a short b
// reads as zero-padded).
func claimedSize(b []byte) uintptr {
	var f [4]byte
	copy(f[:], b)
	return uintptr(f[0]) | uintptr(f[1])<<8 | uintptr(f[2])<<16 | uintptr(f[3])<<24
}

// cstrings hands out C copies of strs ("" is NULL) and frees them all.
type cstrings struct {
	strs  []string
	next  int
	alloc []*C.char
}

func (c *cstrings) take() *C.char {
	if len(c.strs) == 0 {
		return nil
	}
	s := c.strs[c.next%len(c.strs)]
	c.next++
	if s == "" {
		return nil
	}
	p := C.CString(s)
	c.alloc = append(c.alloc, p)
	return p
}

func (c *cstrings) free() {
	for _, p := range c.alloc {
		C.free(unsafe.Pointer(p))
	}
}

// fuzzTLSStruct decodes raw bytes as a w3s_tls_options whose string fields
// point at strs, as the API would.
func fuzzTLSStruct(raw []byte, strs []string) (*core.TLSOptions, *core.Error) {
	cs := &cstrings{strs: strs}
	defer cs.free()
	o := (*C.w3s_tls_options)(overlay(raw, unsafe.Sizeof(C.w3s_tls_options{})))
	defer C.free(unsafe.Pointer(o))
	fillTLSStrings(o, cs)
	return tlsOptionsFromC(o)
}

func fillTLSStrings(o *C.w3s_tls_options, cs *cstrings) {
	o.server_name, o.ca_pem, o.cert_pem, o.key_pem = cs.take(), cs.take(), cs.take(), cs.take()
	o.alpn, o.min_version, o.max_version = cs.take(), cs.take(), cs.take()
}

// fuzzTCPStruct decodes raw as a w3s_tcp_options; with tlsRaw != nil its
// tls field points at a w3s_tls_options made of tlsRaw.
func fuzzTCPStruct(raw, tlsRaw []byte, strs []string) (core.TCPOptions, *core.Error) {
	cs := &cstrings{strs: strs}
	defer cs.free()
	o := (*C.w3s_tcp_options)(overlay(raw, unsafe.Sizeof(C.w3s_tcp_options{})))
	defer C.free(unsafe.Pointer(o))
	o.local_address = cs.take()
	o.tls = nil
	if tlsRaw != nil {
		t := (*C.w3s_tls_options)(overlay(tlsRaw, unsafe.Sizeof(C.w3s_tls_options{})))
		defer C.free(unsafe.Pointer(t))
		fillTLSStrings(t, cs)
		o.tls = t
	}
	return tcpOptionsFromC(o)
}

// fuzzUDPStruct decodes raw as a w3s_udp_options.
func fuzzUDPStruct(raw []byte, strs []string) (core.UDPOptions, *core.Error) {
	cs := &cstrings{strs: strs}
	defer cs.free()
	o := (*C.w3s_udp_options)(overlay(raw, unsafe.Sizeof(C.w3s_udp_options{})))
	defer C.free(unsafe.Pointer(o))
	o.local_address, o.remote_address, o.multicast_interface = cs.take(), cs.take(), cs.take()
	return udpOptionsFromC(o)
}

// optionStructSizes are the sizes the C header gives the option structs.
func optionStructSizes() (tcp, udp, tls uintptr) {
	return unsafe.Sizeof(C.w3s_tcp_options{}), unsafe.Sizeof(C.w3s_udp_options{}), unsafe.Sizeof(C.w3s_tls_options{})
}
