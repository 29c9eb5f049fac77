package core

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const defaultBacklog = 511

// tlsAcceptTimeout bounds a TLS handshake on an accepted connection, so a
// client that connects and says nothing cannot hold resources forever.
const tlsAcceptTimeout = 10 * time.Second

// Listen binds and listens before it returns (so the port is known), then
// emits OPEN; accepted connections arrive as CONNECTION events.
func Listen(l *Loop, o TCPOptions, userData uint64) (*Socket, *Error) {
	if e := o.validate(); e != nil {
		return nil, e
	}
	var tlsCfg *tls.Config
	if o.UseSecureTransport {
		cfg, e := o.TLS.serverConfig()
		if e != nil {
			return nil, e
		}
		tlsCfg = cfg
	}
	network, addr := "tcp", ""
	if path, ok := strings.CutPrefix(o.LocalAddress, "unix:"); ok {
		if path == "" {
			return nil, Errf(EINVAL, "empty unix socket path")
		}
		network, addr = "unix", path
	} else {
		ip, e := parseLocalIP(o.LocalAddress)
		if e != nil {
			return nil, e
		}
		host := ""
		if ip != nil {
			host = ip.String()
			if ip.To4() != nil {
				network = "tcp4"
			} else {
				network = "tcp6"
			}
		}
		addr = net.JoinHostPort(host, strconv.Itoa(o.LocalPort))
	}
	backlog := o.Backlog
	if backlog == 0 {
		backlog = defaultBacklog
	}
	lc := net.ListenConfig{
		KeepAlive: -1,
		Control: func(_, _ string, c syscall.RawConn) error {
			return controlErr(c, func(fd int) error {
				if network == "unix" {
					return nil
				}
				if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, b2i(o.AddressReuse)); err != nil {
					return err
				}
				if o.ReusePort {
					if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
						return err
					}
				}
				return setBufferSizes(fd, o.SendBufferSize, o.ReceiveBufferSize)
			})
		},
	}
	if err := checkLive(); err != nil {
		return nil, err
	}
	ln, err := lc.Listen(context.Background(), network, addr)
	if err != nil {
		return nil, AsError(err)
	}
	if sc, ok := ln.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			rc.Control(func(fd uintptr) { unix.Listen(int(fd), backlog) })
		}
	}
	s, e := newSocket(l, KindTCPServer, userData)
	if e != nil {
		ln.Close()
		return nil, e
	}
	s.opts = o
	s.ln = ln
	switch a := ln.Addr().(type) {
	case *net.TCPAddr:
		s.family = familyOf(a.IP)
		if a.IP.IsUnspecified() && network == "tcp" {
			s.family = 6 // dual-stack wildcard
		}
	case *net.UnixAddr:
		s.family, s.isUnix = 1, true
	}
	if sc, ok := ln.(syscall.Conn); ok {
		s.rc, _ = sc.SyscallConn()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state = StateOpen
	s.emitLocked(Event{Type: EvOpen})
	// A plain listener is served by the polling thread like the loop's plain
	// sockets: no goroutine then waits in Go's poller, so incoming packets
	// do not wake Go's threads. TLS listeners keep an accept goroutine (the
	// handshake runs before CONNECTION).
	if tlsCfg == nil && s.rc != nil && l.usesHostReads() {
		s.hostReading = true
		if s.updateWatchLocked() {
			return s, nil
		}
		s.hostReading = false
	}
	s.readerRunning = true
	go s.acceptLoop(tlsCfg)
	return s, nil
}

// maxAcceptsPerPoll bounds the connections one poll accepts per listener.
const maxAcceptsPerPoll = 32

// hostAccept accepts ready connections on the polling thread; their
// CONNECTION events go through the queue. Out of descriptors, the listener
// leaves the epoll set for a moment (level-triggered readiness would
// otherwise spin) and keeps serving afterwards.
func (s *Socket) hostAcceptLocked() {
	for i := 0; i < maxAcceptsPerPoll; i++ {
		nfd := -1
		var aerr error
		if err := s.rc.Control(func(fd uintptr) {
			for {
				nfd, _, aerr = unix.Accept4(int(fd), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
				if aerr != unix.EINTR {
					break
				}
			}
		}); err != nil {
			return
		}
		switch {
		case aerr == unix.EAGAIN:
			return
		case aerr == unix.ECONNABORTED:
			continue
		case aerr != nil:
			c := Classify(aerr)
			if c == EMFILE || c == ENOMEM {
				s.backOffAcceptLocked()
				return
			}
			s.finishLocked(AsError(os.NewSyscallError("accept4", aerr)))
			return
		}
		f := os.NewFile(uintptr(nfd), "accepted")
		c, err := net.FileConn(f) // a duplicate registered with Go's poller
		f.Close()
		if err != nil {
			if Classify(err) == EMFILE {
				s.backOffAcceptLocked()
				return
			}
			continue // the peer is gone already
		}
		s.adoptLocked(c, nil)
	}
}

func (s *Socket) backOffAcceptLocked() {
	if s.acceptBackoff == 0 {
		s.acceptBackoff = 5 * time.Millisecond
	}
	d := s.acceptBackoff
	s.acceptBackoff = min(s.acceptBackoff*2, time.Second)
	s.hostReading = false
	s.updateWatchLocked()
	time.AfterFunc(d, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		switch {
		case s.finished || s.readerRunning:
		case s.loop.usesHostReads():
			s.hostReading = true
			s.updateWatchLocked()
		default: // the loop went to notify mode meanwhile
			s.readerRunning = true
			go s.acceptLoop(nil)
		}
	})
}

func (s *Socket) acceptLoop(tlsCfg *tls.Config) {
	backoff := 5 * time.Millisecond
	for {
		c, err := s.ln.Accept()
		if err != nil {
			s.mu.Lock()
			done := s.finished
			s.mu.Unlock()
			if done || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors and the like: wait and go on serving
			// rather than tearing the listener down.
			if c := Classify(err); c == EMFILE || c == ENOMEM || c == ECONNRESET {
				time.Sleep(backoff)
				backoff = min(backoff*2, time.Second)
				continue
			}
			s.fail(err)
			return
		}
		backoff = 5 * time.Millisecond
		if tlsCfg == nil {
			s.adopt(c, nil)
			continue
		}
		go func() {
			tc := tls.Server(&handshakeConn{Conn: c}, tlsCfg)
			ctx, cancel := context.WithTimeout(context.Background(), tlsAcceptTimeout)
			err := tc.HandshakeContext(ctx)
			cancel()
			if err != nil {
				c.Close()
				s.mu.Lock()
				s.dropped++
				s.mu.Unlock()
				return
			}
			s.adopt(c, tc)
		}()
	}
}

// adopt turns an accepted connection into a socket and announces it.
func (s *Socket) adopt(c net.Conn, tc *tls.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.adoptLocked(c, tc)
}

func (s *Socket) adoptLocked(c net.Conn, tc *tls.Conn) {
	if s.finished || s.state == StateClosing {
		c.Close()
		return
	}
	ns, e := newSocket(s.loop, KindTCP, s.userData.Load())
	if e != nil {
		c.Close()
		return
	}
	ns.accepted = true
	ns.opts = s.opts
	ns.applyHighWater(s.opts.HighWaterSend, s.opts.HighWaterReceive)
	ns.mu.Lock()
	ns.attachLocked(c)
	addr, port, fam := remoteOf(c)
	s.msgsIn++
	s.emitLocked(Event{Type: EvConnection, Accepted: ns.h, Addr: addr, Port: port, Family: fam, acc: ns})
	if tc != nil {
		ns.setSecureLocked(tc)
	}
	ns.openedLocked(false)
	ns.mu.Unlock()
}

func remoteOf(c net.Conn) (string, uint16, uint16) {
	switch a := c.RemoteAddr().(type) {
	case *net.TCPAddr:
		return addrString(a.IP, a.Zone), uint16(a.Port), familyOf(a.IP)
	case *net.UnixAddr:
		return a.Name, 0, 1
	}
	return "", 0, 0
}

// addrString prints IPv4 (also v4-mapped) as dotted quad and IPv6 with zone.
func addrString(ip net.IP, zone string) string {
	if v4 := ip.To4(); v4 != nil {
		return v4.String()
	}
	if zone != "" {
		return ip.String() + "%" + zone
	}
	return ip.String()
}
