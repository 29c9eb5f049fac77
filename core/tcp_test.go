package core

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
	"time"
)

func TestEchoRoundTrip(t *testing.T) {
	r := newRecorder(t)
	ln, port := r.listen(DefaultTCPOptions())
	c, e := Connect(r.l, "127.0.0.1", port, DefaultTCPOptions(), 7)
	if e != nil {
		t.Fatal(e)
	}
	// Sending while opening queues.
	if _, e := c.Send([]byte("hello ")); e != nil {
		t.Fatal(e)
	}
	srv := r.accepted(ln)
	r.until("OPEN", 5*time.Second, func() bool { return r.has(c.h, EvOpen) })
	if ev := r.first(c.h, EvOpen); ev.UserData != 7 {
		t.Fatalf("user data %d", ev.UserData)
	}
	c.Send([]byte("world"))
	r.until("server data", 5*time.Second, func() bool { return len(r.data[srv.h]) == 11 })
	srv.Send(bytes.ToUpper(r.data[srv.h]))
	r.until("echo", 5*time.Second, func() bool { return len(r.data[c.h]) == 11 })
	if got := string(r.data[c.h]); got != "HELLO WORLD" {
		t.Fatalf("got %q", got)
	}
	c.Close()
	r.until("CLOSE both", 5*time.Second, func() bool { return r.has(c.h, EvClose) && r.has(srv.h, EvEnd) })
	srv.Close()
	ln.Close()
	r.until("all closed", 5*time.Second, func() bool { return r.has(srv.h, EvClose) && r.has(ln.h, EvClose) })
	for _, h := range []Handle{c.h, srv.h, ln.h} {
		n := 0
		for _, ty := range r.types(h) {
			if ty == EvClose {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d CLOSE events for %d: %v", n, h, r.types(h))
		}
		if _, e := LookupSocket(h); e == nil {
			t.Fatalf("handle %d still live after CLOSE was delivered", h)
		}
	}
}

func TestManyConcurrentChecksummed(t *testing.T) {
	for _, mode := range []string{"host reads", "reader goroutines"} {
		t.Run(mode, func(t *testing.T) { manyConcurrent(t, mode == "reader goroutines") })
	}
}

func manyConcurrent(t *testing.T, goroutines bool) {
	r := newRecorder(t)
	if goroutines {
		r.l.SetNotify(func() {}) // notify mode: every socket gets a reader goroutine
	}
	r.echoServer()
	_, port := r.listen(DefaultTCPOptions())
	const conns = 100
	const size = 64 << 10
	payload := make([]byte, size)
	rand.Read(payload)
	want := sha256.Sum256(payload)
	var clients []Handle
	for i := 0; i < conns; i++ {
		c, e := Connect(r.l, "127.0.0.1", port, DefaultTCPOptions(), 0)
		if e != nil {
			t.Fatal(e)
		}
		c.Send(payload)
		c.HalfClose()
		clients = append(clients, c.h)
	}
	r.until("every client closed", 60*time.Second, func() bool {
		for _, h := range clients {
			if !r.has(h, EvClose) {
				return false
			}
		}
		return true
	})
	for _, h := range clients {
		if sum := sha256.Sum256(r.data[h]); sum != want {
			t.Fatalf("client %d got %d bytes with a wrong checksum; events %v", h, len(r.data[h]), r.types(h))
		}
		if r.has(h, EvError) {
			t.Fatalf("client %d: %s", h, r.summary())
		}
	}
}

func TestHalfCloseBothDirections(t *testing.T) {
	r := newRecorder(t)
	ln, port := r.listen(DefaultTCPOptions())
	c, _ := Connect(r.l, "127.0.0.1", port, DefaultTCPOptions(), 0)
	srv := r.accepted(ln)
	r.until("OPEN", 5*time.Second, func() bool { return r.has(c.h, EvOpen) })
	c.Send([]byte("request"))
	if e := c.HalfClose(); e != nil {
		t.Fatal(e)
	}
	if c.State() != StateHalfClosed {
		t.Fatalf("state %d", c.State())
	}
	if _, e := c.Send([]byte("x")); e == nil || e.Code != ESTATE {
		t.Fatalf("send after half-close: %v", e)
	}
	r.until("server END", 5*time.Second, func() bool { return r.has(srv.h, EvEnd) })
	if string(r.data[srv.h]) != "request" {
		t.Fatalf("server got %q", r.data[srv.h])
	}
	// The server can still answer after the client's FIN.
	srv.Send([]byte("response"))
	srv.HalfClose()
	r.until("both closed", 5*time.Second, func() bool { return r.has(c.h, EvClose) && r.has(srv.h, EvClose) })
	if string(r.data[c.h]) != "response" {
		t.Fatalf("client got %q", r.data[c.h])
	}
	if !r.has(c.h, EvEnd) || r.has(c.h, EvError) || r.has(srv.h, EvError) {
		t.Fatal(r.summary())
	}
}

func TestAbortIsResetForPeer(t *testing.T) {
	r := newRecorder(t)
	ln, port := r.listen(DefaultTCPOptions())
	c, _ := Connect(r.l, "127.0.0.1", port, DefaultTCPOptions(), 0)
	srv := r.accepted(ln)
	r.until("OPEN", 5*time.Second, func() bool { return r.has(c.h, EvOpen) })
	c.Send(make([]byte, 1000))
	r.until("data", 5*time.Second, func() bool { return len(r.data[srv.h]) == 1000 })
	c.Abort()
	r.until("server error", 5*time.Second, func() bool { return r.has(srv.h, EvClose) })
	ev := r.first(srv.h, EvError)
	if ev == nil || ev.Code != ECONNRESET {
		t.Fatalf("server saw %s", r.summary())
	}
	if r.has(c.h, EvError) || !r.has(c.h, EvClose) {
		t.Fatalf("abort: %s", r.summary())
	}
}

func TestConnectionRefused(t *testing.T) {
	r := newRecorder(t)
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	c, _ := Connect(r.l, "127.0.0.1", port, DefaultTCPOptions(), 0)
	r.until("CLOSE", 5*time.Second, func() bool { return r.has(c.h, EvClose) })
	if ev := r.first(c.h, EvError); ev == nil || ev.Code != ECONNREFUSED || r.has(c.h, EvOpen) {
		t.Fatalf("refused: %s", r.summary())
	}
}

func TestConnectTimeout(t *testing.T) {
	r := newRecorder(t)
	// A socket that listens with backlog 0 and never accepts: once its queue
	// is full the kernel drops further SYNs, so a connect cannot complete.
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	unix.Listen(fd, 0)
	sa, _ := unix.Getsockname(fd)
	port := sa.(*unix.SockaddrInet4).Port
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for i := 0; i < 4; i++ {
		if c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 100*time.Millisecond); err == nil {
			held = append(held, c)
		}
	}
	o := DefaultTCPOptions()
	o.ConnectTimeout = 300 * time.Millisecond
	c, _ := Connect(r.l, "127.0.0.1", port, o, 0)
	r.until("CLOSE", 10*time.Second, func() bool { return r.has(c.h, EvClose) })
	if ev := r.first(c.h, EvError); ev == nil || ev.Code != ETIMEDOUT || r.has(c.h, EvOpen) {
		t.Fatalf("timeout: %s", r.summary())
	}
}

func TestUnixSocket(t *testing.T) {
	r := newRecorder(t)
	r.echoServer()
	path := filepath.Join(t.TempDir(), "s.sock")
	o := DefaultTCPOptions()
	o.LocalAddress = "unix:" + path
	ln, e := Listen(r.l, o, 0)
	if e != nil {
		t.Fatal(e)
	}
	if ln.Info().Family != 1 {
		t.Fatalf("family %d", ln.Info().Family)
	}
	c, e := Connect(r.l, "unix:"+path, 0, DefaultTCPOptions(), 0)
	if e != nil {
		t.Fatal(e)
	}
	c.Send([]byte("over a unix socket"))
	c.HalfClose()
	r.until("CLOSE", 5*time.Second, func() bool { return r.has(c.h, EvClose) })
	if string(r.data[c.h]) != "over a unix socket" {
		t.Fatalf("got %q: %s", r.data[c.h], r.summary())
	}
	// Options that do not apply to AF_UNIX are refused, not faked.
	if _, e := ln.GetOption(OptNoDelay); e == nil {
		t.Fatal("no-delay on a unix listener")
	}
}

func TestSendFile(t *testing.T) {
	r := newRecorder(t)
	r.echoServer()
	_, port := r.listen(DefaultTCPOptions())
	content := make([]byte, 3<<20)
	rand.Read(content)
	path := filepath.Join(t.TempDir(), "f")
	os.WriteFile(path, content, 0o600)
	c, _ := Connect(r.l, "127.0.0.1", port, DefaultTCPOptions(), 0)
	c.Send([]byte("head"))
	if _, e := c.SendFile(path, 100, 1<<20); e != nil {
		t.Fatal(e)
	}
	if _, e := c.SendFile(path, 0, -1); e != nil {
		t.Fatal(e)
	}
	if _, e := c.SendFile(filepath.Join(t.TempDir(), "missing"), 0, -1); e == nil || e.Code != ENOENT {
		t.Fatalf("missing file: %v", e)
	}
	if _, e := c.SendFile(path, 0, int64(len(content))+1); e == nil || e.Code != EINVAL {
		t.Fatalf("range past the end: %v", e)
	}
	c.HalfClose()
	r.until("CLOSE", 20*time.Second, func() bool { return r.has(c.h, EvClose) })
	want := append(append([]byte("head"), content[100:100+(1<<20)]...), content...)
	if !bytes.Equal(r.data[c.h], want) {
		t.Fatalf("got %d bytes, want %d", len(r.data[c.h]), len(want))
	}
}

var _ = io.EOF

// IPv6 literals work, and a name whose first address refuses falls back to
// the next: "localhost" resolves to ::1 and 127.0.0.1 (where /etc/hosts
// has both), and only the IPv4 listener exists.
func TestIPv6AndFallback(t *testing.T) {
	r := newRecorder(t)
	r.echoServer()
	o := DefaultTCPOptions()
	o.LocalAddress = "::1"
	ln6, e := Listen(r.l, o, 0)
	if e != nil {
		t.Fatal(e)
	}
	c6, _ := Connect(r.l, "::1", ln6.Info().LocalPort, DefaultTCPOptions(), 0)
	c6.Send([]byte("six"))
	c6.HalfClose()
	r.until("v6 echo", 5*time.Second, func() bool { return r.has(c6.h, EvClose) })
	if string(r.data[c6.h]) != "six" || r.first(c6.h, EvOpen) == nil {
		t.Fatalf("v6: %q %s", r.data[c6.h], r.summary())
	}
	if in := ln6.Info(); in.Family != 6 || in.LocalAddress != "::1" {
		t.Fatalf("listener info %+v", in)
	}
	_, port4 := r.listen(DefaultTCPOptions()) // 127.0.0.1 only
	c, _ := Connect(r.l, "localhost", port4, DefaultTCPOptions(), 0)
	c.Send([]byte("by name"))
	c.HalfClose()
	r.until("echo by name", 10*time.Second, func() bool { return r.has(c.h, EvClose) })
	if string(r.data[c.h]) != "by name" || r.has(c.h, EvError) {
		t.Fatalf("by name: %q %s", r.data[c.h], r.summary())
	}
	bad, _ := Connect(r.l, "no-such-host.invalid", 80, DefaultTCPOptions(), 0)
	r.until("resolution failure", 20*time.Second, func() bool { return r.has(bad.h, EvClose) })
	if ev := r.first(bad.h, EvError); ev == nil || ev.Code != ENOTFOUND {
		t.Fatalf("unknown host: %s", r.summary())
	}
}

// A notify function that blocks until the polling thread has run it (as a
// koffi callback does) must not deadlock against that thread's Poll.
func TestNotifyThatWaitsForThePoller(t *testing.T) {
	r := newRecorder(t)
	run := make(chan chan struct{})
	r.l.SetNotify(func() {
		done := make(chan struct{})
		select {
		case run <- done:
			<-done
		case <-time.After(5 * time.Second):
		}
	})
	r.echoServer()
	_, port := r.listen(DefaultTCPOptions())
	c, _ := Connect(r.l, "127.0.0.1", port, DefaultTCPOptions(), 0)
	c.Send([]byte("hello"))
	c.HalfClose()
	deadline := time.Now().Add(20 * time.Second)
	for !r.has(c.h, EvClose) {
		if time.Now().After(deadline) {
			t.Fatalf("deadlock: %s", r.summary())
		}
		select {
		case done := <-run: // the "JS thread" runs the callback, then drains
			close(done)
			r.pump(0)
		case <-time.After(10 * time.Millisecond):
			r.pump(0)
		}
	}
	if string(r.data[c.h]) != "hello" {
		t.Fatalf("got %q", r.data[c.h])
	}
}

// Closing during a STARTTLS handshake with nothing owed to the peer closes
// at once instead of waiting out the handshake timeout.
func TestCloseDuringSTARTTLSWithNothingPending(t *testing.T) {
	p := getPKI(t)
	r := newRecorder(t)
	ln, port := r.listen(DefaultTCPOptions())
	peer, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close() // a peer that never speaks TLS
	srv := r.accepted(ln)
	if e := srv.StartTLS(p.serverTLS(), nil); e != nil {
		t.Fatal(e)
	}
	srv.Close()
	// Well inside the 30 s handshake timeout.
	r.until("CLOSE", 5*time.Second, func() bool { return r.has(srv.h, EvClose) })
}
