package core

import (
	"net"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// Info is what w3s_get_info reports.
type Info struct {
	Kind                           Kind
	State                          ReadyState
	Family                         uint16
	LocalAddress                   string
	LocalPort                      int
	RemoteAddress                  string
	RemotePort                     int
	BufferedAmount                 int64
	BytesReceived, BytesSent       uint64
	MessagesReceived, MessagesSent uint64
	MessagesDropped                uint64
	Paused, PeerEnded, Secure      bool
	RTTMicros                      int64 // -1 unknown
	TLS                            TLSInfo
}

// Info snapshots the socket.
func (s *Socket) Info() Info {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.harvestFastLocked()
	in := Info{
		Kind: s.kind, State: s.state, Family: s.family,
		BufferedAmount: s.buffered + s.fastQueued,
		BytesReceived:  s.bytesIn, BytesSent: s.bytesOut,
		MessagesReceived: s.msgsIn, MessagesSent: s.msgsOut, MessagesDropped: s.dropped,
		Paused: s.paused, PeerEnded: s.peerEnded, Secure: s.secure,
		RTTMicros: -1,
	}
	if s.secure {
		in.TLS = s.tlsInfo
	}
	var local, remote net.Addr
	switch {
	case s.raw != nil:
		local, remote = s.raw.LocalAddr(), s.raw.RemoteAddr()
	case s.ln != nil:
		local = s.ln.Addr()
	case s.udp != nil:
		local = s.udp.LocalAddr()
		if s.peer != nil {
			remote = s.peer
		}
	}
	in.LocalAddress, in.LocalPort = splitAddr(local)
	in.RemoteAddress, in.RemotePort = splitAddr(remote)
	if s.kind == KindTCP && !s.isUnix && s.rc != nil && !s.finished {
		s.rc.Control(func(fd uintptr) {
			if ti, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
				in.RTTMicros = int64(ti.Rtt)
			}
		})
	}
	return in
}

func splitAddr(a net.Addr) (string, int) {
	switch a := a.(type) {
	case *net.TCPAddr:
		if a == nil {
			return "", 0
		}
		return addrString(a.IP, a.Zone), a.Port
	case *net.UDPAddr:
		if a == nil {
			return "", 0
		}
		return addrString(a.IP, a.Zone), a.Port
	case *net.UnixAddr:
		if a == nil {
			return "", 0
		}
		return a.Name, 0
	}
	return "", 0
}

// Stats are live counts for leak checks.
type Stats struct {
	Loops, Sockets, Goroutines, OpenFDs, EventsQueued int64
}

// GetStats counts live loops, sockets, goroutines, descriptors and queued
// events.
func GetStats() Stats {
	loops, socks := handles.counts()
	st := Stats{Loops: int64(loops), Sockets: int64(socks), Goroutines: int64(runtime.NumGoroutine())}
	if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
		st.OpenFDs = int64(len(ents) - 1) // minus the one ReadDir itself holds
	}
	for _, l := range allLoops() {
		st.EventsQueued += int64(l.queued())
	}
	return st
}
