package core

import (
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// EventType numbers match w3s_event_type in the header.
type EventType int32

const (
	EvOpen       EventType = 1
	EvData       EventType = 2
	EvMessage    EventType = 3
	EvConnection EventType = 4
	EvDrain      EventType = 5
	EvEnd        EventType = 6
	EvSecure     EventType = 7
	EvError      EventType = 8
	EvClose      EventType = 9
)

func (t EventType) String() string {
	switch t {
	case EvOpen:
		return "OPEN"
	case EvData:
		return "DATA"
	case EvMessage:
		return "MESSAGE"
	case EvConnection:
		return "CONNECTION"
	case EvDrain:
		return "DRAIN"
	case EvEnd:
		return "END"
	case EvSecure:
		return "SECURE"
	case EvError:
		return "ERROR"
	case EvClose:
		return "CLOSE"
	}
	return "?"
}

// Event is one thing that happened to a socket. Data stays valid until the
// event is passed to Loop.Release (or forever, if it never is).
type Event struct {
	Handle   Handle
	UserData uint64
	Type     EventType
	Code     Code   // ERROR, and CLOSE after an error
	Data     []byte // DATA/MESSAGE payload, ERROR message
	Accepted Handle // CONNECTION
	Addr     string // MESSAGE/CONNECTION remote address
	Port     uint16
	Family   uint16 // 4, 6, 1 (unix), 0

	sock *Socket
	acc  *Socket // CONNECTION: the accepted socket
	buf  *[]byte // pooled buffer behind Data, returned by Release
}

// Loop is an event queue plus the plain TCP sockets whose data the polling
// thread reads itself. Its descriptor is an epoll instance holding the
// queue's eventfd and those sockets (level-triggered), so it is readable
// while events are pending or a socket has data. Reading on the polling
// thread spares every hop a wake-up of a reader goroutine and spares idle
// connections a goroutine each. TLS and UDP sockets, and every socket of a
// loop in notify mode, are read by goroutines that queue their events.
// The queue never blocks a producer: memory is bounded by the sockets'
// receive high-water marks, not by the queue.
type Loop struct {
	h    Handle
	efd  int // eventfd: readable while the queue is not empty
	epfd int // epoll: efd and the host-read sockets

	mu        sync.Mutex
	q         []Event
	head      int
	closed    bool
	woken     bool
	signaled  bool // efd was written since it was last read
	polling   int  // Polls in progress (Close waits for them)
	idle      *sync.Cond
	notify    func()
	notifyCh  chan struct{}  // wakes the notifier goroutine (capacity 1)
	notifiers sync.WaitGroup // notifier goroutines still running (tests wait on it)
	hostReads bool           // plain TCP sockets are read by the polling thread
	sockets   map[*Socket]struct{}
	watched   map[int32]*Socket // host-read sockets by descriptor
	ready     []unix.EpollEvent
}

// NewLoop makes a loop and registers its handle.
func NewLoop() (*Loop, error) {
	if err := checkLive(); err != nil {
		return nil, err
	}
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, AsError(err)
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		unix.Close(efd)
		return nil, AsError(err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(efd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, efd, &ev); err != nil {
		unix.Close(efd)
		unix.Close(epfd)
		return nil, AsError(err)
	}
	l := &Loop{efd: efd, epfd: epfd, hostReads: true,
		sockets: make(map[*Socket]struct{}), watched: make(map[int32]*Socket),
		ready: make([]unix.EpollEvent, 256)}
	l.idle = sync.NewCond(&l.mu)
	l.h = handles.add(l)
	return l, nil
}

// Handle names the loop across the ABI.
func (l *Loop) Handle() Handle { return l.h }

// FD is readable while events are pending or a host-read socket has data.
func (l *Loop) FD() int { return l.epfd }

// EventFD is the queue's eventfd inside FD's epoll set (its epoll data is
// the descriptor with a zero high half): readable while events are queued.
func (l *Loop) EventFD() int { return l.efd }

// SetNotify installs fn, called (outside any lock) when the queue goes from
// empty to non-empty. nil removes it. A host that is only notified does not
// watch the descriptor, so socket readiness would go unseen: from then on
// every socket of the loop is read by a goroutine that queues its data.
//
// fn runs on a notifier goroutine of its own, never under a lock of the
// library: a host whose notify blocks until its own thread runs it (koffi's
// foreign-thread callbacks do) may meanwhile call into the library.
func (l *Loop) SetNotify(fn func()) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	if l.notifyCh != nil {
		close(l.notifyCh)
		l.notifyCh = nil
	}
	l.notify = fn
	if fn != nil {
		ch := make(chan struct{}, 1)
		l.notifyCh = ch
		l.notifiers.Add(1)
		go func() {
			defer l.notifiers.Done()
			for range ch {
				// A signal still buffered when fn was replaced, removed or
				// the loop closed is dropped: the host may free what fn uses
				// once those calls return.
				if l.notifyIs(ch) {
					fn()
				}
			}
		}()
		if len(l.q) > l.head {
			ch <- struct{}{} // events are already waiting
		}
	}
	var moved []*Socket
	if fn != nil && l.hostReads {
		l.hostReads = false
		for s := range l.sockets {
			moved = append(moved, s)
		}
	}
	l.mu.Unlock()
	for _, s := range moved {
		s.leaveHostReads()
	}
}

// notifyIs reports whether ch is still the loop's notification channel.
func (l *Loop) notifyIs(ch chan struct{}) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.notifyCh == ch
}

// usesHostReads reports whether new plain TCP sockets are read by the
// polling thread.
func (l *Loop) usesHostReads() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.hostReads && !l.closed
}

// watch adds a host-served socket's descriptor to the epoll set, or
// changes the readiness it is watched for (mask: EPOLLIN, EPOLLOUT).
func (l *Loop) watch(s *Socket, fd int, mask uint32) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	op := unix.EPOLL_CTL_ADD
	if _, ok := l.watched[int32(fd)]; ok {
		op = unix.EPOLL_CTL_MOD
	}
	// Pad is the high half of epoll_data: the socket's slot index, by which
	// the C layer's poll finds the socket without entering Go.
	ev := unix.EpollEvent{Events: mask, Fd: int32(fd), Pad: int32(uint32(s.h))}
	if err := unix.EpollCtl(l.epfd, op, fd, &ev); err != nil {
		return false
	}
	l.watched[int32(fd)] = s
	return true
}

// unwatch removes it again (before the descriptor is closed).
func (l *Loop) unwatch(fd int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.watched[int32(fd)]; !ok {
		return
	}
	delete(l.watched, int32(fd))
	if !l.closed {
		unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, fd, nil)
	}
}

var eventfdOne = [8]byte{1}

// push appends an event. It reports false if the loop is closed, in which
// case the event's buffer has been recycled.
func (l *Loop) push(ev Event) bool {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		putBuf(ev.buf)
		return false
	}
	wasEmpty := len(l.q) == l.head
	l.q = append(l.q, ev)
	if wasEmpty {
		l.signalLocked()
		if l.notifyCh != nil {
			select {
			case l.notifyCh <- struct{}{}:
			default: // a notification is already pending
			}
		}
	}
	l.mu.Unlock()
	return true
}

// Wake makes a waiting Poll return (with no events if none are pending).
func (l *Loop) Wake() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.woken = true
	l.signalLocked()
}

// signalLocked makes efd (and so the epoll fd) readable.
func (l *Loop) signalLocked() {
	if !l.signaled {
		unix.Write(l.efd, eventfdOne[:])
		l.signaled = true
	}
}

// resetEventfdLocked clears the eventfd once nothing is queued or woken.
func (l *Loop) resetEventfdLocked() {
	if l.signaled {
		var b [8]byte
		unix.Read(l.efd, b[:])
		l.signaled = false
	}
}

// Poll moves up to len(dst) events into dst, waiting up to timeout for the
// first (negative: forever). Queued events come first, then data read from
// the host-read sockets that are readable. It returns the count, or EBADF
// once the loop is closed.
func (l *Loop) Poll(dst []Event, timeout time.Duration) (int, *Error) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return 0, Errf(EBADF, "loop is closed")
	}
	l.polling++
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.polling--
		if l.polling == 0 {
			l.idle.Broadcast()
		}
		l.mu.Unlock()
	}()
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	for {
		n, closed, woken := l.takeQueued(dst)
		if closed {
			return 0, Errf(EBADF, "loop is closed")
		}
		if n < len(dst) {
			n += l.readReady(dst[n:])
		}
		if n > 0 || woken || timeout == 0 {
			return n, nil
		}
		ms := -1
		if timeout > 0 {
			left := time.Until(deadline)
			if left <= 0 {
				return 0, nil
			}
			ms = int((left + time.Millisecond - 1) / time.Millisecond)
		}
		var evs [1]unix.EpollEvent
		if _, err := unix.EpollWait(l.epfd, evs[:], ms); err != nil && err != unix.EINTR {
			return 0, AsError(err)
		}
	}
}

// takeQueued moves queued events into dst and gives receive credit back.
func (l *Loop) takeQueued(dst []Event) (n int, closed, woken bool) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return 0, true, false
	}
	woken = l.woken
	l.woken = false
	if pending := len(l.q) - l.head; pending > 0 {
		n = copy(dst, l.q[l.head:])
		clear(l.q[l.head : l.head+n])
		l.head += n
		if l.head == len(l.q) {
			l.q = l.q[:0]
			if cap(l.q) > maxIdleQueue {
				l.q = nil // a burst grew it: do not keep the memory while idle
			}
			l.head = 0
		} else if l.head > 4096 && l.head > len(l.q)/2 {
			m := copy(l.q, l.q[l.head:])
			clear(l.q[m:])
			l.q = l.q[:m]
			l.head = 0
		}
	}
	if len(l.q) == l.head {
		l.resetEventfdLocked()
	}
	l.mu.Unlock()
	for i := range dst[:n] {
		dst[i].sock.delivered(&dst[i])
	}
	return n, false, woken
}

// maxIdleQueue is the queue capacity (events) kept once it drains.
const maxIdleQueue = 4096

type readySocket struct {
	s      *Socket
	events uint32
}

// maxReadRounds bounds how often one Poll asks epoll again to fill dst.
const maxReadRounds = 8

// readReady reads once from each readable host-read socket, appending DATA
// to dst; END, errors and CLOSE go through the queue as usual.
func (l *Loop) readReady(dst []Event) int {
	n := 0
	for round := 0; round < maxReadRounds && n < len(dst); round++ {
		l.mu.Lock()
		if len(l.watched) == 0 || l.closed {
			l.mu.Unlock()
			return n
		}
		ready := l.ready[:min(len(l.ready), len(dst)-n+1)]
		k, err := unix.EpollWait(l.epfd, ready, 0)
		if err != nil || k <= 0 {
			l.mu.Unlock()
			return n
		}
		socks := make([]readySocket, 0, k)
		for _, ev := range ready[:k] {
			if s, ok := l.watched[ev.Fd]; ok {
				socks = append(socks, readySocket{s, ev.Events})
			}
		}
		l.mu.Unlock()
		if len(socks) == 0 {
			return n
		}
		more := false
		for _, r := range socks {
			if n == len(dst) {
				break
			}
			if r.events&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) != 0 {
				r.s.hostFlush()
			}
			if r.events&^unix.EPOLLOUT == 0 {
				continue
			}
			if s := r.s; s.hostRead(&dst[n]) {
				dst[n].sock.delivered(&dst[n])
				more = more || len(dst[n].Data) == readBufSize
				n++
			}
		}
		if !more {
			return n // every read was short: nothing is left behind
		}
	}
	return n
}

// Release returns the pooled buffers behind events taken by Poll. The
// events' Data must not be used afterwards.
func Release(evs []Event) {
	for i := range evs {
		putBuf(evs[i].buf)
		evs[i].buf = nil
		evs[i].Data = nil
	}
}

// extract removes the not-yet-polled DATA events of s from the queue and
// returns their bytes in order (STARTTLS: they belong to the handshake).
func (l *Loop) extract(s *Socket) []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []byte
	kept := l.q[:l.head]
	for i := l.head; i < len(l.q); i++ {
		ev := l.q[i]
		if ev.sock == s && ev.Type == EvData {
			out = append(out, ev.Data...)
			putBuf(ev.buf)
			continue
		}
		kept = append(kept, ev)
	}
	clear(l.q[len(kept):])
	l.q = kept
	if len(l.q) == l.head {
		l.q = l.q[:0]
		l.head = 0
		if !l.woken {
			l.resetEventfdLocked()
		}
	}
	return out
}

func (l *Loop) queued() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.q) - l.head
}

func (l *Loop) addSocket(s *Socket) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.sockets[s] = struct{}{}
	return true
}

func (l *Loop) removeSocket(s *Socket) {
	l.mu.Lock()
	delete(l.sockets, s)
	l.mu.Unlock()
}

// Close aborts every socket of the loop without further events, drops the
// queue and closes the descriptors. A waiting Poll returns EBADF.
func (l *Loop) Close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	socks := make([]*Socket, 0, len(l.sockets))
	for s := range l.sockets {
		socks = append(socks, s)
	}
	l.mu.Unlock()
	for _, s := range socks {
		s.Abort()
	}
	l.mu.Lock()
	l.closed = true
	if l.notifyCh != nil {
		close(l.notifyCh)
		l.notifyCh = nil
	}
	q := l.q[l.head:]
	l.q, l.head = nil, 0
	// Wake any Poll blocked in epoll_wait and let it leave before the
	// descriptors go away (closing them would not wake it).
	l.signalLocked()
	for l.polling > 0 {
		l.idle.Wait()
	}
	l.mu.Unlock()
	for i := range q {
		if q[i].Type == EvClose {
			handles.remove(q[i].Handle)
		}
	}
	Release(q)
	for _, s := range socks {
		handles.remove(s.h)
	}
	handles.remove(l.h)
	unix.Close(l.epfd)
	unix.Close(l.efd)
}
