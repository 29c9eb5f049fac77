package core

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// maxDatagram is the largest UDP payload over IPv4.
const maxDatagram = 65507

// UDPOptions are the settings of w3s_udp_options.
type UDPOptions struct {
	LocalAddress       string
	LocalPort          int
	RemoteAddress      string
	RemotePort         int
	AddressReuse       bool
	ReusePort          bool
	Broadcast          bool
	TTL                int
	MulticastTTL       int // -1: system default
	MulticastLoopback  bool
	SendBufferSize     int
	ReceiveBufferSize  int
	MulticastInterface string
	HighWaterSend      int64
	HighWaterReceive   int64
}

// DefaultUDPOptions are the header's defaults.
func DefaultUDPOptions() UDPOptions {
	return UDPOptions{AddressReuse: true, MulticastTTL: -1}
}

// udpDest is where one queued datagram goes.
type udpDest struct {
	host string // a name still to resolve, or ""
	port int
	sa   unix.Sockaddr
}

// OpenUDP binds a UDP socket before it returns; OPEN follows (after the
// default remote is resolved, when one is given by name).
func OpenUDP(l *Loop, o UDPOptions, userData uint64) (*Socket, *Error) {
	switch {
	case o.LocalPort < 0 || o.LocalPort > 65535:
		return nil, Errf(EINVAL, "local port %d is outside 0..65535", o.LocalPort)
	case o.RemoteAddress != "" && (o.RemotePort < 1 || o.RemotePort > 65535):
		return nil, Errf(EINVAL, "remote port %d is outside 1..65535", o.RemotePort)
	case o.TTL < 0 || o.TTL > 255:
		return nil, Errf(EINVAL, "ttl %d is outside 0..255", o.TTL)
	case o.MulticastTTL < -1 || o.MulticastTTL > 255:
		return nil, Errf(EINVAL, "multicast ttl %d is outside 0..255", o.MulticastTTL)
	case o.SendBufferSize < 0 || o.ReceiveBufferSize < 0 || o.HighWaterSend < 0 || o.HighWaterReceive < 0:
		return nil, Errf(EINVAL, "sizes must not be negative")
	}
	ip, e := parseLocalIP(o.LocalAddress)
	if e != nil {
		return nil, e
	}
	network, host := "udp", ""
	if ip != nil {
		host = ip.String()
		network = "udp6"
		if ip.To4() != nil {
			network = "udp4"
		}
	}
	var family uint16
	lc := net.ListenConfig{Control: func(nw, _ string, c syscall.RawConn) error {
		family = 4
		if nw == "udp6" {
			family = 6
		}
		return controlErr(c, func(fd int) error {
			if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, b2i(o.AddressReuse)); err != nil {
				return err
			}
			if o.ReusePort {
				if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
					return err
				}
			}
			if o.Broadcast {
				if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_BROADCAST, 1); err != nil {
					return err
				}
			}
			// Receive only the groups this socket joined (see docs/architecture.md, "UDP and multicast").
			unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_ALL, 0)
			if family == 6 {
				unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_ALL, 0)
			}
			return setBufferSizes(fd, o.SendBufferSize, o.ReceiveBufferSize)
		})
	}}
	if err := checkLive(); err != nil {
		return nil, err
	}
	pc, err := lc.ListenPacket(context.Background(), network, net.JoinHostPort(host, strconv.Itoa(o.LocalPort)))
	if err != nil {
		return nil, AsError(err)
	}
	uc := pc.(*net.UDPConn)
	s, e := newSocket(l, KindUDP, userData)
	if e != nil {
		uc.Close()
		return nil, e
	}
	s.udp = uc
	s.rc, _ = uc.SyscallConn()
	s.family = family
	s.dualStack = family == 6 && ip == nil
	s.hwmRecv = defaultUDPHighWaterRecv
	s.applyHighWater(o.HighWaterSend, o.HighWaterReceive)
	if e := s.applyUDPOptions(o); e != nil {
		s.mu.Lock()
		s.finished = true // never announced: no events for a failed call
		s.closeTransportLocked()
		s.mu.Unlock()
		handles.remove(s.h)
		l.removeSocket(s)
		return nil, e
	}
	if o.RemoteAddress == "" {
		s.mu.Lock()
		s.openUDPLocked()
		s.mu.Unlock()
		return s, nil
	}
	if _, err := netip.ParseAddr(o.RemoteAddress); err == nil {
		s.mu.Lock()
		if e := s.setPeerLocked(o.RemoteAddress, o.RemotePort); e != nil {
			s.finished = true
			s.closeTransportLocked()
			s.mu.Unlock()
			handles.remove(s.h)
			l.removeSocket(s)
			return nil, e
		}
		s.openUDPLocked()
		s.mu.Unlock()
		return s, nil
	}
	go func() { // a name: resolve without blocking the caller
		addrs, err := net.DefaultResolver.LookupNetIP(context.Background(), "ip", o.RemoteAddress)
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.finished {
			return
		}
		if err != nil || len(addrs) == 0 {
			s.finishLocked(Errf(ENOTFOUND, "cannot resolve %q: %v", o.RemoteAddress, err))
			return
		}
		if e := s.setPeerLocked(s.pickAddr(addrs).String(), o.RemotePort); e != nil {
			s.finishLocked(e)
			return
		}
		s.openUDPLocked()
	}()
	return s, nil
}

func (s *Socket) openUDPLocked() {
	s.state = StateOpen
	s.emitLocked(Event{Type: EvOpen})
	s.readerRunning = true
	go s.udpReadLoop()
	s.kickWriterLocked()
}

// pickAddr prefers an address the socket's family can reach.
func (s *Socket) pickAddr(addrs []netip.Addr) netip.Addr {
	for _, a := range addrs {
		if is4 := a.Unmap().Is4(); s.family == 4 && is4 || s.family == 6 && (s.dualStack || !is4) {
			return a
		}
	}
	return addrs[0]
}

// sockaddr converts an address literal for this socket's family.
func (s *Socket) sockaddr(address string, port int) (unix.Sockaddr, *Error) {
	a, err := netip.ParseAddr(address)
	if err != nil {
		return nil, Errf(EADDR, "%q is not an IP address", address)
	}
	if port < 1 || port > 65535 {
		return nil, Errf(EINVAL, "port %d is outside 1..65535", port)
	}
	if s.family == 4 {
		if !a.Unmap().Is4() {
			return nil, Errf(EFAMILY, "%s is an IPv6 address and the socket is IPv4", address)
		}
		return &unix.SockaddrInet4{Port: port, Addr: a.Unmap().As4()}, nil
	}
	sa := &unix.SockaddrInet6{Port: port, Addr: a.As16()}
	if z := a.Zone(); z != "" {
		if ifi, err := net.InterfaceByName(z); err == nil {
			sa.ZoneId = uint32(ifi.Index)
		} else if n, err := strconv.Atoi(z); err == nil {
			sa.ZoneId = uint32(n)
		}
	}
	return sa, nil
}

// SetPeer connects the socket to address:port, or disconnects it ("").
func (s *Socket) SetPeer(address string, port int) *Error {
	if s.kind != KindUDP {
		return Errf(ENOTSUP, "set_peer needs a UDP socket")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.finished {
		return Errf(ESTATE, "socket is closed")
	}
	return s.setPeerLocked(address, port)
}

func (s *Socket) setPeerLocked(address string, port int) *Error {
	var sa unix.Sockaddr
	if address != "" {
		var e *Error
		if sa, e = s.sockaddr(address, port); e != nil {
			return e
		}
	}
	var cerr error
	err := s.rc.Control(func(fd uintptr) {
		if sa == nil {
			cerr = disconnect(int(fd), s.boundSockaddr())
		} else {
			cerr = unix.Connect(int(fd), sa)
		}
	})
	if err != nil {
		return AsError(err)
	}
	if cerr != nil {
		return AsError(os.NewSyscallError("connect", cerr))
	}
	s.connected = address != ""
	if s.connected {
		a, _ := netip.ParseAddr(address)
		s.peer = net.UDPAddrFromAddrPort(netip.AddrPortFrom(a.Unmap(), uint16(port)))
	} else {
		s.peer = nil
	}
	return nil
}

// SendTo sends one datagram to address:port ("" = the connected peer).
// Datagrams that the kernel cannot take at once are queued in order.
func (s *Socket) SendTo(p []byte, address string, port int) (int64, *Error) {
	if s.kind != KindUDP {
		return 0, Errf(ENOTSUP, "send_to needs a UDP socket")
	}
	if len(p) > maxDatagram {
		return 0, Errf(EMSGSIZE, "datagram of %d bytes exceeds %d", len(p), maxDatagram)
	}
	dest := &udpDest{port: port}
	if address != "" {
		if port < 1 || port > 65535 {
			return 0, Errf(EINVAL, "port %d is outside 1..65535", port)
		}
		if _, err := netip.ParseAddr(address); err == nil {
			sa, e := s.sockaddr(address, port)
			if e != nil {
				return 0, e
			}
			dest.sa = sa
		} else if validHostName(address) {
			dest.host = address
		} else {
			return 0, Errf(EADDR, "%q is not an address or host name", address)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.finished:
		return 0, Errf(ESTATE, "socket is closed")
	case s.state == StateClosing:
		return 0, Errf(ESTATE, "socket is closing")
	case address == "" && !s.connected && s.state == StateOpen:
		return 0, Errf(ENOTCONN, "no destination: give an address or set a peer")
	case address != "" && s.connected && !s.isPeerLocked(address, port):
		// Connected mode means one peer: replies from anyone else would be
		// filtered out, so sending elsewhere is refused, not silently done.
		return 0, Errf(EISCONN, "socket is connected to %s; send without an address or remove the peer first", s.peer)
	}
	if address == "" {
		dest = nil
	}
	if s.state == StateOpen && !s.writing && len(s.queue) == 0 && (dest == nil || dest.sa != nil) {
		err := s.sendDatagram(p, dest, false)
		if err == nil {
			s.msgsOut++
			s.bytesOut += uint64(len(p))
			return s.buffered, nil
		}
		if !errors.Is(err, unix.EAGAIN) {
			return 0, AsError(err)
		}
	}
	s.queue = append(s.queue, outChunk{data: append([]byte(nil), p...), dest: dest})
	s.buffered += int64(len(p))
	if s.buffered >= s.hwmSend {
		s.needDrain = true
	}
	s.kickWriterLocked()
	return s.buffered, nil
}

// isPeerLocked reports whether address:port is the connected peer.
func (s *Socket) isPeerLocked(address string, port int) bool {
	a, err := netip.ParseAddr(address)
	if err != nil || s.peer == nil {
		return false
	}
	return a.Unmap() == s.peer.AddrPort().Addr().Unmap() && port == s.peer.Port
}

// disconnect dissolves a UDP association: connect(2) with AF_UNSPEC. Linux
// then also gives up a port that was chosen by the kernel (bound as port 0),
// so the socket is bound again to where it was opened (bound).
func disconnect(fd int, bound unix.Sockaddr) error {
	sa := unix.RawSockaddr{Family: unix.AF_UNSPEC}
	_, _, e := unix.Syscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&sa)), unsafe.Sizeof(sa))
	if e != 0 {
		return e
	}
	now, err := unix.Getsockname(fd)
	if err != nil {
		return err
	}
	switch a := now.(type) {
	case *unix.SockaddrInet4:
		if a.Port != 0 {
			return nil
		}
	case *unix.SockaddrInet6:
		if a.Port != 0 {
			return nil
		}
	}
	if bound == nil {
		return nil
	}
	return unix.Bind(fd, bound)
}

// boundSockaddr is the address the socket was opened on.
func (s *Socket) boundSockaddr() unix.Sockaddr {
	ua, ok := s.udp.LocalAddr().(*net.UDPAddr)
	if !ok {
		return nil
	}
	if s.family == 4 {
		sa := &unix.SockaddrInet4{Port: ua.Port}
		copy(sa.Addr[:], ua.IP.To4())
		return sa
	}
	sa := &unix.SockaddrInet6{Port: ua.Port}
	copy(sa.Addr[:], ua.IP.To16())
	if ua.Zone != "" {
		if ifi, err := net.InterfaceByName(ua.Zone); err == nil {
			sa.ZoneId = uint32(ifi.Index)
		}
	}
	return sa
}

func validHostName(h string) bool {
	if len(h) == 0 || len(h) > 253 {
		return false
	}
	for _, r := range h {
		if !(r == '.' || r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

// sendDatagram sends one datagram; wait=false returns EAGAIN instead of
// waiting for room in the socket buffer.
func (s *Socket) sendDatagram(p []byte, dest *udpDest, wait bool) error {
	var sa unix.Sockaddr
	if dest != nil {
		sa = dest.sa
	}
	var serr error
	f := func(fd uintptr) bool {
		for {
			_, serr = unix.SendmsgN(int(fd), p, nil, sa, unix.MSG_NOSIGNAL|unix.MSG_DONTWAIT)
			if serr != unix.EINTR {
				break
			}
		}
		return !(wait && serr == unix.EAGAIN)
	}
	var err error
	if wait {
		err = s.rc.Write(f)
	} else {
		err = s.rc.Control(func(fd uintptr) { f(fd) })
	}
	if err != nil {
		return err
	}
	if serr != nil {
		return os.NewSyscallError("sendmsg", serr)
	}
	return nil
}

// writeDatagrams is the UDP writer's batch: it waits for room, and a
// datagram the network refuses is dropped and counted, not fatal.
func (s *Socket) writeDatagrams(batch []outChunk) (int64, error) {
	var total int64
	for _, c := range batch {
		total += int64(len(c.data))
		dest := c.dest
		if dest != nil && dest.sa == nil {
			addrs, err := net.DefaultResolver.LookupNetIP(context.Background(), "ip", dest.host)
			if err != nil || len(addrs) == 0 {
				s.countDropped()
				continue
			}
			sa, e := s.sockaddr(s.pickAddr(addrs).String(), dest.port)
			if e != nil {
				s.countDropped()
				continue
			}
			dest = &udpDest{sa: sa}
		}
		if dest == nil && !s.isConnected() {
			s.countDropped()
			continue
		}
		if err := s.sendDatagram(c.data, dest, true); err != nil {
			if errors.Is(err, net.ErrClosed) {
				return total, err
			}
			s.countDropped()
			continue
		}
		s.mu.Lock()
		s.msgsOut++
		s.bytesOut += uint64(len(c.data))
		s.mu.Unlock()
	}
	return total, nil
}

func (s *Socket) isConnected() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connected
}

func (s *Socket) countDropped() {
	s.mu.Lock()
	s.dropped++
	s.mu.Unlock()
}

// udpReadLoop delivers datagrams as MESSAGE events; when the undelivered
// bytes reach the receive high-water mark, datagrams are dropped and
// counted rather than queued without bound.
func (s *Socket) udpReadLoop() {
	var batch []datagram
	for {
		s.mu.Lock()
		for !s.finished && s.state != StateClosing && s.paused {
			s.cond.Wait()
		}
		if s.finished || s.state == StateClosing {
			s.readerRunning = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()

		// Take every datagram that is ready (up to a batch) per wake-up:
		// one readiness wait and one lock round for many messages.
		batch = batch[:0]
		var rerr error
		err := s.rc.Read(func(fd uintptr) bool {
			b := getBuf()
			defer putBuf(b)
			for len(batch) < udpReadBatch {
				// A pause's read deadline does not stop a wait that
				// readiness ends at the same time (Go's poller reports the
				// readiness): look at the flag before every datagram.
				if s.pausedNow() {
					return true
				}
				n, _, _, from, e := unix.Recvmsg(int(fd), *b, nil, unix.MSG_DONTWAIT)
				if e == unix.EINTR {
					continue
				}
				if e == unix.EAGAIN {
					return len(batch) > 0
				}
				if e != nil {
					rerr = e
					return true
				}
				batch = append(batch, datagram{data: append([]byte(nil), (*b)[:n]...), from: from})
			}
			return true
		})
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) && len(batch) == 0 {
				continue
			}
			if len(batch) == 0 {
				s.mu.Lock()
				s.readerRunning = false
				s.mu.Unlock()
				return // closed
			}
		}
		// rerr: ICMP errors (port unreachable after a send) surface on a
		// connected socket; they are not fatal for a datagram socket.
		_ = rerr
		s.mu.Lock()
		// Pause stops a waiting read with a past deadline, but Go's poller
		// lets readiness that arrives before the woken reader runs win over
		// that deadline, so this batch may have been read after Pause
		// returned: hold it back until Resume, reading nothing more.
		for len(batch) > 0 && s.paused && !s.finished && s.state != StateClosing {
			s.cond.Wait()
		}
		for _, d := range batch {
			if s.undelivered+int64(len(d.data)) > s.hwmRecv {
				s.dropped++
				continue
			}
			if s.finished {
				break
			}
			addr, port, fam := fromSockaddr(d.from)
			s.undelivered += int64(len(d.data))
			s.msgsIn++
			s.bytesIn += uint64(len(d.data))
			s.emitLocked(Event{Type: EvMessage, Data: d.data, Addr: addr, Port: port, Family: fam})
		}
		s.mu.Unlock()
	}
}

const udpReadBatch = 64

// pausedNow reports whether the reader should stop taking datagrams: the
// socket is paused or over, or its lock is busy (Abort holds it while it
// closes the descriptor, which waits for this read to end; the reader's
// next round looks again under the lock).
func (s *Socket) pausedNow() bool {
	if !s.mu.TryLock() {
		return true
	}
	defer s.mu.Unlock()
	return s.paused || s.finished || s.state == StateClosing
}

type datagram struct {
	data []byte
	from unix.Sockaddr
}

func fromSockaddr(sa unix.Sockaddr) (string, uint16, uint16) {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrFrom4(a.Addr).String(), uint16(a.Port), 4
	case *unix.SockaddrInet6:
		ip := netip.AddrFrom16(a.Addr)
		if ip.Is4In6() {
			return ip.Unmap().String(), uint16(a.Port), 4
		}
		if a.ZoneId != 0 {
			zone := strconv.Itoa(int(a.ZoneId))
			if ifi, err := net.InterfaceByIndex(int(a.ZoneId)); err == nil {
				zone = ifi.Name
			}
			ip = ip.WithZone(zone)
		}
		return ip.String(), uint16(a.Port), 6
	}
	return "", 0, 0
}
