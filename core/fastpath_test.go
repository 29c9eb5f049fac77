package core

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fakeFast stands in for the C layer's slots: it records what sockets
// publish and hands back output "the host thread" queued, so the Go half
// of the contract (core/fastpath.go) can be tested with the race detector.
type fakeFast struct {
	mu      sync.Mutex
	slots   map[Handle]FastSlot
	history map[Handle][]uint32
	carry   map[Handle][]byte // output the host thread holds
	drain   map[Handle]bool
	fdShut  map[Handle]bool // the descriptor was already closed at a publish
}

func newFakeFast(t *testing.T) *fakeFast {
	f := &fakeFast{slots: map[Handle]FastSlot{}, history: map[Handle][]uint32{},
		carry: map[Handle][]byte{}, drain: map[Handle]bool{}, fdShut: map[Handle]bool{}}
	SetFastPath(f)
	t.Cleanup(func() { SetFastPath(nil) })
	return f
}

func (f *fakeFast) Publish(s FastSlot) FastTaken {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := unix.FcntlInt(uintptr(s.FD), unix.F_GETFD, 0); err != nil {
		f.fdShut[s.Handle] = true
	}
	f.slots[s.Handle] = s
	f.history[s.Handle] = append(f.history[s.Handle], s.Flags)
	var t FastTaken
	if s.Flags&FastWrite == 0 {
		t.Carry, t.NeedDrain = f.carry[s.Handle], f.drain[s.Handle]
		delete(f.carry, s.Handle)
		delete(f.drain, s.Handle)
	}
	return t
}

func (f *fakeFast) Harvest(h Handle) (uint64, uint64, int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return 0, 0, int64(len(f.carry[h]))
}

func (f *fakeFast) SetUserData(h Handle, v uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.slots[h]
	s.UserData = v
	f.slots[h] = s
}

func (f *fakeFast) flags(h Handle) uint32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.slots[h].Flags
}

// hold makes the host thread hold output for h, as after a partial write.
func (f *fakeFast) hold(h Handle, p []byte, drain bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.carry[h] = append(f.carry[h], p...)
	f.drain[h] = drain
}

func (f *fakeFast) closedWithFDOpen(h Handle) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	hist := f.history[h]
	return len(hist) > 0 && hist[len(hist)-1] == 0 && !f.fdShut[h]
}

// connectedPair returns a connected client and its accepted peer, both
// announced (OPEN and CONNECTION polled).
func connectedPair(t *testing.T, r *recorder) (cli, srv *Socket) {
	ln, port := r.listen(DefaultTCPOptions())
	cli, e := Connect(r.l, "127.0.0.1", port, DefaultTCPOptions(), 2)
	if e != nil {
		t.Fatal(e)
	}
	srv = r.accepted(ln)
	r.until("OPEN", 5*time.Second, func() bool { return r.has(cli.h, EvOpen) })
	ln.Close()
	return cli, srv
}

func TestFastPathPublishesWhatTheHostThreadMayDo(t *testing.T) {
	f := newFakeFast(t)
	r := newRecorder(t)
	cli, srv := connectedPair(t, r)
	both := FastRead | FastWrite
	if got := f.flags(cli.h); got != both {
		t.Fatalf("open client: published %b, want read and write", got)
	}
	if got := f.flags(srv.h); got != both {
		t.Fatalf("accepted socket once announced: published %b, want read and write", got)
	}
	cli.SetUserData(77)
	if f.slots[cli.h].UserData != 77 {
		t.Fatal("user data not published")
	}
	cli.Pause()
	if got := f.flags(cli.h); got != FastWrite {
		t.Fatalf("paused: published %b, want write only", got)
	}
	cli.Resume()
	if got := f.flags(cli.h); got != both {
		t.Fatalf("resumed: published %b, want read and write", got)
	}
	cli.HalfClose()
	if got := f.flags(cli.h); got&FastWrite != 0 {
		t.Fatalf("half-closed: published %b, write still allowed", got)
	}
	srv.Abort()
	r.until("CLOSE of both", 5*time.Second, func() bool { return r.has(cli.h, EvClose) && r.has(srv.h, EvClose) })
	for _, s := range []*Socket{cli, srv} {
		if !f.closedWithFDOpen(s.h) {
			t.Fatalf("socket %d: last publish %v was not 0 while its descriptor was open", s.h, f.history[s.h])
		}
	}
}

func TestFastPathCarryGoesFirstAndDrains(t *testing.T) {
	f := newFakeFast(t)
	r := newRecorder(t)
	cli, srv := connectedPair(t, r)
	cli.SetOption(OptHighWaterSend, 4)
	// The host thread wrote part of a send and holds the rest; a send
	// through Go must take that rest first, then DRAIN must follow the
	// flush because the held output had reached the mark.
	f.hold(cli.h, []byte("held-by-host|"), true)
	if b, e := cli.Send([]byte("sent-through-go")); e != nil || b == 0 {
		t.Fatalf("send: buffered %d, %v", b, e)
	}
	want := []byte("held-by-host|sent-through-go")
	r.until("data in order", 5*time.Second, func() bool { return len(r.data[srv.h]) >= len(want) })
	if !bytes.Equal(r.data[srv.h], want) {
		t.Fatalf("peer got %q, want %q", r.data[srv.h], want)
	}
	r.until("DRAIN", 5*time.Second, func() bool { return r.has(cli.h, EvDrain) })
	r.until("writes published again", 5*time.Second, func() bool { return f.flags(cli.h)&FastWrite != 0 })

	// Held output is not lost by a graceful close either.
	f.hold(cli.h, []byte("last words"), false)
	cli.Close()
	r.until("END at the peer", 5*time.Second, func() bool { return r.has(srv.h, EvEnd) })
	if got := r.data[srv.h][len(want):]; string(got) != "last words" {
		t.Fatalf("after close the peer got %q, want %q", got, "last words")
	}
}
