// Command loadgen drives every benchmark server the same way: one load
// generator, plain Go (not the library), so the servers are compared on
// equal terms. It speaks to the runner (tests/bench/run.py) on stdout:
//
//	start                       the measured window begins (connections are
//	                            up and warmed; the runner reads the server's
//	                            CPU time now)
//	result ops=N secs=S         the window ended after S seconds with N units
//	                            of work (round trips, datagrams, connections,
//	                            or bytes for bulk); the runner reads CPU again
//	held N                      (hold mode) N connections are open and idle;
//	                            the runner measures the server's memory and
//	                            closes stdin to end the run
//
// Modes (-mode): pingpong (64 B message, wait for its echo, repeat, on each
// of -conns connections), bulk (write -size chunks as fast as the server
// echoes them), udp (-window datagrams in flight per socket), accept
// (connect, one message, its echo, close, by -conns workers), hold (open
// -conns connections, one message each, then idle).
package main

import (
	"bufio"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

type config struct {
	mode    string
	addr    string
	useTLS  bool
	conns   int
	size    int
	window  int
	warmup  time.Duration
	dur     time.Duration
	timeout time.Duration
}

// ops counts units of work done by every worker; the runner sees the
// difference between the window's two ends.
var ops atomic.Int64

func main() {
	var c config
	flag.StringVar(&c.mode, "mode", "pingpong", "pingpong | bulk | udp | accept | hold")
	flag.StringVar(&c.addr, "addr", "127.0.0.1:7", "server address")
	flag.BoolVar(&c.useTLS, "tls", false, "TLS from the first byte")
	flag.IntVar(&c.conns, "conns", 1, "connections, sockets or workers")
	flag.IntVar(&c.size, "size", 64, "bytes per message or write")
	flag.IntVar(&c.window, "window", 8, "udp: datagrams in flight per socket")
	flag.DurationVar(&c.warmup, "warmup", 300*time.Millisecond, "traffic before the measured window")
	flag.DurationVar(&c.dur, "dur", 2*time.Second, "measured window")
	flag.DurationVar(&c.timeout, "timeout", 60*time.Second, "give up after this long in total")
	flag.Parse()
	// Nothing here may run forever: a server that stops answering ends the
	// run with an error instead of a hang.
	time.AfterFunc(c.timeout, func() { fail(fmt.Errorf("no result after %v", c.timeout)) })
	switch c.mode {
	case "pingpong":
		window(c, dialAll(c, pingpong))
	case "bulk":
		window(c, dialAll(c, bulk))
	case "udp":
		window(c, udpAll(c))
	case "accept":
		for i := 0; i < c.conns; i++ {
			go acceptLoop(c)
		}
		window(c, nil)
	case "hold":
		hold(c)
	default:
		fail(fmt.Errorf("unknown mode %q", c.mode))
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "loadgen:", err)
	os.Exit(1)
}

// window lets traffic warm up, then reports the work done in -dur. The
// workers are not stopped: the process exits, and the servers see their
// peers go away.
func window(c config, started func()) {
	if started != nil {
		started()
	}
	time.Sleep(c.warmup)
	n0, t0 := ops.Load(), time.Now()
	fmt.Println("start")
	time.Sleep(c.dur)
	n1, t1 := ops.Load(), time.Now()
	fmt.Printf("result ops=%d secs=%.4f\n", n1-n0, t1.Sub(t0).Seconds())
	os.Exit(0)
}

func dial(c config) (net.Conn, error) {
	conn, err := net.DialTimeout("tcp", c.addr, 10*time.Second)
	if err != nil || !c.useTLS {
		return conn, err
	}
	tc := tls.Client(conn, &tls.Config{
		InsecureSkipVerify: true, // a bench certificate, self-signed
		// X25519 alone: Go would offer its post-quantum hybrid first, which
		// Go servers take and OpenSSL 3.0 servers cannot, making handshakes
		// of different cost.
		CurvePreferences: []tls.CurveID{tls.X25519},
	})
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := tc.Handshake(); err != nil {
		conn.Close()
		return nil, err
	}
	// Every server must do the same work per byte: the OpenSSL-based ones
	// are told to follow the client's cipher order, as Go's servers do.
	if cs := tc.ConnectionState().CipherSuite; cs != tls.TLS_AES_128_GCM_SHA256 {
		conn.Close()
		return nil, fmt.Errorf("server chose %s, the bench compares TLS_AES_128_GCM_SHA256",
			tls.CipherSuiteName(cs))
	}
	tc.SetDeadline(time.Time{})
	return tc, nil
}

// dialAll opens -conns connections first (so connection setup is outside
// the window) and returns a function that starts a worker on each.
func dialAll(c config, work func(config, net.Conn)) func() {
	conns := make([]net.Conn, c.conns)
	var wg sync.WaitGroup
	errs := make(chan error, c.conns)
	for i := range conns {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			conn, err := dial(c)
			if err != nil {
				errs <- err
				return
			}
			conns[i] = conn
		}(i)
	}
	wg.Wait()
	select {
	case err := <-errs:
		fail(err)
	default:
	}
	return func() {
		for _, conn := range conns {
			go work(c, conn)
		}
	}
}

func pingpong(c config, conn net.Conn) {
	msg := make([]byte, c.size)
	for {
		if _, err := conn.Write(msg); err != nil {
			fail(err)
		}
		if _, err := io.ReadFull(conn, msg); err != nil {
			fail(err)
		}
		ops.Add(1)
	}
}

// bulk writes and reads at once; a unit is one byte echoed back.
func bulk(c config, conn net.Conn) {
	go func() {
		chunk := make([]byte, c.size)
		for {
			if _, err := conn.Write(chunk); err != nil {
				fail(err)
			}
		}
	}()
	buf := make([]byte, 256<<10)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			fail(err)
		}
		ops.Add(int64(n))
	}
}

func udpAll(c config) func() {
	socks := make([]*net.UDPConn, c.conns)
	raddr, err := net.ResolveUDPAddr("udp", c.addr)
	if err != nil {
		fail(err)
	}
	for i := range socks {
		if socks[i], err = net.DialUDP("udp", nil, raddr); err != nil {
			fail(err)
		}
	}
	return func() {
		for _, s := range socks {
			go udpWorker(c, s)
		}
	}
}

// udpWorker keeps -window datagrams in flight; a datagram lost on the way
// (a full socket buffer) is replaced after a quiet 50 ms. A unit is one
// datagram echoed back.
func udpWorker(c config, s *net.UDPConn) {
	msg := make([]byte, c.size)
	buf := make([]byte, 65536)
	send := func(n int) {
		for i := 0; i < n; i++ {
			if _, err := s.Write(msg); err != nil && !errors.Is(err, net.ErrClosed) {
				// ECONNREFUSED from an ICMP error: the server is not there (yet)
				time.Sleep(10 * time.Millisecond)
			}
		}
	}
	send(c.window)
	for {
		s.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if _, err := s.Read(buf); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				send(c.window)
			}
			continue
		}
		ops.Add(1)
		send(1)
	}
}

func acceptLoop(c config) {
	msg := make([]byte, c.size)
	for {
		conn, err := dial(c)
		if err != nil {
			fail(err)
		}
		if _, err := conn.Write(msg); err != nil {
			fail(err)
		}
		if _, err := io.ReadFull(conn, msg); err != nil {
			fail(err)
		}
		conn.Close()
		ops.Add(1)
	}
}

// hold opens -conns connections, 100 at a time, makes each carry one
// message and its echo, and keeps them idle until stdin closes.
func hold(c config) {
	conns := make([]net.Conn, c.conns)
	sem := make(chan struct{}, 100)
	var wg sync.WaitGroup
	msg := make([]byte, c.size)
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			conn, err := dial(c)
			if err != nil {
				fail(fmt.Errorf("connection %d: %w", i, err))
			}
			buf := make([]byte, len(msg))
			if _, err := conn.Write(msg); err != nil {
				fail(err)
			}
			if _, err := io.ReadFull(conn, buf); err != nil {
				fail(err)
			}
			conns[i] = conn
		}(i)
	}
	wg.Wait()
	fmt.Printf("held %d\n", len(conns))
	bufio.NewReader(os.Stdin).ReadString('\n')
	for _, conn := range conns {
		conn.Close()
	}
}
