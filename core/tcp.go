package core

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// TCPOptions are the settings of w3s_tcp_options.
type TCPOptions struct {
	LocalAddress       string
	LocalPort          int
	NoDelay            bool
	KeepAlive          bool
	KeepAliveDelay     time.Duration
	ConnectTimeout     time.Duration
	SendBufferSize     int
	ReceiveBufferSize  int
	AddressReuse       bool
	ReusePort          bool
	Backlog            int
	UseSecureTransport bool
	HighWaterSend      int64
	HighWaterReceive   int64
	TLS                *TLSOptions
}

// DefaultTCPOptions are the header's defaults.
func DefaultTCPOptions() TCPOptions {
	return TCPOptions{NoDelay: true, AddressReuse: true}
}

// Validate checks the options as Connect and Listen do (the TLS settings
// aside, which are checked when a configuration is built from them).
func (o *TCPOptions) Validate() *Error { return o.validate() }

func (o *TCPOptions) validate() *Error {
	switch {
	case o.LocalPort < 0 || o.LocalPort > 65535:
		return Errf(EINVAL, "local port %d is outside 0..65535", o.LocalPort)
	case o.KeepAliveDelay < 0:
		return Errf(EINVAL, "keep-alive delay must not be negative")
	case o.ConnectTimeout < 0:
		return Errf(EINVAL, "connect timeout must not be negative")
	case o.SendBufferSize < 0 || o.ReceiveBufferSize < 0:
		return Errf(EINVAL, "buffer sizes must not be negative")
	case o.Backlog < 0:
		return Errf(EINVAL, "backlog must not be negative")
	case o.HighWaterSend < 0 || o.HighWaterReceive < 0:
		return Errf(EINVAL, "high-water marks must not be negative")
	}
	return nil
}

func (s *Socket) applyHighWater(send, recv int64) {
	if send > 0 {
		s.hwmSend = send
	}
	if recv > 0 {
		s.hwmRecv = recv
	}
}

// parseLocalIP parses a local address literal ("" is the wildcard).
func parseLocalIP(a string) (net.IP, *Error) {
	if a == "" {
		return nil, nil
	}
	ip, err := netip.ParseAddr(a)
	if err != nil || ip.Zone() != "" && !ip.Is6() {
		return nil, Errf(EADDR, "local address %q is not an IP address literal", a)
	}
	return net.IP(ip.AsSlice()), nil
}

// dialTarget turns Connect's host and port into a network and an address
// for net.Dialer: "unix:/path" is AF_UNIX (port ignored), anything else a
// host name or IP literal (an IPv6 one may be bracketed) with a port in
// 1..65535.
func dialTarget(host string, port int) (network, addr string, e *Error) {
	if path, ok := strings.CutPrefix(host, "unix:"); ok {
		if path == "" {
			return "", "", Errf(EINVAL, "empty unix socket path")
		}
		return "unix", path, nil
	}
	if host == "" {
		return "", "", Errf(EINVAL, "empty host")
	}
	if port < 1 || port > 65535 {
		return "", "", Errf(EINVAL, "port %d is outside 1..65535", port)
	}
	if inner, ok := strings.CutPrefix(host, "["); ok && strings.HasSuffix(inner, "]") {
		// "[::1]", as in URLs: the brackets are not part of the address.
		inner = inner[:len(inner)-1]
		if a, err := netip.ParseAddr(inner); err != nil || !a.Is6() {
			return "", "", Errf(EADDR, "%q is not a bracketed IPv6 address", host)
		}
		host = inner
	}
	if _, err := netip.ParseAddr(host); err != nil && !validHostName(host) {
		// The resolver would refuse it too, later and as "not found".
		return "", "", Errf(EADDR, "host %q is neither an IP address nor a host name", host)
	}
	addr = net.JoinHostPort(host, strconv.Itoa(port))
	if h, _, err := net.SplitHostPort(addr); err != nil || h != host {
		// e.g. an IPv6 zone holding brackets: the dialer could not read it
		return "", "", Errf(EADDR, "host %q cannot be dialled", host)
	}
	return "tcp", addr, nil
}

// Connect starts connecting to host:port ("unix:/path" for AF_UNIX) and
// returns the socket at once; OPEN or ERROR+CLOSE follows.
func Connect(l *Loop, host string, port int, o TCPOptions, userData uint64) (*Socket, *Error) {
	if e := o.validate(); e != nil {
		return nil, e
	}
	network, addr, e := dialTarget(host, port)
	if e != nil {
		return nil, e
	}
	var local net.Addr
	if network == "tcp" && (o.LocalAddress != "" || o.LocalPort != 0) {
		ip, e := parseLocalIP(o.LocalAddress)
		if e != nil {
			return nil, e
		}
		local = &net.TCPAddr{IP: ip, Port: o.LocalPort}
	}
	var tlsCfg *tls.Config
	if o.UseSecureTransport {
		name := host
		if network == "unix" {
			name = ""
		}
		cfg, e := o.TLS.clientConfig(name)
		if e != nil {
			return nil, e
		}
		tlsCfg = cfg
	}
	s, e := newSocket(l, KindTCP, userData)
	if e != nil {
		return nil, e
	}
	s.opts = o
	if network == "tcp" {
		s.dialHost = host
	}
	s.applyHighWater(o.HighWaterSend, o.HighWaterReceive)
	var ctx context.Context
	var cancel context.CancelFunc
	if o.ConnectTimeout > 0 {
		ctx, cancel = context.WithTimeout(context.Background(), o.ConnectTimeout)
	} else {
		ctx, cancel = context.WithCancel(context.Background())
	}
	s.cancel = cancel
	go s.dial(ctx, network, addr, local, tlsCfg)
	return s, nil
}

func (s *Socket) dial(ctx context.Context, network, addr string, local net.Addr, tlsCfg *tls.Config) {
	d := net.Dialer{
		LocalAddr:     local,
		FallbackDelay: 300 * time.Millisecond,
		KeepAlive:     -1, // ours is set from the options after connecting
		Control: func(_, _ string, c syscall.RawConn) error {
			return controlErr(c, func(fd int) error { return setBufferSizes(fd, s.opts.SendBufferSize, s.opts.ReceiveBufferSize) })
		},
	}
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		e := AsError(err)
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			e = Errf(ETIMEDOUT, "connect to %s timed out after %v", addr, s.opts.ConnectTimeout)
		}
		s.fail(e)
		return
	}
	s.mu.Lock()
	if s.finished {
		s.mu.Unlock()
		c.Close()
		return
	}
	s.attachLocked(c)
	s.mu.Unlock()
	var tc *tls.Conn
	if tlsCfg != nil {
		tc = tls.Client(&handshakeConn{Conn: c, s: s}, tlsCfg)
		hctx := ctx
		if s.opts.ConnectTimeout == 0 {
			// Without a connect timeout of the caller's, a server that
			// accepts and then says nothing must not hold us forever.
			var cancel context.CancelFunc
			hctx, cancel = context.WithTimeout(ctx, handshakeTimeout)
			defer cancel()
		}
		if err := tc.HandshakeContext(hctx); err != nil {
			s.fail(handshakeError(tlsCfg, err))
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.finished {
		return
	}
	s.cancel()
	s.cancel = nil
	if tc != nil {
		s.setSecureLocked(tc)
	}
	s.openedLocked(true)
}

// attachLocked adopts an established connection and applies the options.
func (s *Socket) attachLocked(c net.Conn) {
	s.raw = c
	if sc, ok := c.(syscall.Conn); ok {
		s.rc, _ = sc.SyscallConn()
	}
	switch a := c.LocalAddr().(type) {
	case *net.TCPAddr:
		s.family = familyOf(a.IP)
	case *net.UnixAddr:
		s.family, s.isUnix = 1, true
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetNoDelay(s.opts.NoDelay)
		if s.opts.KeepAlive {
			cfg := net.KeepAliveConfig{Enable: true, Idle: s.opts.KeepAliveDelay, Interval: -1, Count: -1}
			if cfg.Idle == 0 {
				cfg.Idle = -1
			}
			tc.SetKeepAliveConfig(cfg)
		} else {
			tc.SetKeepAlive(false) // net.FileConn (host accept) turns it on
		}
	}
}

func familyOf(ip net.IP) uint16 {
	if ip.To4() != nil {
		return 4
	}
	return 6
}

// openedLocked makes a connected socket open: OPEN (and SECURE), then the
// reader starts, and output queued while opening is written.
func (s *Socket) openedLocked(emitOpen bool) {
	s.state = StateOpen
	if s.halfClosePending {
		s.state = StateHalfClosed
	}
	if s.closePending {
		s.state = StateClosing // closed while opening with data queued
	}
	if emitOpen {
		s.emitLocked(Event{Type: EvOpen})
	}
	if s.secure {
		s.emitLocked(Event{Type: EvSecure})
	}
	if !s.closePending {
		s.startReaderLocked()
	}
	s.kickWriterLocked()
	flushed := !s.writing && len(s.queue) == 0
	if s.halfClosePending && flushed {
		s.closeWriteLocked()
	}
	if s.closePending && flushed {
		go s.closeGracefully()
	}
}

// startReaderLocked starts reading: on the loop's polling thread for a
// plain TCP socket (see Loop), else with a reader goroutine.
func (s *Socket) startReaderLocked() {
	if s.readerRunning || s.finished || s.peerEnded {
		return
	}
	if s.kind == KindTCP && s.tlsConn == nil && !s.upgrading && s.loop.usesHostReads() {
		s.hostReading = true
		if s.updateWatchLocked() {
			return
		}
		s.hostReading = false // could not watch: fall back to a goroutine
	}
	s.hostReading = false
	s.readerRunning = true
	go s.readLoop()
}

// updateWatchLocked keeps a host-served socket in the loop's epoll set for
// what the polling thread should do: read while it may be read, and flush
// queued output while there is some (writes the kernel did not take at once
// wait for EPOLLOUT instead of a writer goroutine). It reports whether the
// socket is watched for reading.
func (s *Socket) updateWatchLocked() bool {
	if s.fastPub&FastWrite != 0 {
		// The host thread may have added EPOLLOUT for its queue: take the
		// queue and the registration back before changing it.
		s.claimFastLocked()
	}
	wantRead := s.hostReading && s.tlsConn == nil && !s.finished && !s.paused && !s.upgrading &&
		!s.peerEnded && s.state != StateClosing && s.rc != nil
	var mask uint32
	if wantRead {
		mask |= unix.EPOLLIN | unix.EPOLLRDHUP
	}
	if s.hostFlushesLocked() {
		mask |= unix.EPOLLOUT
	}
	switch {
	case mask != 0 && (s.watchFD < 0 || mask != s.watchMask):
		fd := s.watchFD
		if fd < 0 {
			s.rc.Control(func(f uintptr) { fd = int(f) })
		}
		if fd >= 0 && s.loop.watch(s, fd, mask) {
			s.watchFD, s.watchMask = fd, mask
		} else if s.watchFD < 0 {
			return false
		}
	case mask == 0 && s.watchFD >= 0:
		s.loop.unwatch(s.watchFD)
		s.watchFD, s.watchMask = -1, 0
	}
	s.syncFastLocked()
	return s.watchFD >= 0 && s.watchMask&unix.EPOLLIN != 0
}

// hostFlushesLocked reports whether queued output is waiting for the
// polling thread (plain TCP in a host-read loop; files go to a writer
// goroutine, which uses sendfile).
func (s *Socket) hostFlushesLocked() bool {
	return s.hostReading && s.kind == KindTCP && s.tlsConn == nil && !s.finished && !s.writing &&
		len(s.queue) > 0 && s.queue[0].file == nil && s.state != StateOpening && s.rc != nil
}

// hostFlush writes queued output on the polling thread without waiting,
// then does what waited for the flush (DRAIN, half-close, close, upgrade).
func (s *Socket) hostFlush() {
	s.mu.Lock()
	if s.fastPub&FastWrite != 0 {
		// The host thread's queue is waiting for this EPOLLOUT, and this
		// poll is Go's: take the queue over and flush it here.
		s.claimFastLocked()
	}
	if !s.hostFlushesLocked() {
		s.syncFastLocked()
		s.mu.Unlock()
		return
	}
	for len(s.queue) > 0 && s.queue[0].file == nil {
		var bufs [][]byte
		size := 0
		for _, c := range s.queue {
			if c.file != nil || len(bufs) == maxBatchChunks || size >= maxBatchBytes {
				break
			}
			bufs = append(bufs, c.data)
			size += len(c.data)
		}
		var n int
		var werr error
		if err := s.rc.Control(func(fd uintptr) {
			for {
				n, werr = unix.SendmsgBuffers(int(fd), bufs, nil, nil, unix.MSG_NOSIGNAL|unix.MSG_DONTWAIT)
				if werr != unix.EINTR {
					return
				}
			}
		}); err != nil {
			werr = err
		}
		if werr == unix.EAGAIN {
			break
		}
		if werr != nil {
			s.finishLocked(AsError(os.NewSyscallError("sendmsg", werr)))
			s.mu.Unlock()
			return
		}
		s.buffered -= int64(n)
		s.bytesOut += uint64(n)
		for n > 0 {
			if k := len(s.queue[0].data); n >= k {
				n -= k
				s.queue = s.queue[1:]
			} else {
				s.queue[0].data = s.queue[0].data[n:]
				n = 0
			}
		}
	}
	switch {
	case len(s.queue) == 0:
		s.queue = nil
		s.updateWatchLocked()
		s.afterFlushLocked() // unlocks
		return
	case s.queue[0].file != nil:
		s.writing = true // sendfile(2) waits on a writer goroutine
		go s.writeLoop()
	}
	s.updateWatchLocked()
	s.mu.Unlock()
}

// leaveHostReads hands the socket to a reader goroutine (the loop switched
// to notify mode).
func (s *Socket) leaveHostReads() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.hostReading {
		return
	}
	s.hostReading = false
	s.updateWatchLocked()
	s.kickWriterLocked() // queued output now goes to a writer goroutine
	if s.kind == KindTCPServer {
		if !s.finished && !s.readerRunning {
			s.readerRunning = true
			go s.acceptLoop(nil)
		}
		return
	}
	if !s.finished && !s.peerEnded && s.state != StateOpening && s.tlsConn == nil {
		s.readerRunning = true
		go s.readLoop()
	}
}

// hostRead reads once for the polling thread. It fills ev and reports true
// when there is data; END, errors and CLOSE go through the queue.
func (s *Socket) hostRead(ev *Event) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.kind == KindTCPServer {
		if s.hostReading && s.watchFD >= 0 && s.announced && !s.finished {
			s.hostAcceptLocked()
		}
		return false
	}
	if !s.hostReading || s.watchFD < 0 || !s.announced || s.finished || s.paused || s.upgrading ||
		s.peerEnded || s.state == StateClosing {
		return false
	}
	var data []byte
	var pb *[]byte
	var rerr error
	eof := false
	err := s.rc.Control(func(fd uintptr) {
		b := getBuf()
		var n int
		for {
			n, rerr = unix.Read(int(fd), *b)
			if rerr != unix.EINTR {
				break
			}
		}
		switch {
		case rerr != nil:
			putBuf(b)
		case n == 0:
			putBuf(b)
			eof = true
		default:
			data, pb = payload(b, n)
		}
	})
	switch {
	case err != nil || rerr == unix.EAGAIN:
		return false
	case rerr != nil:
		s.finishLocked(AsError(os.NewSyscallError("read", rerr)))
		return false
	case eof:
		s.onPeerEndLocked()
		return false
	}
	s.undelivered += int64(len(data))
	s.bytesIn += uint64(len(data))
	*ev = Event{Type: EvData, Data: data, buf: pb, Handle: s.h, sock: s}
	return true
}

func (s *Socket) kickWriterLocked() {
	if s.writing || len(s.queue) == 0 || s.state == StateOpening || s.finished {
		return
	}
	if s.hostFlushesLocked() {
		s.updateWatchLocked() // the polling thread flushes on EPOLLOUT
		return
	}
	s.writing = true
	go s.writeLoop()
}

// readLoop delivers TCP bytes as DATA events. A plain socket waits for
// readiness with RawConn.Read and borrows a pooled buffer only to read, so
// an idle connection holds no buffer.
func (s *Socket) readLoop() {
	for {
		s.mu.Lock()
		if !s.waitReadableLocked() {
			s.readerRunning = false
			s.cond.Broadcast()
			s.mu.Unlock()
			return
		}
		tc := s.tlsConn
		s.mu.Unlock()

		var data []byte
		var pb *[]byte
		var err error
		if tc != nil {
			b := getBuf()
			n, rerr := readTLS(tc, *b)
			if n > 0 {
				data, pb = payload(b, n)
			} else {
				putBuf(b)
			}
			err = rerr
		} else {
			data, pb, err = s.rawRead()
		}

		if len(data) > 0 {
			s.mu.Lock()
			switch {
			case s.upgrading && tc == nil:
				// Read as the upgrade began: these bytes belong to the
				// handshake, never to the application as plaintext.
				s.upgradeBytes = append(s.upgradeBytes, data...)
				putBuf(pb)
			case s.finished || s.state == StateClosing:
				putBuf(pb)
			default:
				s.undelivered += int64(len(data))
				s.bytesIn += uint64(len(data))
				s.emitLocked(Event{Type: EvData, Data: data, buf: pb})
			}
			s.mu.Unlock()
		}
		if err == nil {
			continue
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			continue // pause, close or upgrade interrupted the wait
		}
		if tc != nil && !errors.Is(err, io.EOF) {
			err = tlsReadError(err)
		} else if errors.Is(err, io.EOF) {
			s.onPeerEnd(endCode(tc))
			return
		}
		s.mu.Lock()
		s.readerRunning = false
		s.cond.Broadcast()
		if !s.finished && s.state != StateClosing {
			s.finishLocked(AsError(err))
		}
		s.mu.Unlock()
		return
	}
}

func (s *Socket) rawRead() ([]byte, *[]byte, error) {
	var data []byte
	var pb *[]byte
	var rerr error
	eof := false
	err := s.rc.Read(func(fd uintptr) bool {
		b := getBuf()
		var n int
		var e error
		for {
			n, e = unix.Read(int(fd), *b)
			if e != unix.EINTR {
				break
			}
		}
		switch {
		case e == unix.EAGAIN:
			putBuf(b)
			return false
		case e != nil:
			putBuf(b)
			rerr = os.NewSyscallError("read", e)
		case n == 0:
			putBuf(b)
			eof = true
		default:
			data, pb = payload(b, n)
		}
		return true
	})
	switch {
	case err != nil:
		return nil, nil, err
	case rerr != nil:
		return nil, nil, rerr
	case eof:
		return nil, nil, io.EOF
	}
	return data, pb, nil
}

// onPeerEnd ends the readable side; code is what END carries (OK, or
// ETLSNoNotify for a TLS stream that ended without close_notify).
func (s *Socket) onPeerEnd(code Code) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.readerRunning = false
	s.onPeerEndCodeLocked(code)
}

func (s *Socket) onPeerEndLocked() { s.onPeerEndCodeLocked(OK) }

func (s *Socket) onPeerEndCodeLocked(code Code) {
	s.cond.Broadcast()
	if s.finished {
		return
	}
	if s.upgrading {
		s.finishLocked(Errf(ETLS, "peer closed the connection during the TLS upgrade"))
		return
	}
	s.peerEnded = true
	s.updateWatchLocked()
	if s.state != StateClosing {
		s.emitLocked(Event{Type: EvEnd, Code: code})
	}
	if s.wrClosed {
		s.finishLocked(nil)
	}
}

// Send queues p (TCP) or sends one datagram to the connected peer (UDP).
// It returns the bytes still buffered.
func (s *Socket) Send(p []byte) (int64, *Error) {
	switch s.kind {
	case KindTCPServer:
		return 0, Errf(ENOTSUP, "cannot send on a listening socket")
	case KindUDP:
		return s.SendTo(p, "", 0)
	}
	if int64(len(p)) > maxSendLen {
		return 0, Errf(EINVAL, "send length %d is too large", len(p))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.claimFastLocked()
	defer s.syncFastLocked()
	if e := s.writableLocked(); e != nil {
		return 0, e
	}
	if len(p) == 0 {
		return s.buffered, nil
	}
	if s.state == StateOpen && !s.writing && len(s.queue) == 0 && !s.upgrading && s.tlsConn == nil && s.rc != nil {
		n := s.tryWriteLocked(p)
		s.bytesOut += uint64(n)
		p = p[n:]
		if len(p) == 0 {
			return s.buffered, nil
		}
	}
	s.enqueueLocked(outChunk{data: append([]byte(nil), p...)}, int64(len(p)))
	return s.buffered, nil
}

// enqueueLocked queues output. During a STARTTLS upgrade it waits in
// pendingTLS, so it is never written in plaintext.
func (s *Socket) enqueueLocked(c outChunk, n int64) {
	if s.upgrading {
		s.pendingTLS = append(s.pendingTLS, c)
	} else {
		s.queue = append(s.queue, c)
	}
	s.buffered += n
	if s.buffered >= s.hwmSend {
		s.needDrain = true
	}
	if !s.upgrading {
		s.kickWriterLocked()
	}
}

func (s *Socket) writableLocked() *Error {
	switch {
	case s.finished:
		return Errf(ESTATE, "socket is closed")
	case s.state == StateClosing || s.closePending:
		return Errf(ESTATE, "socket is closing")
	case s.wrClosed || s.halfClosePending || s.state == StateHalfClosed:
		return Errf(ESTATE, "the write side is half-closed")
	}
	return nil
}

// tryWriteLocked writes what the kernel takes now without waiting.
// MSG_NOSIGNAL: this runs on the host's thread, where a SIGPIPE would reach
// the host's handler.
func (s *Socket) tryWriteLocked(p []byte) int {
	var n int
	var werr error
	err := s.rc.Control(func(fd uintptr) {
		for {
			n, werr = unix.SendmsgN(int(fd), p, nil, nil, unix.MSG_NOSIGNAL|unix.MSG_DONTWAIT)
			if werr != unix.EINTR {
				break
			}
		}
	})
	if err != nil || werr != nil || n < 0 {
		return 0 // the writer goroutine meets and reports any real error
	}
	return n
}

// SendFile queues a range of a file behind the queued data.
func (s *Socket) SendFile(path string, off, n int64) (int64, *Error) {
	if s.kind != KindTCP {
		return 0, Errf(ENOTSUP, "send_file needs a TCP socket")
	}
	if off < 0 || n < -1 {
		return 0, Errf(EINVAL, "invalid offset %d or length %d", off, n)
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, AsError(err)
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		f.Close()
		return 0, Errf(EINVAL, "%s is not a regular file", path)
	}
	if off > st.Size() {
		f.Close()
		return 0, Errf(EINVAL, "offset %d is beyond the end of %s (%d bytes)", off, path, st.Size())
	}
	if n == -1 || off+n > st.Size() {
		if n != -1 {
			f.Close()
			return 0, Errf(EINVAL, "range %d+%d is beyond the end of %s (%d bytes)", off, n, path, st.Size())
		}
		n = st.Size() - off
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.claimFastLocked()
	defer s.syncFastLocked()
	if e := s.writableLocked(); e != nil {
		f.Close()
		return 0, e
	}
	if n == 0 {
		f.Close()
		return s.buffered, nil
	}
	s.enqueueLocked(outChunk{file: f, off: off, n: n}, n)
	return s.buffered, nil
}

const maxBatchChunks = 512
const maxBatchBytes = 4 << 20

// writeLoop flushes the queue, then runs what waited for the flush: DRAIN,
// half-close, graceful close, a STARTTLS upgrade.
func (s *Socket) writeLoop() {
	for {
		s.mu.Lock()
		if s.finished {
			s.writing = false
			s.mu.Unlock()
			return
		}
		if len(s.queue) == 0 {
			s.writing = false
			s.afterFlushLocked() // unlocks
			return
		}
		batch := s.takeBatchLocked()
		tc := s.tlsConn
		s.mu.Unlock()

		var n int64
		var err error
		if s.kind == KindUDP {
			n, err = s.writeDatagrams(batch)
		} else {
			n, err = s.writeStream(batch, tc)
		}

		s.mu.Lock()
		s.buffered -= n
		if s.kind == KindTCP {
			s.bytesOut += uint64(n)
		}
		s.mu.Unlock()
		if err != nil {
			s.fail(err)
			return
		}
	}
}

func (s *Socket) takeBatchLocked() []outChunk {
	if s.queue[0].file != nil {
		b := s.queue[:1:1]
		s.queue = s.queue[1:]
		return b
	}
	i, size := 0, 0
	for i < len(s.queue) && i < maxBatchChunks && s.queue[i].file == nil && size < maxBatchBytes {
		size += len(s.queue[i].data)
		i++
	}
	b := s.queue[:i:i]
	s.queue = s.queue[i:]
	if len(s.queue) == 0 {
		s.queue = nil
	}
	return b
}

func (s *Socket) writeStream(batch []outChunk, tc *tls.Conn) (int64, error) {
	if f := batch[0].file; f != nil {
		defer f.Close()
		if _, err := f.Seek(batch[0].off, io.SeekStart); err != nil {
			return 0, err
		}
		var w io.Writer = s.raw // *net.TCPConn: ReadFrom uses sendfile(2)
		if tc != nil {
			w = tc
		}
		n, err := io.Copy(w, &io.LimitedReader{R: f, N: batch[0].n})
		if err == nil && n < batch[0].n {
			err = Errf(EIO, "file shrank while it was being sent")
		}
		return batch[0].n, err
	}
	var total int64
	for _, c := range batch {
		total += int64(len(c.data))
	}
	if tc != nil {
		for _, c := range batch {
			if _, err := tc.Write(c.data); err != nil {
				return total, err
			}
		}
		return total, nil
	}
	bufs := make(net.Buffers, len(batch))
	for i, c := range batch {
		bufs[i] = c.data
	}
	_, err := bufs.WriteTo(s.raw) // writev
	return total, err
}

// afterFlushLocked runs with s.mu held and the queue empty; it unlocks.
func (s *Socket) afterFlushLocked() {
	s.syncFastLocked() // the queue is empty: the host thread may write again
	if s.needDrain {
		s.needDrain = false
		s.emitLocked(Event{Type: EvDrain})
	}
	s.cond.Broadcast() // an upgrade may be waiting for the flush
	if s.upgrading {
		s.mu.Unlock()
		return
	}
	if s.halfClosePending && !s.wrClosed {
		s.closeWriteLocked()
	}
	if s.closePending && !s.finished {
		s.mu.Unlock()
		s.closeGracefully()
		return
	}
	s.mu.Unlock()
}

// HalfClose sends FIN after the queued data; reading goes on.
func (s *Socket) HalfClose() *Error {
	if s.kind != KindTCP {
		return Errf(ENOTSUP, "half-close needs a TCP connection")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.claimFastLocked()
	defer s.syncFastLocked()
	switch {
	case s.finished:
		return Errf(ESTATE, "socket is closed")
	case s.state == StateOpening:
		// FIN follows the queued data once connected.
		s.halfClosePending = true
		return nil
	case s.state != StateOpen:
		return Errf(ESTATE, "half-close needs an open socket")
	}
	s.state = StateHalfClosed
	s.halfClosePending = true
	if !s.writing && len(s.queue) == 0 && !s.upgrading {
		s.closeWriteLocked()
	}
	return nil
}

func (s *Socket) closeWriteLocked() {
	s.halfClosePending = false
	s.wrClosed = true
	if s.tlsConn != nil {
		s.tlsConn.CloseWrite() // close_notify; bounded by a 5 s deadline inside crypto/tls
	}
	if cw, ok := s.raw.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	if s.peerEnded {
		s.finishLocked(nil)
	}
}

// closeGracefully ends a TCP connection whose output is flushed: FIN (and
// close_notify), then CLOSE once closing cannot cost the peer data.
//
// Closing a descriptor with unread input makes the kernel answer with a
// reset, which throws away what is still in our send buffer: the peer
// would lose the end of a stream we reported as sent. So input is read and
// discarded until every byte we sent is acknowledged (the send queue is
// empty) or the peer has ended its side and the input is drained; a peer
// that does neither within closeLinger is cut off.
func (s *Socket) closeGracefully() {
	s.mu.Lock()
	if s.finished {
		s.mu.Unlock()
		return
	}
	if !s.wrClosed {
		s.closeWriteLocked()
		if s.finished {
			s.mu.Unlock()
			return
		}
	}
	rc := s.rc
	if s.isUnix {
		rc = nil // AF_UNIX data is in the peer's queue already; no reset loses it
	}
	s.mu.Unlock()
	if rc != nil && !safeToClose(rc) {
		go s.linger(rc)
		return
	}
	s.mu.Lock()
	s.finishLocked(nil)
	s.mu.Unlock()
}

// closeLinger bounds how long a closed socket waits for its peer (see
// closeGracefully).
const closeLinger = 5 * time.Second

func (s *Socket) linger(rc syscall.RawConn) {
	deadline := time.Now().Add(closeLinger)
	for time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
		s.mu.Lock()
		finished := s.finished
		s.mu.Unlock()
		if finished || safeToClose(rc) {
			break
		}
	}
	s.mu.Lock()
	s.finishLocked(nil)
	s.mu.Unlock()
}

// safeToClose discards the input there is and reports whether closing now
// loses nothing we sent: the send queue is empty (all acknowledged), or the
// peer has ended its side and nothing more can arrive.
func safeToClose(rc syscall.RawConn) bool {
	safe := true
	rc.Control(func(fd uintptr) {
		var b [16384]byte
		peerEnded := false
		for i := 0; i < 64; i++ {
			n, err := unix.Read(int(fd), b[:])
			if n == 0 && err == nil {
				peerEnded = true
			}
			if n <= 0 || err != nil {
				break
			}
		}
		if peerEnded {
			return
		}
		if outq, err := unix.IoctlGetInt(int(fd), unix.SIOCOUTQ); err == nil && outq > 0 {
			safe = false
		}
	})
	return safe
}
