package core

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Multicast tests never send a packet outside the machine: each one runs in
// a network namespace of its own made by tests/netns.sh (lo up with
// multicast and 224.0.0.0/4; a veth pair veth0 fd00::1 <-> veth1 fd00::2
// for IPv6). A test called outside such a namespace re-runs itself, and only
// itself, inside a fresh one (same test binary, so -race carries over) and
// reports that run's result.

// inNetns returns true when the caller must return at once because the test
// was run (and judged) in a child process inside a namespace.
func inNetns(t *testing.T) bool {
	t.Helper()
	if os.Getenv("W3S_IN_NETNS") == "1" {
		return false
	}
	script, err := filepath.Abs("../tests/netns.sh")
	if err != nil {
		t.Fatal(err)
	}
	timeout := 2 * time.Minute
	if d, ok := t.Deadline(); ok && time.Until(d) < timeout {
		timeout = time.Until(d) - time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, script, os.Args[0],
		"-test.run", "^"+t.Name()+"$", "-test.count=1", "-test.v",
		"-test.timeout", timeout.String())
	// The race detector sleeps a second at exit unless told otherwise.
	cmd.Env = append(os.Environ(), "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s in a network namespace: %v\n%s", t.Name(), err, out)
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("%s did not run in the namespace:\n%s", t.Name(), out)
	}
	if testing.Verbose() {
		t.Logf("ran in a network namespace:\n%s", out)
	}
	return true
}

// vethV4 gives the namespace's veth pair IPv4 addresses (10.77.0.1 on veth0,
// 10.77.0.2 on veth1) so IPv4 multicast can cross an interface that does not
// loop everything back the way lo does. Both ends being local addresses,
// veth1 must accept packets whose source is local.
var vethV4Once sync.Once

func vethV4(t *testing.T) {
	t.Helper()
	var err error
	vethV4Once.Do(func() {
		for _, args := range [][]string{
			{"addr", "add", "10.77.0.1/24", "dev", "veth0"},
			{"addr", "add", "10.77.0.2/24", "dev", "veth1"},
		} {
			if out, e := exec.Command("ip", args...).CombinedOutput(); e != nil {
				err = fmt.Errorf("ip %v: %v: %s", args, e, out)
				return
			}
		}
		for _, f := range []string{"all/accept_local", "veth1/accept_local"} {
			if e := os.WriteFile("/proc/sys/net/ipv4/conf/"+f, []byte("1"), 0); e != nil {
				err = e
				return
			}
		}
		for _, f := range []string{"all/rp_filter", "default/rp_filter", "veth0/rp_filter", "veth1/rp_filter"} {
			if e := os.WriteFile("/proc/sys/net/ipv4/conf/"+f, []byte("0"), 0); e != nil {
				err = e
				return
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}

// addAddr6 adds an IPv6 address (without duplicate detection) to dev.
func addAddr6(t *testing.T, addr, dev string) {
	t.Helper()
	if out, err := exec.Command("ip", "addr", "add", addr, "dev", dev, "nodad").CombinedOutput(); err != nil {
		t.Fatalf("ip addr add %s: %v: %s", addr, err, out)
	}
}

func openUDP(t *testing.T, r *recorder, o UDPOptions) *Socket {
	t.Helper()
	s, e := OpenUDP(r.l, o, 0)
	if e != nil {
		t.Fatalf("open udp %+v: %v", o, e)
	}
	r.until("OPEN", 5*time.Second, func() bool { return r.has(s.h, EvOpen) })
	return s
}

func udpOpts(local string, port int) UDPOptions {
	o := DefaultUDPOptions()
	o.LocalAddress = local
	o.LocalPort = port
	return o
}

// messages lists the payloads h received, in order.
func (r *recorder) messages(h Handle) []string {
	var out []string
	for _, ev := range r.byH[h] {
		if ev.Type == EvMessage {
			out = append(out, string(ev.Data))
		}
	}
	return out
}

func (r *recorder) got(h Handle, payload string) bool {
	for _, m := range r.messages(h) {
		if m == payload {
			return true
		}
	}
	return false
}

func (r *recorder) message(h Handle, payload string) *Event {
	for i, ev := range r.byH[h] {
		if ev.Type == EvMessage && string(ev.Data) == payload {
			return &r.byH[h][i]
		}
	}
	return nil
}

func mustJoin(t *testing.T, s *Socket, group, source, iface string) {
	t.Helper()
	if e := s.JoinGroup(group, source, iface); e != nil {
		t.Fatalf("join %s (source %q) on %q: %s %v", group, source, iface, e.Code.Name(), e)
	}
}

func mustSend(t *testing.T, s *Socket, payload, addr string, port int) {
	t.Helper()
	if _, e := s.SendTo([]byte(payload), addr, port); e != nil {
		t.Fatalf("send %q to %s:%d: %s %v", payload, addr, port, e.Code.Name(), e)
	}
}

func ifIndex(t *testing.T, name string) int {
	t.Helper()
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		t.Fatal(err)
	}
	return ifi.Index
}

// igmpJoined says whether the kernel lists group as joined on dev.
func igmpJoined(t *testing.T, dev string, group netip.Addr) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/net/igmp")
	if err != nil {
		t.Fatal(err)
	}
	a := group.As4()
	want := fmt.Sprintf("%08X", binary.NativeEndian.Uint32(a[:]))
	cur := ""
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 0:
		case line[0] == '\t' || line[0] == ' ':
			if cur == dev && f[0] == want {
				return true
			}
		case len(f) >= 2 && f[0] != "Idx":
			cur = f[1] // "1	lo        :     1      V3"
		}
	}
	return false
}

// Two sockets in one group receive what a third sends (IPv4 on lo); a
// dual-stack socket receives the IPv4 group too; after leaving, nothing more
// arrives although a sibling on the same port stays a member; closing a
// socket leaves its groups.
func TestMulticastGroupIPv4(t *testing.T) {
	if inNetns(t) {
		return
	}
	r := newRecorder(t)
	const g1, g2 = "239.1.2.3", "239.1.2.4"
	r0 := openUDP(t, r, udpOpts("0.0.0.0", 0))
	port := r0.Info().LocalPort
	r1 := openUDP(t, r, udpOpts("0.0.0.0", port))
	ds := openUDP(t, r, udpOpts("", port)) // dual-stack wildcard
	so := udpOpts("127.0.0.1", 0)
	so.MulticastInterface = "lo"
	snd := openUDP(t, r, so)
	sport := snd.Info().LocalPort

	mustJoin(t, r0, g1, "", "lo")
	mustJoin(t, r0, g2, "", "lo")
	mustJoin(t, r1, g1, "", "1") // lo by index
	mustJoin(t, ds, g1, "", "")  // the system's choice (the 224/4 route: lo)
	if !igmpJoined(t, "lo", netip.MustParseAddr(g1)) {
		t.Fatalf("kernel does not list %s on lo", g1)
	}

	gs, e := r0.JoinedGroups()
	if e != nil || len(gs) != 2 || gs[0].Group.String() != g1 || gs[1].Group.String() != g2 ||
		gs[0].Iface != ifIndex(t, "lo") || gs[0].Source.IsValid() {
		t.Fatalf("joined groups of r0: %+v %v", gs, e)
	}
	if gs, _ := ds.JoinedGroups(); len(gs) != 1 || gs[0].Iface != 0 {
		t.Fatalf("joined groups of the dual-stack socket: %+v", gs)
	}

	mustSend(t, snd, "one", g1, port)
	r.until("all three members get 'one'", 5*time.Second, func() bool {
		return r.got(r0.h, "one") && r.got(r1.h, "one") && r.got(ds.h, "one")
	})
	for _, h := range []Handle{r0.h, r1.h, ds.h} {
		ev := r.message(h, "one")
		if ev.Addr != "127.0.0.1" || int(ev.Port) != sport || ev.Family != 4 {
			t.Fatalf("message 'one' on %d came from %s:%d family %d, want 127.0.0.1:%d", h, ev.Addr, ev.Port, ev.Family, sport)
		}
	}
	if r.got(snd.h, "one") {
		t.Fatal("the sender, not a member, received its own datagram")
	}
	// A wildcard-bound sender with lo as its multicast interface sends
	// from lo's address (the kernel alone would pick 0.0.0.0 on lo).
	wo := udpOpts("0.0.0.0", 0)
	wo.MulticastInterface = "lo"
	wild := openUDP(t, r, wo)
	mustSend(t, wild, "wild", g1, port)
	r.until("'wild'", 5*time.Second, func() bool { return r.got(r1.h, "wild") })
	if ev := r.message(r1.h, "wild"); ev.Addr != "127.0.0.1" || int(ev.Port) != wild.Info().LocalPort {
		t.Fatalf("'wild' came from %s:%d", ev.Addr, ev.Port)
	}

	// r0 leaves g1. r1 and ds stay members on the same port; with the
	// kernel default IP_MULTICAST_ALL=1 r0 would keep receiving g1.
	if e := r0.LeaveGroup(g1, "", ""); e != nil {
		t.Fatalf("leave: %v", e)
	}
	if gs, _ := r0.JoinedGroups(); len(gs) != 1 || gs[0].Group.String() != g2 {
		t.Fatalf("after leave r0 has %+v", gs)
	}
	mustSend(t, snd, "two", g1, port)
	r.until("members still get 'two'", 5*time.Second, func() bool { return r.got(r1.h, "two") && r.got(ds.h, "two") })
	// A sentinel on the group r0 still has: it was sent after 'two' had
	// been delivered, so r0 would have 'two' queued ahead of it.
	mustSend(t, snd, "sentinel", g2, port)
	r.until("sentinel on g2", 5*time.Second, func() bool { return r.got(r0.h, "sentinel") })
	if r.got(r0.h, "two") {
		t.Fatalf("r0 received 'two' after leaving %s: %v", g1, r.messages(r0.h))
	}
	if r.got(r1.h, "sentinel") || r.got(ds.h, "sentinel") {
		t.Fatal("a socket that never joined g2 received it")
	}
	if got := r.messages(r1.h); len(got) != 3 {
		t.Fatalf("r1 got %v, want exactly 'one', 'wild' and 'two'", got)
	}

	// Closing leaves every group: once the last member is gone, the
	// kernel no longer lists the group on lo.
	for _, s := range []*Socket{r0, r1, ds} {
		s.Close()
	}
	r.until("CLOSE", 5*time.Second, func() bool { return r.has(r0.h, EvClose) && r.has(r1.h, EvClose) && r.has(ds.h, EvClose) })
	if _, e := r0.JoinedGroups(); e != nil {
		t.Fatalf("joined groups after close: %v", e)
	}
	if gs, _ := r0.JoinedGroups(); len(gs) != 0 {
		t.Fatalf("closed socket still lists %+v", gs)
	}
	deadline := time.Now().Add(5 * time.Second)
	for igmpJoined(t, "lo", netip.MustParseAddr(g1)) || igmpJoined(t, "lo", netip.MustParseAddr(g2)) {
		if time.Now().After(deadline) {
			b, _ := os.ReadFile("/proc/net/igmp")
			t.Fatalf("groups still joined after close:\n%s", b)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Two sockets in one group receive what a third sends over IPv6: the
// sender sends out of veth0, the members joined the group on veth1.
func TestMulticastGroupIPv6(t *testing.T) {
	if inNetns(t) {
		return
	}
	r := newRecorder(t)
	const g = "ff15::1:2"
	r0 := openUDP(t, r, udpOpts("::", 0)) // IPv6 only
	port := r0.Info().LocalPort
	r1 := openUDP(t, r, udpOpts("", port)) // dual-stack
	so := udpOpts("fd00::1", 0)
	so.MulticastInterface = "veth0"
	snd := openUDP(t, r, so)
	mustJoin(t, r0, g, "", "veth1")
	mustJoin(t, r1, g, "", fmt.Sprint(ifIndex(t, "veth1")))
	if gs, _ := r1.JoinedGroups(); len(gs) != 1 || gs[0].Group.String() != g || gs[0].Iface != ifIndex(t, "veth1") {
		t.Fatalf("joined groups: %+v", gs)
	}
	if v, e := snd.GetOption(OptMulticastInterface); e != nil || int(v) != ifIndex(t, "veth0") {
		t.Fatalf("multicast interface reads %d %v, want veth0's index", v, e)
	}
	mustSend(t, snd, "six", g, port)
	r.until("both members get 'six'", 5*time.Second, func() bool { return r.got(r0.h, "six") && r.got(r1.h, "six") })
	for _, h := range []Handle{r0.h, r1.h} {
		ev := r.message(h, "six")
		if ev.Addr != "fd00::1" || ev.Family != 6 || int(ev.Port) != snd.Info().LocalPort {
			t.Fatalf("'six' came from %s:%d family %d", ev.Addr, ev.Port, ev.Family)
		}
	}

	// After r0 leaves, r1 still gets the group and r0 does not. r0 joins a
	// second group to receive the sentinel.
	const g2 = "ff15::1:3"
	mustJoin(t, r0, g2, "", "veth1")
	if e := r0.LeaveGroup(g, "", "veth1"); e != nil {
		t.Fatal(e)
	}
	mustSend(t, snd, "after", g, port)
	r.until("r1 gets 'after'", 5*time.Second, func() bool { return r.got(r1.h, "after") })
	mustSend(t, snd, "sentinel", g2, port)
	r.until("r0 gets the sentinel", 5*time.Second, func() bool { return r.got(r0.h, "sentinel") })
	if r.got(r0.h, "after") {
		t.Fatalf("r0 received 'after' once it had left: %v", r.messages(r0.h))
	}
}

// Loopback off (the default) means the sender does not hear itself; on,
// it does. IPv4 across the veth pair (lo would loop every packet back
// whatever the option says).
func TestMulticastLoopbackIPv4(t *testing.T) {
	if inNetns(t) {
		return
	}
	vethV4(t)
	r := newRecorder(t)
	const g = "239.2.0.1"
	o := udpOpts("0.0.0.0", 0)
	o.MulticastInterface = "veth0"
	snd := openUDP(t, r, o)
	port := snd.Info().LocalPort
	rcv := openUDP(t, r, udpOpts("0.0.0.0", port))
	mustJoin(t, snd, g, "", "veth0")
	mustJoin(t, rcv, g, "", "veth1")
	if v, e := snd.GetOption(OptMulticastLoopback); e != nil || v != 0 {
		t.Fatalf("loopback default reads %d %v, want 0", v, e)
	}
	mustSend(t, snd, "quiet", g, port)
	r.until("the other member gets 'quiet'", 5*time.Second, func() bool { return r.got(rcv.h, "quiet") })
	if e := snd.SetOption(OptMulticastLoopback, 1); e != nil {
		t.Fatal(e)
	}
	if v, _ := snd.GetOption(OptMulticastLoopback); v != 1 {
		t.Fatalf("loopback reads %d after setting 1", v)
	}
	mustSend(t, snd, "loud", g, port)
	r.until("the sender hears 'loud'", 5*time.Second, func() bool { return r.got(snd.h, "loud") && r.got(rcv.h, "loud") })
	if r.got(snd.h, "quiet") {
		t.Fatalf("the sender heard itself with loopback off: %v", r.messages(snd.h))
	}
	if ev := r.message(rcv.h, "quiet"); ev.Addr != "10.77.0.1" {
		t.Fatalf("'quiet' came from %s, want 10.77.0.1 (veth0)", ev.Addr)
	}
}

// The same over IPv6: every member on veth0 with the sender, so only the
// loopback copy can reach them.
func TestMulticastLoopbackIPv6(t *testing.T) {
	if inNetns(t) {
		return
	}
	r := newRecorder(t)
	const g = "ff15::2:1"
	o := udpOpts("::", 0)
	o.MulticastInterface = "veth0"
	snd := openUDP(t, r, o)
	port := snd.Info().LocalPort
	peer := openUDP(t, r, udpOpts("::", port))
	mustJoin(t, snd, g, "", "veth0")
	mustJoin(t, peer, g, "", "veth0")
	if v, e := snd.GetOption(OptMulticastLoopback); e != nil || v != 0 {
		t.Fatalf("loopback default reads %d %v", v, e)
	}
	mustSend(t, snd, "quiet", g, port)
	if e := snd.SetOption(OptMulticastLoopback, 1); e != nil {
		t.Fatal(e)
	}
	mustSend(t, snd, "loud", g, port)
	r.until("'loud' looped back to both", 5*time.Second, func() bool { return r.got(snd.h, "loud") && r.got(peer.h, "loud") })
	if r.got(snd.h, "quiet") || r.got(peer.h, "quiet") {
		t.Fatalf("'quiet' was looped back with loopback off: %v %v", r.messages(snd.h), r.messages(peer.h))
	}
	if in := snd.Info(); in.MessagesSent != 2 {
		t.Fatalf("messages sent %d, want 2", in.MessagesSent)
	}
}

// Source-specific membership delivers from the chosen source only, while
// an any-source member of the same group hears both sources.
func TestMulticastSourceSpecificIPv4(t *testing.T) {
	if inNetns(t) {
		return
	}
	r := newRecorder(t)
	const g = "232.1.2.3"
	ssm := openUDP(t, r, udpOpts("0.0.0.0", 0))
	port := ssm.Info().LocalPort
	asm := openUDP(t, r, udpOpts("0.0.0.0", port))
	oa := udpOpts("127.0.0.1", 0)
	oa.MulticastInterface = "lo"
	a := openUDP(t, r, oa)
	ob := udpOpts("127.0.0.2", 0)
	ob.MulticastInterface = "lo"
	b := openUDP(t, r, ob)
	mustJoin(t, ssm, g, "127.0.0.1", "lo")
	mustJoin(t, asm, g, "", "lo")
	if gs, _ := ssm.JoinedGroups(); len(gs) != 1 || gs[0].Source.String() != "127.0.0.1" || gs[0].Group.String() != g {
		t.Fatalf("joined: %+v", gs)
	}
	if e := ssm.JoinGroup(g, "127.0.0.1", "lo"); e == nil || e.Code != EALREADY {
		t.Fatalf("second source join: %v", e)
	}
	mustSend(t, b, "from-b", g, port)
	r.until("any-source member hears b", 5*time.Second, func() bool { return r.got(asm.h, "from-b") })
	mustSend(t, a, "from-a", g, port)
	r.until("source member hears a", 5*time.Second, func() bool { return r.got(ssm.h, "from-a") && r.got(asm.h, "from-a") })
	if r.got(ssm.h, "from-b") {
		t.Fatalf("source-specific member heard another source: %v", r.messages(ssm.h))
	}
	// Leave the source membership; a different source is not joined.
	if e := ssm.LeaveGroup(g, "127.0.0.2", ""); e == nil || e.Code != ENOTJOINED {
		t.Fatalf("leaving an unjoined source: %v", e)
	}
	if e := ssm.LeaveGroup(g, "127.0.0.1", ""); e != nil {
		t.Fatal(e)
	}
	if gs, _ := ssm.JoinedGroups(); len(gs) != 0 {
		t.Fatalf("after leave: %+v", gs)
	}
	mustSend(t, a, "gone", g, port)
	r.until("any-source member hears 'gone'", 5*time.Second, func() bool { return r.got(asm.h, "gone") })
	mustJoin(t, ssm, g, "127.0.0.2", "lo")
	mustSend(t, b, "b-now", g, port)
	r.until("new source member hears b", 5*time.Second, func() bool { return r.got(ssm.h, "b-now") })
	if r.got(ssm.h, "gone") {
		t.Fatal("received a datagram sent while not a member")
	}
}

// Source-specific membership over IPv6 (fd00::1 and fd00::3 on veth0).
func TestMulticastSourceSpecificIPv6(t *testing.T) {
	if inNetns(t) {
		return
	}
	addAddr6(t, "fd00::3/64", "veth0")
	r := newRecorder(t)
	const g = "ff3e::8000:1"
	ssm := openUDP(t, r, udpOpts("::", 0))
	port := ssm.Info().LocalPort
	asm := openUDP(t, r, udpOpts("::", port))
	oa := udpOpts("fd00::1", 0)
	oa.MulticastInterface = "veth0"
	a := openUDP(t, r, oa)
	ob := udpOpts("fd00::3", 0)
	ob.MulticastInterface = "veth0"
	b := openUDP(t, r, ob)
	mustJoin(t, ssm, g, "fd00::1", "veth1")
	mustJoin(t, asm, g, "", "veth1")
	mustSend(t, b, "from-b", g, port)
	r.until("any-source member hears b", 5*time.Second, func() bool { return r.got(asm.h, "from-b") })
	mustSend(t, a, "from-a", g, port)
	r.until("source member hears a", 5*time.Second, func() bool { return r.got(ssm.h, "from-a") })
	if r.got(ssm.h, "from-b") {
		t.Fatalf("source-specific member heard another source: %v", r.messages(ssm.h))
	}
	if ev := r.message(asm.h, "from-b"); ev.Addr != "fd00::3" {
		t.Fatalf("'from-b' came from %s", ev.Addr)
	}
}

// Multicast TTL (hop limit) and loopback read back from the kernel as set,
// both at open and later.
func TestMulticastOptionsReadBack(t *testing.T) {
	if inNetns(t) {
		return
	}
	r := newRecorder(t)
	for _, local := range []string{"0.0.0.0", "::", ""} {
		o := udpOpts(local, 0)
		o.MulticastTTL = 9
		o.MulticastLoopback = true
		o.MulticastInterface = "lo"
		s := openUDP(t, r, o)
		for opt, want := range map[Option]int64{OptMulticastTTL: 9, OptMulticastLoopback: 1, OptMulticastInterface: int64(ifIndex(t, "lo"))} {
			if v, e := s.GetOption(opt); e != nil || v != want {
				t.Fatalf("%q: option %d reads %d %v, want %d", local, opt, v, e, want)
			}
		}
		for _, v := range []int64{0, 1, 64, 255} {
			if e := s.SetOption(OptMulticastTTL, v); e != nil {
				t.Fatal(e)
			}
			if got, _ := s.GetOption(OptMulticastTTL); got != v {
				t.Fatalf("%q: multicast ttl reads %d after %d", local, got, v)
			}
		}
		if e := s.SetOption(OptMulticastTTL, 256); e == nil || e.Code != EINVAL {
			t.Fatalf("ttl 256: %v", e)
		}
		if e := s.SetOption(OptMulticastLoopback, 0); e != nil {
			t.Fatal(e)
		}
		if got, _ := s.GetOption(OptMulticastLoopback); got != 0 {
			t.Fatalf("loopback reads %d after 0", got)
		}
		if e := s.SetOption(OptMulticastInterface, 0); e != nil {
			t.Fatal(e)
		}
		if got, _ := s.GetOption(OptMulticastInterface); got != 0 {
			t.Fatalf("multicast interface reads %d after 0", got)
		}
		if e := s.SetOption(OptMulticastInterface, 9999); e == nil || e.Code != ENOIFACE {
			t.Fatalf("interface 9999: %v", e)
		}
		s.Close()
	}
	// Defaults: loopback off, TTL 1.
	s := openUDP(t, r, udpOpts("127.0.0.1", 0))
	if v, _ := s.GetOption(OptMulticastLoopback); v != 0 {
		t.Fatalf("default loopback %d", v)
	}
	if v, _ := s.GetOption(OptMulticastTTL); v != 1 {
		t.Fatalf("default multicast ttl %d", v)
	}
	o := udpOpts("127.0.0.1", 0)
	o.MulticastInterface = "does-not-exist"
	if _, e := OpenUDP(r.l, o, 0); e == nil || e.Code != ENOIFACE {
		t.Fatalf("open with an unknown multicast interface: %v", e)
	}
}

// Every documented error of join/leave.
func TestMulticastErrors(t *testing.T) {
	if inNetns(t) {
		return
	}
	r := newRecorder(t)
	v4 := openUDP(t, r, udpOpts("0.0.0.0", 0))
	v6 := openUDP(t, r, udpOpts("::", 0))
	ds := openUDP(t, r, udpOpts("", 0))
	_, port := r.listen(DefaultTCPOptions())
	tcp, e := Connect(r.l, "127.0.0.1", port, DefaultTCPOptions(), 0)
	if e != nil {
		t.Fatal(e)
	}
	cases := []struct {
		name                 string
		s                    *Socket
		group, source, iface string
		leave                bool
		want                 Code
	}{
		{"not an address", v4, "nonsense", "", "", false, EADDR},
		{"unicast group", v4, "10.1.2.3", "", "", false, ENOTMULTICAST},
		{"unicast v6 group", v6, "fd00::9", "", "", false, ENOTMULTICAST},
		{"unknown interface", v4, "239.1.1.1", "", "nope0", false, ENOIFACE},
		{"unknown index", v4, "239.1.1.1", "", "9999", false, ENOIFACE},
		{"v4 group on v6-only socket", v6, "239.1.1.1", "", "", false, EFAMILY},
		{"v6 group on v4 socket", v4, "ff15::1", "", "", false, EFAMILY},
		{"source family differs", v4, "232.1.1.1", "fd00::1", "lo", false, EFAMILY},
		{"bad source", v4, "232.1.1.1", "x.y", "lo", false, EADDR},
		{"tcp socket", tcp, "239.1.1.1", "", "", false, ENOTSUP},
		{"leave never joined", v4, "239.1.1.1", "", "", true, ENOTJOINED},
		{"leave v6 never joined", v6, "ff15::1", "", "", true, ENOTJOINED},
		{"leave unicast", v4, "10.1.2.3", "", "", true, ENOTMULTICAST},
	}
	for _, c := range cases {
		var e *Error
		if c.leave {
			e = c.s.LeaveGroup(c.group, c.source, c.iface)
		} else {
			e = c.s.JoinGroup(c.group, c.source, c.iface)
		}
		if e == nil || e.Code != c.want {
			t.Errorf("%s: got %v, want %s", c.name, e, c.want.Name())
		}
	}
	if _, e := tcp.JoinedGroups(); e == nil || e.Code != ENOTSUP {
		t.Errorf("joined groups of tcp: %v", e)
	}
	// Joining twice, by name and by index, and with the system's choice
	// after naming the interface it would choose.
	mustJoin(t, v4, "239.1.1.1", "", "lo")
	for _, iface := range []string{"lo", "1", "127.0.0.1", ""} {
		if e := v4.JoinGroup("239.1.1.1", "", iface); e == nil || e.Code != EALREADY {
			t.Errorf("second join on %q: %v", iface, e)
		}
	}
	mustJoin(t, v6, "ff15::1", "", "veth1")
	if e := v6.JoinGroup("ff15::1", "", "veth1"); e == nil || e.Code != EALREADY {
		t.Errorf("second v6 join: %v", e)
	}
	// The same group on another interface is a different membership.
	mustJoin(t, v6, "ff15::1", "", "veth0")
	if gs, _ := v6.JoinedGroups(); len(gs) != 2 {
		t.Errorf("two interfaces, memberships: %+v", gs)
	}
	if e := v6.LeaveGroup("ff15::1", "", "veth0"); e != nil {
		t.Error(e)
	}
	if e := v6.LeaveGroup("ff15::1", "", "veth0"); e == nil || e.Code != ENOTJOINED {
		t.Errorf("leave veth0 twice: %v", e)
	}
	// The dual-stack socket takes both families.
	mustJoin(t, ds, "239.1.1.1", "", "lo")
	mustJoin(t, ds, "ff15::1", "", "veth1")
	// A v4-mapped group is its IPv4 group.
	if e := ds.JoinGroup("::ffff:239.1.1.1", "", "lo"); e == nil || e.Code != EALREADY {
		t.Errorf("mapped group: %v", e)
	}
	ds.Close()
	r.until("CLOSE", 5*time.Second, func() bool { return r.has(ds.h, EvClose) })
	if e := ds.JoinGroup("239.1.1.2", "", ""); e == nil {
		t.Error("join on a closed socket succeeded")
	}
	if e := ds.LeaveGroup("239.1.1.1", "", ""); e == nil {
		t.Error("leave on a closed socket succeeded")
	}
}

// The interface list in a namespace whose interfaces are known: addresses
// with prefix lengths, indexes, flags, and an interface without addresses.
func TestNetworkList(t *testing.T) {
	if inNetns(t) {
		return
	}
	if out, err := exec.Command("ip", "link", "add", "w3sa", "type", "veth", "peer", "name", "w3sb").CombinedOutput(); err != nil {
		t.Fatalf("ip link add: %v: %s", err, out)
	}
	list, e := NetworkList()
	if e != nil {
		t.Fatal(e)
	}
	find := func(name, addr string) *InterfaceAddr {
		for i := range list {
			if list[i].Name == name && list[i].Address == addr {
				return &list[i]
			}
		}
		t.Fatalf("no %s %q in %+v", name, addr, list)
		return nil
	}
	lo := find("lo", "127.0.0.1")
	if lo.PrefixLength != 8 || lo.Family != 4 || lo.Index != ifIndex(t, "lo") || lo.Flags&(IfUp|IfLoopback|IfMulticast) != IfUp|IfLoopback|IfMulticast {
		t.Errorf("lo: %+v", lo)
	}
	if a := find("lo", "::1"); a.PrefixLength != 128 || a.Family != 6 {
		t.Errorf("lo ::1: %+v", a)
	}
	v := find("veth0", "fd00::1")
	if v.PrefixLength != 64 || v.Family != 6 || v.Index != ifIndex(t, "veth0") || v.Flags&IfLoopback != 0 ||
		v.Flags&(IfUp|IfMulticast|IfBroadcast) != IfUp|IfMulticast|IfBroadcast {
		t.Errorf("veth0: %+v", v)
	}
	down := find("w3sa", "")
	if down.PrefixLength != -1 || down.Family != 0 || down.Flags&IfUp != 0 || down.Index != ifIndex(t, "w3sa") {
		t.Errorf("interface without addresses: %+v", down)
	}
	for _, a := range list {
		if a.Name == "w3sa" && a.Address != "" {
			t.Errorf("w3sa listed twice: %+v", a)
		}
		if a.Address != "" && a.Family == 6 && strings.HasPrefix(a.Address, "fe80:") && !strings.Contains(a.Address, "%"+a.Name) {
			t.Errorf("link-local address without its zone: %+v", a)
		}
	}
}
