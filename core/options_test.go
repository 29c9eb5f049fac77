package core

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Options read back what the kernel has. The kernel's own view is read
// independently here with getsockopt on the descriptor.

func kernelInt(t *testing.T, s *Socket, level, opt int) int {
	t.Helper()
	s.mu.Lock()
	rc, e := s.fdLocked()
	s.mu.Unlock()
	if e != nil {
		t.Fatal(e)
	}
	var v int
	if err := controlErr(rc, func(fd int) error {
		var err error
		v, err = unix.GetsockoptInt(fd, level, opt)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return v
}

func getOpt(t *testing.T, s *Socket, opt Option) int64 {
	t.Helper()
	v, e := s.GetOption(opt)
	if e != nil {
		t.Fatalf("get option %d: %s %v", opt, e.Code.Name(), e)
	}
	return v
}

func setOpt(t *testing.T, s *Socket, opt Option, v int64) {
	t.Helper()
	if e := s.SetOption(opt, v); e != nil {
		t.Fatalf("set option %d to %d: %s %v", opt, v, e.Code.Name(), e)
	}
}

func TestUDPOptionsAtOpen(t *testing.T) {
	r := newRecorder(t)
	for _, local := range []string{"127.0.0.1", "::1", ""} {
		o := udpOpts(local, 0)
		o.TTL = 33
		o.MulticastTTL = 7
		o.MulticastLoopback = true
		o.Broadcast = true
		o.ReusePort = true
		o.SendBufferSize = 50000
		o.ReceiveBufferSize = 60000
		o.MulticastInterface = "lo"
		s := openUDP(t, r, o)
		want := map[Option]int64{
			OptTTL: 33, OptMulticastTTL: 7, OptMulticastLoopback: 1, OptBroadcast: 1,
			OptReusePort: 1, OptAddressReuse: 1, OptMulticastInterface: 1,
			// Linux doubles buffer sizes for its bookkeeping: reading returns
			// what the kernel has, not what was asked.
			OptSendBufferSize: 100000, OptReceiveBufferSize: 120000,
			OptHighWaterSend: 1 << 20, OptHighWaterReceive: 4 << 20,
		}
		for opt, w := range want {
			if got := getOpt(t, s, opt); got != w {
				t.Errorf("%q: option %d reads %d, want %d", local, opt, got, w)
			}
		}
		if got := kernelInt(t, s, unix.SOL_SOCKET, unix.SO_RCVBUF); int64(got) != getOpt(t, s, OptReceiveBufferSize) {
			t.Errorf("SO_RCVBUF %d", got)
		}
		s.Close()
	}
	// Defaults: address reuse on, the rest off; TTL is the system's.
	s := openUDP(t, r, udpOpts("127.0.0.1", 0))
	for opt, w := range map[Option]int64{OptAddressReuse: 1, OptReusePort: 0, OptBroadcast: 0, OptMulticastLoopback: 0, OptMulticastTTL: 1, OptMulticastInterface: 0} {
		if got := getOpt(t, s, opt); got != w {
			t.Errorf("default option %d reads %d, want %d", opt, got, w)
		}
	}
	if got := getOpt(t, s, OptTTL); got != int64(kernelInt(t, s, unix.IPPROTO_IP, unix.IP_TTL)) || got < 1 {
		t.Errorf("default ttl %d", got)
	}
	// Without broadcast, the kernel refuses a broadcast destination.
	if _, e := s.SendTo([]byte("x"), "255.255.255.255", 9); e == nil || e.Code != EACCES {
		t.Errorf("broadcast send with broadcast off: %v, want W3S_EACCES", e)
	}
	o := udpOpts("127.0.0.1", 0)
	o.AddressReuse = false
	if got := getOpt(t, openUDP(t, r, o), OptAddressReuse); got != 0 {
		t.Errorf("address reuse off reads %d", got)
	}
}

func TestUDPOptionsSetGet(t *testing.T) {
	r := newRecorder(t)
	for _, local := range []string{"127.0.0.1", "::1"} {
		s := openUDP(t, r, udpOpts(local, 0))
		for _, c := range []struct {
			opt  Option
			vals []int64
		}{
			{OptTTL, []int64{1, 64, 255}},
			{OptMulticastTTL, []int64{0, 2, 255}},
			{OptMulticastLoopback, []int64{1, 0}},
			{OptBroadcast, []int64{1, 0}},
			{OptAddressReuse, []int64{0, 1}},
			{OptReusePort, []int64{1, 0}},
			{OptHighWaterSend, []int64{1, 12345}},
			{OptHighWaterReceive, []int64{1, 1 << 30}},
		} {
			for _, v := range c.vals {
				setOpt(t, s, c.opt, v)
				if got := getOpt(t, s, c.opt); got != v {
					t.Errorf("%s: option %d reads %d after %d", local, c.opt, got, v)
				}
			}
		}
		// Any non-zero value is "on".
		setOpt(t, s, OptBroadcast, 7)
		if got := getOpt(t, s, OptBroadcast); got != 1 {
			t.Errorf("broadcast 7 reads %d", got)
		}
		// The kernel agrees, for the family's own option.
		setOpt(t, s, OptTTL, 42)
		setOpt(t, s, OptMulticastTTL, 3)
		if local == "127.0.0.1" {
			if k := kernelInt(t, s, unix.IPPROTO_IP, unix.IP_TTL); k != 42 {
				t.Errorf("IP_TTL %d", k)
			}
			if k := kernelInt(t, s, unix.IPPROTO_IP, unix.IP_MULTICAST_TTL); k != 3 {
				t.Errorf("IP_MULTICAST_TTL %d", k)
			}
		} else {
			if k := kernelInt(t, s, unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS); k != 42 {
				t.Errorf("IPV6_UNICAST_HOPS %d", k)
			}
			if k := kernelInt(t, s, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_HOPS); k != 3 {
				t.Errorf("IPV6_MULTICAST_HOPS %d", k)
			}
		}
		setOpt(t, s, OptReceiveBufferSize, 4096)
		if got := getOpt(t, s, OptReceiveBufferSize); got != 8192 {
			t.Errorf("receive buffer 4096 reads %d, want the kernel's 8192", got)
		}
		setOpt(t, s, OptSendBufferSize, 9000)
		if got := getOpt(t, s, OptSendBufferSize); got != 18000 {
			t.Errorf("send buffer 9000 reads %d", got)
		}
		// Out of range.
		for _, c := range []struct {
			opt Option
			v   int64
		}{
			{OptTTL, 0}, {OptTTL, 256}, {OptMulticastTTL, 256}, {OptMulticastTTL, -1},
			{OptSendBufferSize, -1}, {OptReceiveBufferSize, 1 << 31}, {OptHighWaterSend, 0},
			{OptHighWaterReceive, -5},
		} {
			if e := s.SetOption(c.opt, c.v); e == nil || e.Code != EINVAL {
				t.Errorf("option %d = %d: %v, want W3S_EINVAL", c.opt, c.v, e)
			}
		}
		// TCP-only options and unknown numbers.
		for _, opt := range []Option{OptNoDelay, OptKeepAlive, OptKeepAliveDelayMS, 0, 15, -1, 1000} {
			if e := s.SetOption(opt, 1); e == nil || e.Code != ENOOPT {
				t.Errorf("set option %d on UDP: %v, want W3S_ENOOPT", opt, e)
			}
			if _, e := s.GetOption(opt); e == nil || e.Code != ENOOPT {
				t.Errorf("get option %d on UDP: %v, want W3S_ENOOPT", opt, e)
			}
		}
		s.Close()
		r.until("CLOSE", 5*time.Second, func() bool { return r.has(s.h, EvClose) })
		if e := s.SetOption(OptTTL, 5); e == nil || e.Code != ESTATE {
			t.Errorf("set after close: %v", e)
		}
		if _, e := s.GetOption(OptTTL); e == nil || e.Code != ESTATE {
			t.Errorf("get after close: %v", e)
		}
	}
}

func TestTCPOptions(t *testing.T) {
	r := newRecorder(t)
	ln, port := r.listen(DefaultTCPOptions())
	c, e := Connect(r.l, "127.0.0.1", port, DefaultTCPOptions(), 0)
	if e != nil {
		t.Fatal(e)
	}
	srv := r.accepted(ln)
	r.until("OPEN", 5*time.Second, func() bool { return r.has(c.h, EvOpen) })

	// Defaults: no-delay on (W3C), keep-alive off, on both ends.
	for _, s := range []*Socket{c, srv} {
		if got := getOpt(t, s, OptNoDelay); got != 1 {
			t.Errorf("no-delay default %d", got)
		}
		if k := kernelInt(t, s, unix.IPPROTO_TCP, unix.TCP_NODELAY); k == 0 {
			t.Error("kernel TCP_NODELAY off")
		}
		if got := getOpt(t, s, OptKeepAlive); got != 0 {
			t.Errorf("keep-alive default %d", got)
		}
	}
	setOpt(t, c, OptNoDelay, 0)
	if got := getOpt(t, c, OptNoDelay); got != 0 || kernelInt(t, c, unix.IPPROTO_TCP, unix.TCP_NODELAY) != 0 {
		t.Errorf("no-delay off reads %d", got)
	}
	setOpt(t, c, OptKeepAlive, 1)
	setOpt(t, c, OptKeepAliveDelayMS, 7000)
	if got := getOpt(t, c, OptKeepAlive); got != 1 {
		t.Errorf("keep-alive on reads %d", got)
	}
	if got := getOpt(t, c, OptKeepAliveDelayMS); got != 7000 {
		t.Errorf("keep-alive delay reads %d", got)
	}
	if k := kernelInt(t, c, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE); k != 7 {
		t.Errorf("TCP_KEEPIDLE %d", k)
	}
	// The kernel counts whole seconds: 1500 ms becomes 2 s.
	setOpt(t, c, OptKeepAliveDelayMS, 1500)
	if got := getOpt(t, c, OptKeepAliveDelayMS); got != 2000 {
		t.Errorf("keep-alive 1500 ms reads %d", got)
	}
	setOpt(t, c, OptKeepAlive, 0)
	if got := getOpt(t, c, OptKeepAlive); got != 0 {
		t.Errorf("keep-alive off reads %d", got)
	}
	for _, s := range []*Socket{c, srv, ln} {
		setOpt(t, s, OptReceiveBufferSize, 32768)
		if got := getOpt(t, s, OptReceiveBufferSize); got != 65536 {
			t.Errorf("kind %d: receive buffer 32768 reads %d", s.kind, got)
		}
		setOpt(t, s, OptSendBufferSize, 32768)
		if got := getOpt(t, s, OptSendBufferSize); got != 65536 {
			t.Errorf("kind %d: send buffer reads %d", s.kind, got)
		}
	}
	setOpt(t, c, OptTTL, 9)
	if got := getOpt(t, c, OptTTL); got != 9 {
		t.Errorf("tcp ttl %d", got)
	}
	if got := getOpt(t, ln, OptAddressReuse); got != 1 {
		t.Errorf("listener address reuse default %d", got)
	}
	if got := getOpt(t, ln, OptReusePort); got != 0 {
		t.Errorf("listener reuse port default %d", got)
	}
	for _, opt := range []Option{OptMulticastTTL, OptMulticastLoopback, OptBroadcast, OptMulticastInterface} {
		if e := c.SetOption(opt, 1); e == nil || e.Code != ENOOPT {
			t.Errorf("UDP option %d on TCP: %v", opt, e)
		}
	}
	for _, opt := range []Option{OptNoDelay, OptKeepAlive, OptTTL, OptHighWaterSend} {
		if _, e := ln.GetOption(opt); e == nil || e.Code != ENOOPT {
			t.Errorf("option %d on a listener: %v", opt, e)
		}
	}
	if e := c.SetOption(OptKeepAliveDelayMS, 0); e == nil || e.Code != EINVAL {
		t.Errorf("keep-alive delay 0: %v", e)
	}
}

// Options given at connect and listen reach the kernel.
func TestTCPOptionsAtOpen(t *testing.T) {
	r := newRecorder(t)
	lo := DefaultTCPOptions()
	lo.ReusePort = true
	lo.ReceiveBufferSize = 40000
	ln, port := r.listen(lo)
	if got := getOpt(t, ln, OptReusePort); got != 1 {
		t.Errorf("listener reuse port %d", got)
	}
	if got := getOpt(t, ln, OptReceiveBufferSize); got != 80000 {
		t.Errorf("listener receive buffer %d", got)
	}
	o := DefaultTCPOptions()
	o.NoDelay = false
	o.KeepAlive = true
	o.KeepAliveDelay = 3 * time.Second
	o.SendBufferSize = 30000
	o.ReceiveBufferSize = 20000
	c, e := Connect(r.l, "127.0.0.1", port, o, 0)
	if e != nil {
		t.Fatal(e)
	}
	r.until("OPEN", 5*time.Second, func() bool { return r.has(c.h, EvOpen) })
	for opt, want := range map[Option]int64{OptNoDelay: 0, OptKeepAlive: 1, OptKeepAliveDelayMS: 3000, OptSendBufferSize: 60000, OptReceiveBufferSize: 40000} {
		if got := getOpt(t, c, opt); got != want {
			t.Errorf("option %d at connect reads %d, want %d", opt, got, want)
		}
	}
}
