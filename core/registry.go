package core

import (
	"sync"
)

// Handle is the integer that names a loop or socket across the C ABI.
// The low 32 bits are a slot index (>= 1), bits 32..61 a generation that
// changes every time the slot is reused, so a stale handle never finds the
// object that reused its slot. Handles are always > 0.
type Handle int64

const genShift = 32
const genMask = (1 << 30) - 1

// registry is the process-wide handle table.
type registry struct {
	mu    sync.Mutex
	slots []slot
	free  []uint32
	live  int
}

type slot struct {
	gen uint32
	obj any
}

var handles = &registry{slots: make([]slot, 1)} // slot 0 is never used

func (r *registry) add(obj any) Handle {
	r.mu.Lock()
	defer r.mu.Unlock()
	var idx uint32
	if n := len(r.free); n > 0 {
		idx = r.free[n-1]
		r.free = r.free[:n-1]
	} else {
		r.slots = append(r.slots, slot{gen: 0})
		idx = uint32(len(r.slots) - 1)
	}
	s := &r.slots[idx]
	s.gen = (s.gen + 1) & genMask
	if s.gen == 0 {
		s.gen = 1
	}
	s.obj = obj
	r.live++
	return Handle(int64(s.gen)<<genShift | int64(idx))
}

func (r *registry) get(h Handle) any {
	if h <= 0 {
		return nil
	}
	idx := uint32(h & 0xffffffff)
	gen := uint32(int64(h)>>genShift) & genMask
	r.mu.Lock()
	defer r.mu.Unlock()
	if idx == 0 || int(idx) >= len(r.slots) {
		return nil
	}
	s := &r.slots[idx]
	if s.gen != gen || s.obj == nil {
		return nil
	}
	return s.obj
}

func (r *registry) remove(h Handle) {
	idx := uint32(h & 0xffffffff)
	gen := uint32(int64(h)>>genShift) & genMask
	r.mu.Lock()
	defer r.mu.Unlock()
	if idx == 0 || int(idx) >= len(r.slots) {
		return
	}
	s := &r.slots[idx]
	if s.gen != gen || s.obj == nil {
		return
	}
	s.obj = nil
	r.free = append(r.free, idx)
	r.live--
}

// counts returns live loops and sockets.
func (r *registry) counts() (loops, sockets int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := 1; i < len(r.slots); i++ {
		switch r.slots[i].obj.(type) {
		case *Loop:
			loops++
		case *Socket:
			sockets++
		}
	}
	return
}

// LookupLoop returns the loop named by h, or EBADF.
func LookupLoop(h Handle) (*Loop, *Error) {
	if l, ok := handles.get(h).(*Loop); ok {
		return l, nil
	}
	return nil, Errf(EBADF, "handle %d is not a live loop", int64(h))
}

// LookupSocket returns the socket named by h, or EBADF.
func LookupSocket(h Handle) (*Socket, *Error) {
	if s, ok := handles.get(h).(*Socket); ok {
		return s, nil
	}
	return nil, Errf(EBADF, "handle %d is not a live socket", int64(h))
}
