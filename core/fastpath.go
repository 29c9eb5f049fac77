package core

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// The host-thread data path. Entering the Go runtime from a host's thread
// costs 0.5 µs back to back and 4–10 µs after the thread spent a while
// outside Go (the runtime wakes its monitor thread and takes a P again),
// which is most of a loopback round trip's budget. So the C ABI layer
// serves the common case of a plain TCP socket itself, in C: it reads a
// readable socket into the poll's memory and writes a send straight to the
// kernel while nothing is queued. This file is the Go half of that
// contract: the socket publishes, under its lock, which of the two the
// host thread may do right now, and takes back what the host thread left
// for it (the unsent tail of a partial write, byte counters).
//
// While FastWrite is published, the host thread owns the socket's output:
// it writes sends straight to the kernel and queues what the kernel does
// not take, adding EPOLLOUT to the socket's registration in the loop's
// epoll set until its poll has flushed the queue (then it emits DRAIN if
// the queue reached the high-water mark). Withdrawing FastWrite hands that
// queue to Go's queue and restores Go's registration.
//
// Rules that keep the two halves consistent:
//   - The published flags are always a subset of fastWantLocked(): every
//     change that shrinks it calls syncFastLocked or claimFastLocked before
//     it acts (they wait until no host operation is in progress).
//   - The host side may only drop flags by itself (after a partial write it
//     drops FastWrite and leaves the rest as carry), never add them; the
//     next publish hands that carry back and withholds FastWrite whatever
//     it asked for, so a republish cannot let a send overtake the carry.
//   - Reads by the host thread and by Loop.Poll never overlap: the C layer
//     runs both under its per-loop poll lock.

// Flags of what the host thread may do with a published socket.
const (
	FastRead  uint32 = 1 // read when readable, delivering DATA from poll
	FastWrite uint32 = 2 // write sends directly while nothing is queued
)

// FastSlot is what the socket publishes.
type FastSlot struct {
	Handle    Handle
	FD        int
	Flags     uint32
	UserData  uint64
	EpollFD   int    // the loop's epoll set
	WatchMask uint32 // FD's registration there, 0 if none
	HighWater int64  // send high-water mark
}

// FastTaken is what the host thread hands back when FastWrite is
// withdrawn (and the counters on every publish).
type FastTaken struct {
	Carry             []byte // output the host thread could not send yet, in order
	NeedDrain         bool   // that output reached the high-water mark
	Lost              bool   // no memory to hand the output over: the stream has a hole
	BytesIn, BytesOut uint64
}

// FastPath is implemented by the C ABI layer.
type FastPath interface {
	// Publish replaces the slot's flags (and handle, descriptor and user
	// data), waiting for a host operation in progress to end, and returns
	// what the host thread left behind.
	Publish(slot FastSlot) FastTaken
	// Harvest takes the byte counters the host thread accumulated and
	// reports the bytes waiting in its output queue.
	Harvest(h Handle) (in, out uint64, queued int64)
	// SetUserData changes the user data of a published slot.
	SetUserData(h Handle, v uint64)
}

var fast FastPath

// SetFastPath installs the host-thread data path (once, at load, before
// any socket exists).
func SetFastPath(f FastPath) { fast = f }

// fastWantLocked is what the host thread may do with s now.
func (s *Socket) fastWantLocked() uint32 {
	if fast == nil || s.kind != KindTCP || !s.hostReading || s.tlsConn != nil || s.upgrading ||
		s.finished || s.rc == nil {
		return 0
	}
	if s.fastFD < 0 {
		s.rc.Control(func(fd uintptr) { s.fastFD = int(fd) })
		if s.fastFD < 0 {
			return 0
		}
	}
	var f uint32
	if s.announced && s.watchFD >= 0 && s.watchMask&unix.EPOLLIN != 0 && !s.paused && !s.peerEnded &&
		s.state != StateClosing {
		f |= FastRead
	}
	if s.state == StateOpen && len(s.queue) == 0 && s.buffered == 0 && !s.writing &&
		!s.closePending && !s.halfClosePending && !s.wrClosed {
		f |= FastWrite
	}
	return f
}

// syncFastLocked publishes fastWantLocked() if it changed.
func (s *Socket) syncFastLocked() {
	if want := s.fastWantLocked(); want != s.fastPub {
		s.publishFastLocked(want)
	}
}

// claimFastLocked withdraws FastWrite (and takes any carry into the queue)
// before an operation that writes or changes the write side, so nothing
// the host thread writes can overtake or follow it. The operation ends
// with syncFastLocked.
func (s *Socket) claimFastLocked() {
	if s.fastPub != 0 {
		s.publishFastLocked(s.fastWantLocked() &^ FastWrite)
	}
}

func (s *Socket) publishFastLocked(flags uint32) {
	var mask uint32
	if s.watchFD >= 0 {
		mask = s.watchMask
	}
	t := fast.Publish(FastSlot{Handle: s.h, FD: s.fastFD, Flags: flags, UserData: s.userData.Load(),
		EpollFD: s.loop.epfd, WatchMask: mask, HighWater: s.hwmSend})
	s.bytesIn += t.BytesIn
	s.bytesOut += t.BytesOut
	if len(t.Carry) > 0 || t.Lost {
		// Output handed back means the host thread had dropped FastWrite
		// itself; the C side withholds it until Go publishes it again
		// (syncFastLocked, once Go's queue is empty).
		flags &^= FastWrite
	}
	s.fastPub = flags
	if t.Lost && !s.finished {
		s.finishLocked(Errf(ENOMEM, "no memory to hand queued output over"))
		return
	}
	if t.NeedDrain {
		s.needDrain = true
	}
	if len(t.Carry) == 0 {
		return
	}
	if s.finished || s.state == StateClosed {
		return // aborted: queued output is dropped anyway
	}
	// The carry goes first, and to the plaintext queue even if an upgrade
	// is starting: it was sent before anything Go has queued since.
	s.queue = append([]outChunk{{data: t.Carry}}, s.queue...)
	s.buffered += int64(len(t.Carry))
	if s.buffered >= s.hwmSend {
		s.needDrain = true
	}
	s.kickWriterLocked()
}

// harvestFastLocked brings the byte counters up to date.
func (s *Socket) harvestFastLocked() {
	if s.fastPub != 0 {
		in, out, queued := fast.Harvest(s.h)
		s.bytesIn += in
		s.bytesOut += out
		s.fastQueued = queued
	} else {
		s.fastQueued = 0
	}
}

// FastReadResult is how the host thread reports a read that met the end
// of the stream (errno 0) or an error (errno > 0) on a published socket.
func (s *Socket) FastReadResult(errno int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.claimFastLocked()
	switch {
	case s.finished:
	case errno == 0:
		s.onPeerEndLocked()
	default:
		s.finishLocked(AsError(os.NewSyscallError("read", syscall.Errno(errno))))
	}
	s.syncFastLocked()
}
