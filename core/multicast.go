package core

import (
	"errors"
	"net"
	"net/netip"
	"strconv"
	"syscall"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// Membership is one multicast group a UDP socket joined.
type Membership struct {
	Group  netip.Addr
	Source netip.Addr // invalid (zero) for any-source membership
	Iface  int        // interface index, 0 = the system's choice
}

// lookupInterface finds an interface by name, index ("3") or address.
func lookupInterface(spec string) (*net.Interface, *Error) {
	if ifi, err := net.InterfaceByName(spec); err == nil {
		return ifi, nil
	}
	if n, err := strconv.Atoi(spec); err == nil && n > 0 {
		if ifi, err := net.InterfaceByIndex(n); err == nil {
			return ifi, nil
		}
	}
	if ip, err := netip.ParseAddr(spec); err == nil {
		ifs, _ := net.Interfaces()
		for i := range ifs {
			addrs, _ := ifs[i].Addrs()
			for _, a := range addrs {
				if pn, ok := a.(*net.IPNet); ok && pn.IP.Equal(net.IP(ip.AsSlice())) {
					return &ifs[i], nil
				}
			}
		}
	}
	return nil, Errf(ENOIFACE, "no network interface %q", spec)
}

// parseMembership checks group, source and interface for this socket.
func (s *Socket) parseMembership(group, source, iface string) (Membership, *net.Interface, *Error) {
	var m Membership
	if s.kind != KindUDP {
		return m, nil, Errf(ENOTSUP, "multicast needs a UDP socket")
	}
	g, err := netip.ParseAddr(group)
	if err != nil {
		return m, nil, Errf(EADDR, "group %q is not an IP address", group)
	}
	g = g.Unmap()
	if !g.IsMulticast() {
		return m, nil, Errf(ENOTMULTICAST, "%s is not a multicast address", g)
	}
	switch {
	case g.Is4() && s.family == 6 && !s.dualStack:
		return m, nil, Errf(EFAMILY, "IPv4 group %s on an IPv6-only socket", g)
	case g.Is6() && s.family == 4:
		return m, nil, Errf(EFAMILY, "IPv6 group %s on an IPv4 socket", g)
	}
	m.Group = g
	if source != "" {
		src, err := netip.ParseAddr(source)
		if err != nil {
			return m, nil, Errf(EADDR, "source %q is not an IP address", source)
		}
		src = src.Unmap()
		if src.Is4() != g.Is4() {
			return m, nil, Errf(EFAMILY, "source %s and group %s differ in family", src, g)
		}
		m.Source = src
	}
	var ifi *net.Interface
	if iface != "" {
		var e *Error
		if ifi, e = lookupInterface(iface); e != nil {
			return m, nil, e
		}
		m.Iface = ifi.Index
	}
	return m, ifi, nil
}

// JoinGroup joins group (with source: source-specific) on iface.
func (s *Socket) JoinGroup(group, source, iface string) *Error {
	m, ifi, e := s.parseMembership(group, source, iface)
	if e != nil {
		return e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.finished || s.udp == nil {
		return Errf(ESTATE, "socket is closed")
	}
	for _, have := range s.groups {
		if have == m {
			return Errf(EALREADY, "already a member of %s", groupText(m))
		}
	}
	if err := s.membershipOp(m, ifi, true); err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			// The same group on the interface the system chose for an
			// earlier join without one (or the other way round).
			return Errf(EALREADY, "already a member of %s on that interface", groupText(m))
		}
		return AsError(err)
	}
	s.groups = append(s.groups, m)
	return nil
}

// LeaveGroup leaves a membership made by JoinGroup. Without an interface
// it leaves the one membership of that group (and source).
func (s *Socket) LeaveGroup(group, source, iface string) *Error {
	m, _, e := s.parseMembership(group, source, iface)
	if e != nil {
		return e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.finished || s.udp == nil {
		return Errf(ESTATE, "socket is closed")
	}
	for i, have := range s.groups {
		if have.Group == m.Group && have.Source == m.Source && (iface == "" || have.Iface == m.Iface) {
			var ifi *net.Interface
			if have.Iface != 0 {
				ifi, _ = net.InterfaceByIndex(have.Iface)
			}
			if err := s.membershipOp(have, ifi, false); err != nil {
				return AsError(err)
			}
			s.groups = append(s.groups[:i], s.groups[i+1:]...)
			return nil
		}
	}
	return Errf(ENOTJOINED, "not a member of %s", groupText(m))
}

// JoinedGroups lists the socket's memberships.
func (s *Socket) JoinedGroups() ([]Membership, *Error) {
	if s.kind != KindUDP {
		return nil, Errf(ENOTSUP, "multicast needs a UDP socket")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Membership(nil), s.groups...), nil
}

func groupText(m Membership) string {
	if m.Source.IsValid() {
		return m.Source.String() + "->" + m.Group.String()
	}
	return m.Group.String()
}

func (s *Socket) membershipOp(m Membership, ifi *net.Interface, join bool) error {
	g := &net.UDPAddr{IP: net.IP(m.Group.AsSlice())}
	var src *net.UDPAddr
	if m.Source.IsValid() {
		src = &net.UDPAddr{IP: net.IP(m.Source.AsSlice())}
	}
	if m.Group.Is4() {
		p := ipv4.NewPacketConn(s.udp)
		switch {
		case join && src == nil:
			return p.JoinGroup(ifi, g)
		case join:
			return p.JoinSourceSpecificGroup(ifi, g, src)
		case src == nil:
			return p.LeaveGroup(ifi, g)
		default:
			return p.LeaveSourceSpecificGroup(ifi, g, src)
		}
	}
	p := ipv6.NewPacketConn(s.udp)
	switch {
	case join && src == nil:
		return p.JoinGroup(ifi, g)
	case join:
		return p.JoinSourceSpecificGroup(ifi, g, src)
	case src == nil:
		return p.LeaveGroup(ifi, g)
	default:
		return p.LeaveSourceSpecificGroup(ifi, g, src)
	}
}

// leaveAllLocked drops every membership (on close).
func (s *Socket) leaveAllLocked() {
	if s.udp == nil {
		s.groups = nil
		return
	}
	for _, m := range s.groups {
		var ifi *net.Interface
		if m.Iface != 0 {
			ifi, _ = net.InterfaceByIndex(m.Iface)
		}
		s.membershipOp(m, ifi, false)
	}
	s.groups = nil
}
