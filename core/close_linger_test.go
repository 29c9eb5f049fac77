package core

import (
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// TestCloseWhilePeerSendsLosesNothing: a socket closed while its peer is
// still sending must not make the kernel reset the connection before the
// peer has what we sent. (Closing with unread input sends a reset, which
// discards our unacknowledged output; found by FuzzStreamModel.)
func TestCloseWhilePeerSendsLosesNothing(t *testing.T) {
	readModes(t, func(t *testing.T, notify bool) {
		r := newModeRecorder(t, notify)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		c, e := Connect(r.l, "127.0.0.1", ln.Addr().(*net.TCPAddr).Port, DefaultTCPOptions(), 0)
		if e != nil {
			t.Fatal(e)
		}
		peer, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer peer.Close()
		r.until("OPEN", 10*time.Second, func() bool { return r.has(c.h, EvOpen) })

		// The peer talks all the time and reads slowly.
		var stop atomic.Bool
		go func() {
			chunk := make([]byte, 4096)
			for !stop.Load() {
				if _, err := peer.Write(chunk); err != nil {
					return
				}
				time.Sleep(100 * time.Microsecond)
			}
		}()
		const total = 8 << 20
		c.Send(patBytes(0, total))
		c.Close()
		type result struct {
			n   int64
			err error
			bad bool
		}
		done := make(chan result, 1)
		go func() {
			var res result
			b := make([]byte, 16<<10)
			for {
				n, err := peer.Read(b)
				for i := 0; i < n; i++ {
					if b[i] != pat(res.n+int64(i)) {
						res.bad = true
					}
				}
				res.n += int64(n)
				if err != nil {
					res.err = err
					done <- res
					return
				}
				time.Sleep(50 * time.Microsecond)
			}
		}()
		var res result
		deadline := time.After(30 * time.Second)
	wait:
		for {
			select {
			case res = <-done:
				break wait
			case <-deadline:
				t.Fatal("the peer never saw the end")
			default:
				r.pump(5 * time.Millisecond)
			}
		}
		stop.Store(true)
		r.until("CLOSE", 10*time.Second, func() bool { return r.has(c.h, EvClose) })
		if res.err != io.EOF || res.n != total || res.bad || r.has(c.h, EvError) {
			t.Fatalf("peer read %d of %d bytes (corrupt %v), then %v; socket events %v", res.n, total, res.bad, res.err, r.types(c.h))
		}
	})
}
