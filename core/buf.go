package core

import "sync"

// readBufSize is what one read from the kernel may return. Buffers are
// borrowed from a pool only once a descriptor is readable, so an idle
// connection holds none.
const readBufSize = 64 << 10

// copyBelow: a read shorter than this is copied into an exact-size slice
// and the big buffer goes straight back to the pool, so many small queued
// events never pin many 64 KiB buffers.
const copyBelow = 16 << 10

var bufPool = sync.Pool{New: func() any { b := make([]byte, readBufSize); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if b != nil {
		bufPool.Put(b)
	}
}

// payload turns the first n bytes of a pooled buffer into event data,
// keeping the pooled buffer only when the read was large.
func payload(b *[]byte, n int) ([]byte, *[]byte) {
	if n < copyBelow {
		out := make([]byte, n)
		copy(out, (*b)[:n])
		putBuf(b)
		return out, nil
	}
	return (*b)[:n], b
}
