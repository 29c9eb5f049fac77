package core

import (
	"crypto/tls"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Kind numbers match w3s_kind in the header.
type Kind int32

const (
	KindTCP       Kind = 1
	KindTCPServer Kind = 2
	KindUDP       Kind = 3
)

// ReadyState numbers match w3s_ready_state (the W3C draft's order).
type ReadyState int32

const (
	StateOpening    ReadyState = 0
	StateOpen       ReadyState = 1
	StateClosing    ReadyState = 2
	StateClosed     ReadyState = 3
	StateHalfClosed ReadyState = 4
)

const (
	defaultHighWaterSend    = 1 << 20
	defaultHighWaterReceive = 1 << 20
	defaultUDPHighWaterRecv = 4 << 20
	maxSendLen              = 1 << 31
)

// outChunk is one queued piece of output: bytes, a file range (TCP), or a
// datagram with its destination (UDP).
type outChunk struct {
	data []byte
	file *os.File
	off  int64
	n    int64
	dest *udpDest // UDP: nil means the connected peer
}

// Socket is a TCP connection, a TCP listener or a UDP socket. All mutable
// state is guarded by mu; the reader goroutine waits on cond.
type Socket struct {
	h        Handle
	loop     *Loop
	kind     Kind
	userData atomic.Uint64

	mu       sync.Mutex
	cond     sync.Cond
	state    ReadyState
	finished bool // CLOSE has been emitted

	// transport
	raw      net.Conn        // the plain TCP/unix connection (TCP)
	rc       syscall.RawConn // raw's (or the UDP socket's) descriptor
	tlsConn  *tls.Conn       // set once TLS is established
	ln       net.Listener
	udp      *net.UDPConn
	family   uint16 // 4, 6 or 1 (unix)
	isUnix   bool
	accepted bool // made by a listener: server role for STARTTLS
	cancel   func()
	opts     TCPOptions // connect/listen options (TCP), kept for accepted sockets

	// reading
	paused        bool
	readerRunning bool // a reader goroutine exists
	hostReading   bool // the loop's polling thread reads this socket
	watchFD       int  // descriptor in the loop's epoll set, or -1
	watchMask     uint32
	announced     bool   // OPEN/CONNECTION delivered: DATA may follow
	fastFD        int    // descriptor for the host-thread data path, or -1
	fastPub       uint32 // Fast* flags published to the host thread
	fastQueued    int64  // the host thread's queued output at the last harvest
	acceptBackoff time.Duration
	undelivered   int64
	hwmRecv       int64
	peerEnded     bool

	// writing
	queue            []outChunk
	buffered         int64
	hwmSend          int64
	writing          bool
	needDrain        bool
	halfClosePending bool
	wrClosed         bool
	closePending     bool

	// TLS
	secure       bool
	upgrading    bool
	upgradeBytes []byte     // received during an upgrade, fed to the handshake
	pendingTLS   []outChunk // sent during an upgrade, written once it is secure
	dialHost     string     // the host we connected to (TLS verification name)
	tlsInfo      TLSInfo

	// UDP
	connected  bool
	dualStack  bool // wildcard IPv6 socket that also carries IPv4
	peer       *net.UDPAddr
	groups     []Membership
	mcastIface int

	// counters
	bytesIn, bytesOut, msgsIn, msgsOut, dropped uint64
}

func newSocket(l *Loop, kind Kind, userData uint64) (*Socket, *Error) {
	if err := checkLive(); err != nil {
		return nil, err
	}
	s := &Socket{loop: l, kind: kind, hwmSend: defaultHighWaterSend, hwmRecv: defaultHighWaterReceive, watchFD: -1, fastFD: -1}
	s.cond.L = &s.mu
	s.userData.Store(userData)
	if !l.addSocket(s) {
		return nil, Errf(EBADF, "loop is closed")
	}
	s.h = handles.add(s)
	return s, nil
}

// Handle names the socket across the ABI.
func (s *Socket) Handle() Handle { return s.h }

// Kind is TCP, TCP server or UDP.
func (s *Socket) Kind() Kind { return s.kind }

// SetUserData changes what later events carry.
func (s *Socket) SetUserData(v uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.userData.Store(v)
	if s.fastPub != 0 {
		fast.SetUserData(s.h, v)
	}
}

// State returns the ready state.
func (s *Socket) State() ReadyState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

// emitLocked queues an event for this socket unless CLOSE was already
// emitted. Callers hold s.mu, which keeps a socket's events in order.
func (s *Socket) emitLocked(ev Event) {
	if s.finished && ev.Type != EvClose {
		putBuf(ev.buf)
		return
	}
	ev.Handle = s.h
	ev.sock = s
	s.loop.push(ev)
}

func (s *Socket) emitErrorLocked(e *Error) {
	msg := append([]byte(e.Msg), 0)
	s.emitLocked(Event{Type: EvError, Code: e.Code, Data: msg[:len(msg)-1]})
}

// delivered runs when the host takes ev from the loop: it fills in the
// current user data and gives receive credit back to the reader.
func (s *Socket) delivered(ev *Event) {
	ev.UserData = s.userData.Load()
	switch ev.Type {
	case EvData, EvMessage:
		s.mu.Lock()
		s.undelivered -= int64(len(ev.Data))
		if s.undelivered < s.hwmRecv {
			s.cond.Broadcast()
		}
		s.mu.Unlock()
	case EvOpen:
		s.mu.Lock()
		s.announced = true
		s.syncFastLocked()
		s.mu.Unlock()
	case EvConnection:
		if a := ev.acc; a != nil {
			a.mu.Lock()
			a.announced = true
			a.syncFastLocked()
			a.mu.Unlock()
		}
	case EvClose:
		handles.remove(s.h)
		s.loop.removeSocket(s)
	}
}

// finish ends the socket: closes the transport, emits ERROR (if e is not
// nil) and CLOSE. Only the first call does anything.
func (s *Socket) finish(e *Error) {
	s.mu.Lock()
	s.finishLocked(e)
	s.mu.Unlock()
}

func (s *Socket) finishLocked(e *Error) {
	if s.finished {
		return
	}
	s.state = StateClosed
	s.closeTransportLocked()
	for _, c := range s.queue {
		if c.file != nil {
			c.file.Close()
		}
	}
	for _, c := range s.pendingTLS {
		if c.file != nil {
			c.file.Close()
		}
	}
	s.queue, s.pendingTLS = nil, nil
	s.buffered = 0
	s.upgradeBytes = nil
	if s.cancel != nil {
		s.cancel()
	}
	code := OK
	if e != nil {
		code = e.Code
		s.emitErrorLocked(e)
	}
	s.emitLocked(Event{Type: EvClose, Code: code})
	s.finished = true
	s.cond.Broadcast()
}

func (s *Socket) closeTransportLocked() {
	s.hostReading = false
	s.updateWatchLocked() // out of the epoll set before the descriptor closes
	if s.kind == KindUDP {
		s.leaveAllLocked()
	}
	if s.raw != nil {
		s.raw.Close()
	}
	if s.ln != nil {
		s.ln.Close()
	}
	if s.udp != nil {
		s.udp.Close()
	}
}

// fail ends the socket with err (ERROR then CLOSE) unless it has ended.
func (s *Socket) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.finishLocked(AsError(err))
}

// interruptReadLocked makes a reader blocked in the kernel wait return, so
// it re-checks pause, close and upgrade.
func (s *Socket) interruptReadLocked() {
	s.updateWatchLocked()
	past := time.Unix(1, 0)
	switch {
	case s.raw != nil:
		s.raw.SetReadDeadline(past)
	case s.udp != nil:
		s.udp.SetReadDeadline(past)
	}
	s.cond.Broadcast()
}

func (s *Socket) clearReadDeadlineLocked() {
	switch {
	case s.raw != nil:
		s.raw.SetReadDeadline(time.Time{})
	case s.udp != nil:
		s.udp.SetReadDeadline(time.Time{})
	}
}

// Pause stops reading from the kernel until Resume.
func (s *Socket) Pause() *Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.kind == KindTCPServer {
		return Errf(ENOTSUP, "pause is not supported on a listening socket")
	}
	if s.finished {
		return Errf(EBADF, "socket is closed")
	}
	if !s.paused {
		s.paused = true
		s.interruptReadLocked()
	}
	return nil
}

// Resume restarts reading.
func (s *Socket) Resume() *Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.kind == KindTCPServer {
		return Errf(ENOTSUP, "resume is not supported on a listening socket")
	}
	if s.finished {
		return Errf(EBADF, "socket is closed")
	}
	if s.paused {
		s.paused = false
		if !s.upgrading {
			s.clearReadDeadlineLocked()
		}
		s.updateWatchLocked()
		s.cond.Broadcast()
	}
	return nil
}

// Close closes gracefully: queued output is sent first (TCP), then CLOSE.
func (s *Socket) Close() *Error {
	s.mu.Lock()
	if s.finished || s.state == StateClosing {
		s.mu.Unlock()
		return nil
	}
	if s.kind == KindTCP && s.state == StateOpening && len(s.queue) > 0 {
		// Queued data is still owed: send it once connected, then close.
		s.closePending = true
		s.mu.Unlock()
		return nil
	}
	if s.kind != KindTCP || s.state == StateOpening || s.raw == nil {
		s.finishLocked(nil)
		s.mu.Unlock()
		return nil
	}
	s.state = StateClosing
	s.closePending = true
	s.interruptReadLocked()
	// During a STARTTLS handshake, close waits for it only when data sent
	// meanwhile is owed to the peer encrypted.
	idle := !s.writing && len(s.queue) == 0 && (!s.upgrading || len(s.pendingTLS) == 0)
	s.mu.Unlock()
	if idle {
		s.closeGracefully()
	}
	return nil
}

// Abort closes at once, dropping queued output; TCP peers see a reset.
func (s *Socket) Abort() *Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.finished {
		return nil
	}
	if tc, ok := s.raw.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	s.finishLocked(nil)
	return nil
}

// waitReadable blocks the reader while it must not read. It reports false
// when the reader should exit.
func (s *Socket) waitReadableLocked() bool {
	for {
		if s.finished || s.state == StateClosing || s.upgrading || s.peerEnded {
			return false
		}
		if !s.paused && s.undelivered < s.hwmRecv {
			return true
		}
		s.cond.Wait()
	}
}
