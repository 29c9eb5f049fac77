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
	buf  *[]byte // pooled buffer behind Data, returned by Release
}

// Loop is an event queue with a descriptor that is readable while events
// are pending. Producers are socket goroutines; the consumer is whoever
// polls. The queue itself never blocks a producer: memory is bounded by the
// sockets' receive high-water marks, not by the queue.
type Loop struct {
	h   Handle
	efd int

	mu      sync.Mutex
	q       []Event
	head    int
	closed  bool
	woken   bool
	notify  func()
	sockets map[*Socket]struct{}

	wake chan struct{} // capacity 1: poke a waiting Poll
	done chan struct{} // closed by Close
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
	l := &Loop{efd: efd, wake: make(chan struct{}, 1), done: make(chan struct{}), sockets: make(map[*Socket]struct{})}
	l.h = handles.add(l)
	return l, nil
}

// Handle names the loop across the ABI.
func (l *Loop) Handle() Handle { return l.h }

// FD is the eventfd that is readable while events are pending.
func (l *Loop) FD() int { return l.efd }

// SetNotify installs fn, called (outside any lock) when the queue goes from
// empty to non-empty. nil removes it.
func (l *Loop) SetNotify(fn func()) {
	l.mu.Lock()
	l.notify = fn
	l.mu.Unlock()
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
	var notify func()
	if wasEmpty {
		unix.Write(l.efd, eventfdOne[:])
		notify = l.notify
	}
	l.mu.Unlock()
	if wasEmpty {
		select {
		case l.wake <- struct{}{}:
		default:
		}
		if notify != nil {
			notify()
		}
	}
	return true
}

// Wake makes a waiting Poll return (with no events if none are pending).
func (l *Loop) Wake() {
	l.mu.Lock()
	l.woken = true
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Poll moves up to len(dst) events into dst, waiting up to timeout for the
// first (negative: forever). It returns the count, or EBADF once closed.
func (l *Loop) Poll(dst []Event, timeout time.Duration) (int, *Error) {
	var timer *time.Timer
	for {
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			return 0, Errf(EBADF, "loop is closed")
		}
		if pending := len(l.q) - l.head; pending > 0 {
			n := copy(dst, l.q[l.head:])
			clear(l.q[l.head : l.head+n])
			l.head += n
			if l.head == len(l.q) {
				l.q = l.q[:0]
				l.head = 0
				var b [8]byte
				unix.Read(l.efd, b[:])
			} else if l.head > 4096 && l.head > len(l.q)/2 {
				m := copy(l.q, l.q[l.head:])
				clear(l.q[m:])
				l.q = l.q[:m]
				l.head = 0
			}
			l.mu.Unlock()
			if timer != nil {
				timer.Stop()
			}
			for i := range dst[:n] {
				dst[i].sock.delivered(&dst[i])
			}
			return n, nil
		}
		if l.woken {
			l.woken = false
			l.mu.Unlock()
			return 0, nil
		}
		l.mu.Unlock()
		if timeout == 0 {
			return 0, nil
		}
		if timeout < 0 {
			select {
			case <-l.wake:
			case <-l.done:
			}
			continue
		}
		if timer == nil {
			timer = time.NewTimer(timeout)
		}
		select {
		case <-l.wake:
		case <-l.done:
		case <-timer.C:
			return 0, nil
		}
	}
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
		var b [8]byte
		unix.Read(l.efd, b[:])
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
// queue and closes the descriptor. A waiting Poll returns EBADF.
func (l *Loop) Close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	socks := make([]*Socket, 0, len(l.sockets))
	for s := range l.sockets {
		socks = append(socks, s)
	}
	q := l.q[l.head:]
	l.q, l.head = nil, 0
	l.mu.Unlock()
	for _, s := range socks {
		s.Abort()
	}
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
	close(l.done)
	unix.Close(l.efd)
}
