package core

import (
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Option numbers match w3s_option in the header.
type Option int

const (
	OptNoDelay            Option = 1
	OptKeepAlive          Option = 2
	OptKeepAliveDelayMS   Option = 3
	OptSendBufferSize     Option = 4
	OptReceiveBufferSize  Option = 5
	OptTTL                Option = 6
	OptMulticastTTL       Option = 7
	OptMulticastLoopback  Option = 8
	OptBroadcast          Option = 9
	OptHighWaterSend      Option = 10
	OptHighWaterReceive   Option = 11
	OptAddressReuse       Option = 12
	OptReusePort          Option = 13
	OptMulticastInterface Option = 14
)

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// controlErr runs f on the raw descriptor and returns f's error.
func controlErr(c syscall.RawConn, f func(fd int) error) error {
	var ferr error
	if err := c.Control(func(fd uintptr) { ferr = f(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

func setBufferSizes(fd, snd, rcv int) error {
	if snd > 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, snd); err != nil {
			return err
		}
	}
	if rcv > 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcv); err != nil {
			return err
		}
	}
	return nil
}

func (s *Socket) applyUDPOptions(o UDPOptions) *Error {
	// Go turns SO_BROADCAST on for every datagram socket; the header's
	// default is off.
	if e := s.setOptionLocked(OptBroadcast, int64(b2i(o.Broadcast))); e != nil {
		return e
	}
	if o.TTL > 0 {
		if e := s.setOptionLocked(OptTTL, int64(o.TTL)); e != nil {
			return e
		}
	}
	if o.MulticastTTL >= 0 {
		if e := s.setOptionLocked(OptMulticastTTL, int64(o.MulticastTTL)); e != nil {
			return e
		}
	}
	if e := s.setOptionLocked(OptMulticastLoopback, int64(b2i(o.MulticastLoopback))); e != nil {
		return e
	}
	if o.MulticastInterface != "" {
		ifi, e := lookupInterface(o.MulticastInterface)
		if e != nil {
			return e
		}
		if e := s.setOptionLocked(OptMulticastInterface, int64(ifi.Index)); e != nil {
			return e
		}
	}
	return nil
}

// optionKinds says which socket kinds accept an option.
var optionKinds = map[Option][]Kind{
	OptNoDelay:            {KindTCP},
	OptKeepAlive:          {KindTCP},
	OptKeepAliveDelayMS:   {KindTCP},
	OptSendBufferSize:     {KindTCP, KindTCPServer, KindUDP},
	OptReceiveBufferSize:  {KindTCP, KindTCPServer, KindUDP},
	OptTTL:                {KindTCP, KindUDP},
	OptMulticastTTL:       {KindUDP},
	OptMulticastLoopback:  {KindUDP},
	OptBroadcast:          {KindUDP},
	OptHighWaterSend:      {KindTCP, KindUDP},
	OptHighWaterReceive:   {KindTCP, KindUDP},
	OptAddressReuse:       {KindTCP, KindTCPServer, KindUDP},
	OptReusePort:          {KindTCP, KindTCPServer, KindUDP},
	OptMulticastInterface: {KindUDP},
}

func (s *Socket) checkOption(opt Option) *Error {
	kinds, ok := optionKinds[opt]
	if !ok {
		return Errf(ENOOPT, "unknown option %d", int(opt))
	}
	for _, k := range kinds {
		if k == s.kind {
			return nil
		}
	}
	return Errf(ENOOPT, "option %d does not apply to this kind of socket", int(opt))
}

// SetOption changes an option on the live socket.
func (s *Socket) SetOption(opt Option, v int64) *Error {
	if e := s.checkOption(opt); e != nil {
		return e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.setOptionLocked(opt, v)
}

func (s *Socket) fdLocked() (syscall.RawConn, *Error) {
	if s.finished {
		return nil, Errf(ESTATE, "socket is closed")
	}
	if s.kind == KindTCPServer && s.ln != nil {
		if sc, ok := s.ln.(syscall.Conn); ok {
			rc, err := sc.SyscallConn()
			if err == nil {
				return rc, nil
			}
		}
	}
	if s.rc == nil {
		return nil, Errf(ESTATE, "socket is not connected yet")
	}
	return s.rc, nil
}

func (s *Socket) setOptionLocked(opt Option, v int64) *Error {
	switch opt {
	case OptHighWaterSend, OptHighWaterReceive:
		if v < 1 {
			return Errf(EINVAL, "high-water mark must be at least 1")
		}
		if opt == OptHighWaterSend {
			s.hwmSend = v
			if s.fastPub != 0 {
				s.publishFastLocked(s.fastPub) // the host thread's queue uses it too
			}
		} else {
			s.hwmRecv = v
			s.cond.Broadcast()
		}
		return nil
	}
	if v < 0 || v > 1<<31-1 {
		return Errf(EINVAL, "value %d is out of range", v)
	}
	if s.isUnix && (opt == OptNoDelay || opt == OptKeepAlive || opt == OptKeepAliveDelayMS || opt == OptTTL) {
		return Errf(ENOOPT, "option %d does not apply to an AF_UNIX socket", int(opt))
	}
	rc, e := s.fdLocked()
	if e != nil {
		return e
	}
	iv := int(v)
	bv := b2i(v != 0)
	v6 := s.family == 6
	return AsError(controlErr(rc, func(fd int) error {
		switch opt {
		case OptNoDelay:
			return unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, bv)
		case OptKeepAlive:
			return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, bv)
		case OptKeepAliveDelayMS:
			secs := int((time.Duration(v)*time.Millisecond + time.Second - 1) / time.Second)
			if secs < 1 {
				return Errf(EINVAL, "keep-alive delay must be at least 1 ms")
			}
			if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, secs); err != nil {
				return err
			}
			return unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, secs)
		case OptSendBufferSize:
			return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, iv)
		case OptReceiveBufferSize:
			return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, iv)
		case OptTTL:
			if iv < 1 || iv > 255 {
				return Errf(EINVAL, "ttl %d is outside 1..255", iv)
			}
			if v6 {
				if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, iv); err != nil {
					return err
				}
				unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TTL, iv) // v4-mapped traffic
				return nil
			}
			return unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TTL, iv)
		case OptMulticastTTL:
			if iv > 255 {
				return Errf(EINVAL, "multicast ttl %d is outside 0..255", iv)
			}
			if v6 {
				if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_HOPS, iv); err != nil {
					return err
				}
			}
			return unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_TTL, iv)
		case OptMulticastLoopback:
			if v6 {
				if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_LOOP, bv); err != nil {
					return err
				}
			}
			return unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, bv)
		case OptBroadcast:
			return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_BROADCAST, bv)
		case OptAddressReuse:
			return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, bv)
		case OptReusePort:
			return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, bv)
		case OptMulticastInterface:
			if iv != 0 {
				if _, err := net.InterfaceByIndex(iv); err != nil {
					return Errf(ENOIFACE, "no interface with index %d", iv)
				}
			}
			if v6 {
				if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_IF, iv); err != nil {
					return err
				}
			}
			// With the interface's own IPv4 address as well, datagrams carry
			// it as their source: on lo, whose addresses have host scope,
			// the kernel would otherwise send from 0.0.0.0.
			mreq := &unix.IPMreqn{Ifindex: int32(iv)}
			if iv != 0 {
				mreq.Address = firstIPv4(iv)
			}
			if err := unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, mreq); err != nil {
				return err
			}
			s.mcastIface = iv
			return nil
		}
		return Errf(ENOOPT, "unknown option %d", int(opt))
	}))
}

// GetOption reads an option back from the kernel.
func (s *Socket) GetOption(opt Option) (int64, *Error) {
	if e := s.checkOption(opt); e != nil {
		return 0, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch opt {
	case OptHighWaterSend:
		return s.hwmSend, nil
	case OptHighWaterReceive:
		return s.hwmRecv, nil
	case OptMulticastInterface:
		if s.family == 4 {
			// IP_MULTICAST_IF reads back an address, not an index: report
			// the index that was set (0: the system's choice).
			return int64(s.mcastIface), nil
		}
	}
	if s.isUnix && (opt == OptNoDelay || opt == OptKeepAlive || opt == OptKeepAliveDelayMS || opt == OptTTL) {
		return 0, Errf(ENOOPT, "option %d does not apply to an AF_UNIX socket", int(opt))
	}
	rc, e := s.fdLocked()
	if e != nil {
		return 0, e
	}
	v6 := s.family == 6
	var out int
	err := controlErr(rc, func(fd int) error {
		var err error
		switch opt {
		case OptNoDelay:
			out, err = unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY)
		case OptKeepAlive:
			out, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE)
		case OptKeepAliveDelayMS:
			out, err = unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE)
			out *= 1000
		case OptSendBufferSize:
			out, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF)
		case OptReceiveBufferSize:
			out, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF)
		case OptTTL:
			if v6 {
				out, err = unix.GetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS)
			} else {
				out, err = unix.GetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TTL)
			}
		case OptMulticastTTL:
			if v6 {
				out, err = unix.GetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_HOPS)
			} else {
				out, err = unix.GetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_TTL)
			}
		case OptMulticastLoopback:
			if v6 {
				out, err = unix.GetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_LOOP)
			} else {
				out, err = unix.GetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP)
			}
		case OptBroadcast:
			out, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_BROADCAST)
		case OptAddressReuse:
			out, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR)
		case OptReusePort:
			out, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT)
		case OptMulticastInterface:
			out, err = unix.GetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_IF)
		}
		return err
	})
	if err != nil {
		return 0, AsError(err)
	}
	if opt == OptNoDelay || opt == OptKeepAlive || opt == OptBroadcast || opt == OptMulticastLoopback || opt == OptAddressReuse || opt == OptReusePort {
		out = b2i(out != 0)
	}
	return int64(out), nil
}

// firstIPv4 is the first IPv4 address of interface index (zero if none).
func firstIPv4(index int) (a [4]byte) {
	ifi, err := net.InterfaceByIndex(index)
	if err != nil {
		return a
	}
	addrs, _ := ifi.Addrs()
	for _, ad := range addrs {
		if pn, ok := ad.(*net.IPNet); ok {
			if ip4 := pn.IP.To4(); ip4 != nil {
				copy(a[:], ip4)
				return a
			}
		}
	}
	return a
}
