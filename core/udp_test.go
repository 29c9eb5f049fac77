package core

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"testing"
	"time"
)

// UDP unicast on loopback (no namespace needed): unconnected and connected,
// IPv4 and IPv6, destinations by name, set_peer, drops, sizes.

func udpPingPong(t *testing.T, local, dst string) {
	r := newRecorder(t)
	a := openUDP(t, r, udpOpts(local, 0))
	b := openUDP(t, r, udpOpts(local, 0))
	ap, bp := a.Info().LocalPort, b.Info().LocalPort
	mustSend(t, a, "ping", dst, bp)
	r.until("ping", 5*time.Second, func() bool { return r.got(b.h, "ping") })
	ev := r.message(b.h, "ping")
	if int(ev.Port) != ap || ev.Addr != dst {
		t.Fatalf("ping came from %s:%d, want %s:%d", ev.Addr, ev.Port, dst, ap)
	}
	// Answer to where it came from.
	mustSend(t, b, "pong", ev.Addr, int(ev.Port))
	r.until("pong", 5*time.Second, func() bool { return r.got(a.h, "pong") })
	ia, ib := a.Info(), b.Info()
	if ia.MessagesSent != 1 || ia.MessagesReceived != 1 || ia.BytesSent != 4 || ia.BytesReceived != 4 ||
		ib.MessagesSent != 1 || ib.MessagesReceived != 1 || ia.MessagesDropped != 0 {
		t.Fatalf("counters: a %+v b %+v", ia, ib)
	}
	if ia.Kind != KindUDP || ia.State != StateOpen || ia.RemoteAddress != "" {
		t.Fatalf("info: %+v", ia)
	}
	// Unconnected: send without a destination has none.
	if _, e := a.Send([]byte("x")); e == nil || e.Code != ENOTCONN {
		t.Fatalf("send without destination: %v", e)
	}
}

func TestUDPUnconnectedIPv4(t *testing.T) { udpPingPong(t, "127.0.0.1", "127.0.0.1") }
func TestUDPUnconnectedIPv6(t *testing.T) { udpPingPong(t, "::1", "::1") }

// A dual-stack socket (no local address) talks to both families.
func TestUDPDualStack(t *testing.T) {
	r := newRecorder(t)
	ds := openUDP(t, r, udpOpts("", 0))
	v4 := openUDP(t, r, udpOpts("127.0.0.1", 0))
	v6 := openUDP(t, r, udpOpts("::1", 0))
	port := ds.Info().LocalPort
	mustSend(t, v4, "four", "127.0.0.1", port)
	mustSend(t, v6, "six", "::1", port)
	r.until("both", 5*time.Second, func() bool { return r.got(ds.h, "four") && r.got(ds.h, "six") })
	if ev := r.message(ds.h, "four"); ev.Addr != "127.0.0.1" || ev.Family != 4 {
		t.Fatalf("four from %s family %d", ev.Addr, ev.Family)
	}
	if ev := r.message(ds.h, "six"); ev.Addr != "::1" || ev.Family != 6 {
		t.Fatalf("six from %s family %d", ev.Addr, ev.Family)
	}
	mustSend(t, ds, "back4", "127.0.0.1", v4.Info().LocalPort)
	mustSend(t, ds, "back6", "::1", v6.Info().LocalPort)
	r.until("replies", 5*time.Second, func() bool { return r.got(v4.h, "back4") && r.got(v6.h, "back6") })
}

// send_to by host name: resolved off the caller's thread, in order with
// literal destinations.
func TestUDPSendToByName(t *testing.T) {
	r := newRecorder(t)
	// (An IPv6-only sender is left out: "localhost" may name 127.0.0.1 only.)
	for _, c := range []struct{ snd, rcv string }{{"127.0.0.1", "127.0.0.1"}, {"", ""}} {
		a := openUDP(t, r, udpOpts(c.snd, 0))
		b := openUDP(t, r, udpOpts(c.rcv, 0))
		bp := b.Info().LocalPort
		for i := 0; i < 5; i++ {
			mustSend(t, a, fmt.Sprint("n", i), "localhost", bp)
		}
		r.until(c.snd+": five by name", 5*time.Second, func() bool { return len(r.messages(b.h)) == 5 })
		if got := fmt.Sprint(r.messages(b.h)); got != "[n0 n1 n2 n3 n4]" {
			t.Fatalf("%q: order %s", c.snd, got)
		}
		if ev := r.message(b.h, "n0"); int(ev.Port) != a.Info().LocalPort {
			t.Fatalf("came from port %d", ev.Port)
		}
	}
	// An unresolvable name is dropped and counted, the socket lives on.
	a := openUDP(t, r, udpOpts("127.0.0.1", 0))
	mustSend(t, a, "lost", "no-such-host.invalid", 9)
	r.until("dropped", 10*time.Second, func() bool { return a.Info().MessagesDropped == 1 })
	if a.State() != StateOpen {
		t.Fatalf("state %v", a.State())
	}
	if _, e := a.SendTo([]byte("x"), "bad host!", 9); e == nil || e.Code != EADDR {
		t.Fatalf("bad name: %v", e)
	}
}

// Connected mode (remote address at open, literal and by name): Send goes
// to the peer, and only the peer's datagrams arrive.
func TestUDPConnected(t *testing.T) {
	for _, c := range []struct{ local, remote string }{{"127.0.0.1", "127.0.0.1"}, {"::1", "::1"}, {"127.0.0.1", "localhost"}} {
		t.Run(c.remote+"/"+c.local, func(t *testing.T) {
			r := newRecorder(t)
			peer := openUDP(t, r, udpOpts(c.local, 0))
			stranger := openUDP(t, r, udpOpts(c.local, 0))
			o := udpOpts(c.local, 0)
			o.RemoteAddress = c.remote
			o.RemotePort = peer.Info().LocalPort
			s := openUDP(t, r, o)
			in := s.Info()
			if in.RemotePort != peer.Info().LocalPort || in.RemoteAddress != c.local {
				t.Fatalf("remote %s:%d", in.RemoteAddress, in.RemotePort)
			}
			if _, e := s.Send([]byte("hi")); e != nil {
				t.Fatal(e)
			}
			r.until("hi", 5*time.Second, func() bool { return r.got(peer.h, "hi") })
			port := s.Info().LocalPort
			mustSend(t, stranger, "stranger", c.local, port)
			mustSend(t, peer, "peer", c.local, port)
			r.until("peer's reply", 5*time.Second, func() bool { return r.got(s.h, "peer") })
			if r.got(s.h, "stranger") {
				t.Fatal("a connected socket received a datagram from another address")
			}
		})
	}
}

// set_peer connects, re-connects and disconnects an open socket.
func TestUDPSetPeer(t *testing.T) {
	r := newRecorder(t)
	s := openUDP(t, r, udpOpts("127.0.0.1", 0))
	p1 := openUDP(t, r, udpOpts("127.0.0.1", 0))
	p2 := openUDP(t, r, udpOpts("127.0.0.1", 0))
	if e := s.SetPeer("127.0.0.1", p1.Info().LocalPort); e != nil {
		t.Fatal(e)
	}
	if in := s.Info(); in.RemotePort != p1.Info().LocalPort {
		t.Fatalf("remote port %d", in.RemotePort)
	}
	s.Send([]byte("to-p1"))
	r.until("p1", 5*time.Second, func() bool { return r.got(p1.h, "to-p1") })
	if e := s.SetPeer("127.0.0.1", p2.Info().LocalPort); e != nil {
		t.Fatal(e)
	}
	s.Send([]byte("to-p2"))
	r.until("p2", 5*time.Second, func() bool { return r.got(p2.h, "to-p2") })
	// p1 is no longer the peer: its datagrams are filtered, p2's arrive.
	mustSend(t, p1, "old", "127.0.0.1", s.Info().LocalPort)
	mustSend(t, p2, "new", "127.0.0.1", s.Info().LocalPort)
	r.until("new", 5*time.Second, func() bool { return r.got(s.h, "new") })
	if r.got(s.h, "old") || r.got(p1.h, "to-p2") {
		t.Fatal("datagram reached the previous peer")
	}
	if e := s.SetPeer("", 0); e != nil {
		t.Fatal(e)
	}
	if in := s.Info(); in.RemoteAddress != "" || in.RemotePort != 0 {
		t.Fatalf("after disconnect: %s:%d", in.RemoteAddress, in.RemotePort)
	}
	if _, e := s.Send([]byte("x")); e == nil || e.Code != ENOTCONN {
		t.Fatalf("send after disconnect: %v", e)
	}
	mustSend(t, p1, "open-again", "127.0.0.1", s.Info().LocalPort)
	r.until("any sender again", 5*time.Second, func() bool { return r.got(s.h, "open-again") })

	for _, c := range []struct {
		addr string
		port int
		want Code
	}{{"nonsense", 9, EADDR}, {"127.0.0.1", 0, EINVAL}, {"127.0.0.1", 65536, EINVAL}, {"::1", 9, EFAMILY}} {
		if e := s.SetPeer(c.addr, c.port); e == nil || e.Code != c.want {
			t.Errorf("set_peer(%q, %d): %v, want %s", c.addr, c.port, e, c.want.Name())
		}
	}
	_, lport := r.listen(DefaultTCPOptions())
	tc, _ := Connect(r.l, "127.0.0.1", lport, DefaultTCPOptions(), 0)
	if e := tc.SetPeer("127.0.0.1", 9); e == nil || e.Code != ENOTSUP {
		t.Errorf("set_peer on TCP: %v", e)
	}
	s.Close()
	r.until("CLOSE", 5*time.Second, func() bool { return r.has(s.h, EvClose) })
	if e := s.SetPeer("127.0.0.1", 9); e == nil || e.Code != ESTATE {
		t.Errorf("set_peer after close: %v", e)
	}
}

// Datagrams that arrive while the undelivered ones fill the receive
// high-water mark are dropped and counted; delivery resumes once the host
// drains.
func TestUDPDropsWhenQueueFull(t *testing.T) {
	r := newRecorder(t)
	o := udpOpts("127.0.0.1", 0)
	o.HighWaterReceive = 1000
	rcv := openUDP(t, r, o)
	snd := openUDP(t, r, udpOpts("127.0.0.1", 0))
	port := rcv.Info().LocalPort
	payload := bytes.Repeat([]byte("d"), 400)
	const n = 10
	for i := 0; i < n; i++ {
		if _, e := snd.SendTo(payload, "127.0.0.1", port); e != nil {
			t.Fatal(e)
		}
	}
	// Do not poll: wait until the reader has seen every datagram.
	deadline := time.Now().Add(5 * time.Second)
	for {
		in := rcv.Info()
		if in.MessagesReceived+in.MessagesDropped == n {
			if in.MessagesReceived != 2 || in.MessagesDropped != n-2 {
				t.Fatalf("received %d dropped %d; with a 1000-byte mark two 400-byte datagrams fit", in.MessagesReceived, in.MessagesDropped)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("reader saw %d+%d of %d datagrams", in.MessagesReceived, in.MessagesDropped, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	r.until("two delivered", 5*time.Second, func() bool { return len(r.messages(rcv.h)) == 2 })
	r.pump(0) // releases the delivered payloads
	mustSend(t, snd, "later", "127.0.0.1", port)
	r.until("delivery resumes", 5*time.Second, func() bool { return r.got(rcv.h, "later") })
	if in := rcv.Info(); in.MessagesDropped != n-2 || in.MessagesReceived != 3 {
		t.Fatalf("after draining: %+v", in)
	}
}

// The largest IPv4 datagram goes through intact; one byte more is
// W3S_EMSGSIZE at once, for send and send_to, connected or not.
func TestUDPMessageSize(t *testing.T) {
	r := newRecorder(t)
	rcv := openUDP(t, r, udpOpts("127.0.0.1", 0))
	snd := openUDP(t, r, udpOpts("127.0.0.1", 0))
	port := rcv.Info().LocalPort
	big := make([]byte, maxDatagram)
	rand.Read(big)
	if _, e := snd.SendTo(big, "127.0.0.1", port); e != nil {
		t.Fatal(e)
	}
	r.until("big datagram", 5*time.Second, func() bool { return len(r.messages(rcv.h)) == 1 })
	if got := r.messages(rcv.h)[0]; got != string(big) {
		t.Fatalf("big datagram arrived with %d bytes, differing", len(got))
	}
	if _, e := snd.SendTo(make([]byte, maxDatagram+1), "127.0.0.1", port); e == nil || e.Code != EMSGSIZE {
		t.Fatalf("oversized send_to: %v", e)
	}
	if e := snd.SetPeer("127.0.0.1", port); e != nil {
		t.Fatal(e)
	}
	if _, e := snd.Send(make([]byte, 70000)); e == nil || e.Code != EMSGSIZE {
		t.Fatalf("oversized send: %v", e)
	}
	// An empty datagram is a datagram.
	if _, e := snd.Send(nil); e != nil {
		t.Fatal(e)
	}
	r.until("empty datagram", 5*time.Second, func() bool { return len(r.messages(rcv.h)) == 2 })
	if m := r.messages(rcv.h)[1]; m != "" {
		t.Fatalf("empty datagram arrived as %q", m)
	}
	if in := snd.Info(); in.MessagesSent != 2 || in.MessagesDropped != 0 {
		t.Fatalf("sender counters %+v", in)
	}
}

// Bad arguments at open and at send_to.
func TestUDPBadInput(t *testing.T) {
	r := newRecorder(t)
	bad := []struct {
		name string
		mod  func(*UDPOptions)
		want Code
	}{
		{"port -1", func(o *UDPOptions) { o.LocalPort = -1 }, EINVAL},
		{"port 65536", func(o *UDPOptions) { o.LocalPort = 65536 }, EINVAL},
		{"bad local", func(o *UDPOptions) { o.LocalAddress = "300.1.1.1" }, EADDR},
		{"remote port 0", func(o *UDPOptions) { o.RemoteAddress = "127.0.0.1" }, EINVAL},
		{"ttl 256", func(o *UDPOptions) { o.TTL = 256 }, EINVAL},
		{"multicast ttl 256", func(o *UDPOptions) { o.MulticastTTL = 256 }, EINVAL},
		{"multicast ttl -2", func(o *UDPOptions) { o.MulticastTTL = -2 }, EINVAL},
		{"negative buffer", func(o *UDPOptions) { o.ReceiveBufferSize = -1 }, EINVAL},
		{"v6 peer on v4 socket", func(o *UDPOptions) { o.RemoteAddress, o.RemotePort = "::1", 9 }, EFAMILY},
	}
	for _, c := range bad {
		o := udpOpts("127.0.0.1", 0)
		c.mod(&o)
		if s, e := OpenUDP(r.l, o, 0); e == nil || e.Code != c.want {
			t.Errorf("%s: %v %v, want %s", c.name, s, e, c.want.Name())
		}
	}
	// A port in use without address reuse.
	a := openUDP(t, r, udpOpts("127.0.0.1", 0))
	o := udpOpts("127.0.0.1", a.Info().LocalPort)
	o.AddressReuse = false
	if _, e := OpenUDP(r.l, o, 0); e == nil || e.Code != EADDRINUSE {
		t.Errorf("port in use: %v", e)
	}
	for _, c := range []struct {
		addr string
		port int
		want Code
	}{{"127.0.0.1", 0, EINVAL}, {"127.0.0.1", 70000, EINVAL}, {"::1", 9, EFAMILY}, {"1.2.3.4:5", 9, EADDR}} {
		if _, e := a.SendTo([]byte("x"), c.addr, c.port); e == nil || e.Code != c.want {
			t.Errorf("send_to(%q, %d): %v, want %s", c.addr, c.port, e, c.want.Name())
		}
	}
	a.Close()
	if _, e := a.SendTo([]byte("x"), "127.0.0.1", 9); e == nil || e.Code != ESTATE {
		t.Errorf("send_to after close: %v", e)
	}
	r.until("CLOSE", 5*time.Second, func() bool { return r.has(a.h, EvClose) })
	// No events for the failed opens: only a's OPEN and CLOSE.
	for h := range r.byH {
		if h != a.h {
			t.Errorf("events for a socket that failed to open: %v", r.types(h))
		}
	}
}

// A connected socket has one peer: another destination is refused with
// EISCONN, the peer's own address is accepted, and after the peer is
// removed any destination works again.
func TestUDPConnectedRefusesOtherDestination(t *testing.T) {
	r := newRecorder(t)
	o := DefaultUDPOptions()
	o.LocalAddress = "127.0.0.1"
	peer, e := OpenUDP(r.l, o, 0)
	if e != nil {
		t.Fatal(e)
	}
	pport := peer.Info().LocalPort
	o.RemoteAddress, o.RemotePort = "127.0.0.1", pport
	c, e := OpenUDP(r.l, o, 0)
	if e != nil {
		t.Fatal(e)
	}
	if _, e := c.SendTo([]byte("x"), "127.0.0.1", pport+1); e == nil || e.Code != EISCONN {
		t.Fatalf("send to another port: %v", e)
	}
	if _, e := c.SendTo([]byte("to the peer"), "127.0.0.1", pport); e != nil {
		t.Fatalf("send to the peer by address: %v", e)
	}
	r.until("datagram", 5*time.Second, func() bool { return r.has(peer.h, EvMessage) })
	if e := c.SetPeer("", 0); e != nil {
		t.Fatal(e)
	}
	if _, e := c.SendTo([]byte("x"), "127.0.0.1", pport+1); e != nil {
		t.Fatalf("after removing the peer: %v", e)
	}
}
