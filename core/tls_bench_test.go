package core

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"os"
	"strconv"
	"testing"
	"time"
)

// BenchmarkTLSBulk compares TLS bulk throughput on loopback of the core
// against plain Go crypto/tls in the same run, in both directions, with the
// same certificates, the same negotiated suite and the same peer:
//
//	send: core client (Send, DRAIN flow control)  vs tls.Conn.Write, into a crypto/tls sink
//	recv: core TLS listener (DATA events, Poll)   vs tls.Conn.Read, from a crypto/tls sender
//
// Run: go test -run '^$' -bench TLSBulk -benchtime 5x ./core/
// It reports MB/s of each and core/go as a ratio (1.0 = as fast as Go).
// W3S_BENCH_HWM=bytes sets the core client's send high-water mark (default
// 1 MiB) to see how much the DRAIN round trip costs.
func BenchmarkTLSBulk(b *testing.B) {
	const size = 32 << 20
	const chunk = 256 << 10
	p := getPKI(b)
	cert, err := tls.X509KeyPair([]byte(p.ServerCert), []byte(p.ServerKey))
	if err != nil {
		b.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM([]byte(p.CAPEM))
	srvCfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	cliCfg := &tls.Config{RootCAs: roots, ServerName: "localhost"}
	payload := make([]byte, chunk)
	for i := range payload {
		payload[i] = byte(i * 7)
	}

	// A crypto/tls sink that reads size bytes per round and reports.
	sink := func() (int, chan error) {
		ln, err := tls.Listen("tcp", "127.0.0.1:0", srvCfg)
		if err != nil {
			b.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			defer ln.Close()
			c, err := ln.Accept()
			if err != nil {
				done <- err
				return
			}
			defer c.Close()
			for {
				if _, err := io.CopyN(io.Discard, c, size); err != nil {
					done <- err
					return
				}
				done <- nil
			}
		}()
		return ln.Addr().(*net.TCPAddr).Port, done
	}
	wait := func(done chan error) {
		select {
		case err := <-done:
			if err != nil {
				b.Fatal(err)
			}
		case <-time.After(60 * time.Second):
			b.Fatal("sink timed out")
		}
	}

	l, err := NewLoop()
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	evs := make([]Event, 256)
	// pollUntil drains events until cond holds (bounded by a deadline).
	pollUntil := func(what string, cond func(ev *Event) bool) {
		deadline := time.Now().Add(60 * time.Second)
		for {
			n, e := l.Poll(evs, 100*time.Millisecond)
			if e != nil {
				b.Fatal(e)
			}
			hit := false
			for i := 0; i < n; i++ {
				if evs[i].Type == EvError {
					b.Fatalf("%s: %s %s", what, evs[i].Code.Name(), evs[i].Data)
				}
				if cond(&evs[i]) {
					hit = true
				}
			}
			Release(evs[:n])
			if hit {
				return
			}
			if time.Now().After(deadline) {
				b.Fatalf("timed out: %s", what)
			}
		}
	}

	// --- send direction -------------------------------------------------
	corePort, coreDone := sink()
	co := DefaultTCPOptions()
	co.UseSecureTransport = true
	co.TLS = p.clientTLS()
	if v := os.Getenv("W3S_BENCH_HWM"); v != "" {
		co.HighWaterSend, _ = strconv.ParseInt(v, 10, 64)
	}
	cs, e := Connect(l, "localhost", corePort, co, 0)
	if e != nil {
		b.Fatal(e)
	}
	pollUntil("core client SECURE", func(ev *Event) bool { return ev.Type == EvSecure })
	goPort, goDone := sink()
	gc, err := tls.Dial("tcp", "127.0.0.1:"+strconv.Itoa(goPort), cliCfg)
	if err != nil {
		b.Fatal(err)
	}
	defer gc.Close()

	// --- receive direction ----------------------------------------------
	lo := DefaultTCPOptions()
	lo.LocalAddress = "127.0.0.1"
	lo.UseSecureTransport = true
	lo.TLS = p.serverTLS()
	ln, e := Listen(l, lo, 0)
	if e != nil {
		b.Fatal(e)
	}
	sender, err := tls.Dial("tcp", "127.0.0.1:"+strconv.Itoa(ln.Info().LocalPort), cliCfg)
	if err != nil {
		b.Fatal(err)
	}
	defer sender.Close()
	pollUntil("core accepted SECURE", func(ev *Event) bool { return ev.Type == EvSecure })
	goLn, err := tls.Listen("tcp", "127.0.0.1:0", srvCfg)
	if err != nil {
		b.Fatal(err)
	}
	defer goLn.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := goLn.Accept()
		if err == nil {
			err = c.(*tls.Conn).Handshake()
		}
		if err != nil {
			b.Error(err)
		}
		accepted <- c
	}()
	goSender, err := tls.Dial("tcp", goLn.Addr().String(), cliCfg)
	if err != nil {
		b.Fatal(err)
	}
	defer goSender.Close()
	goRecv := <-accepted
	if goRecv == nil {
		b.Fatal("no Go receiver")
	}
	defer goRecv.Close()
	writeAll := func(c net.Conn) chan error {
		done := make(chan error, 1)
		go func() {
			for sent := 0; sent < size; sent += chunk {
				if _, err := c.Write(payload); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		return done
	}

	var coreSend, goSend, coreRecv, goRecvT time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// core send
		t0 := time.Now()
		for sent := 0; sent < size; sent += chunk {
			buffered, e := cs.Send(payload)
			if e != nil {
				b.Fatal(e)
			}
			if buffered >= cs.hwmSend {
				pollUntil("DRAIN", func(ev *Event) bool { return ev.Type == EvDrain })
			}
		}
		wait(coreDone)
		coreSend += time.Since(t0)

		// Go send
		t0 = time.Now()
		for sent := 0; sent < size; sent += chunk {
			if _, err := gc.Write(payload); err != nil {
				b.Fatal(err)
			}
		}
		wait(goDone)
		goSend += time.Since(t0)

		// core receive
		t0 = time.Now()
		w := writeAll(sender)
		got := 0
		pollUntil("core DATA", func(ev *Event) bool {
			if ev.Type == EvData {
				got += len(ev.Data)
			}
			return got >= size
		})
		coreRecv += time.Since(t0)
		wait(w)

		// Go receive
		t0 = time.Now()
		w = writeAll(goSender)
		if _, err := io.CopyN(io.Discard, goRecv, size); err != nil {
			b.Fatal(err)
		}
		goRecvT += time.Since(t0)
		wait(w)
	}
	b.StopTimer()
	mbps := func(d time.Duration) float64 { return float64(size) * float64(b.N) / d.Seconds() / 1e6 }
	b.ReportMetric(mbps(coreSend), "core-send-MB/s")
	b.ReportMetric(mbps(goSend), "go-send-MB/s")
	b.ReportMetric(goSend.Seconds()/coreSend.Seconds(), "send-ratio")
	b.ReportMetric(mbps(coreRecv), "core-recv-MB/s")
	b.ReportMetric(mbps(goRecvT), "go-recv-MB/s")
	b.ReportMetric(goRecvT.Seconds()/coreRecv.Seconds(), "recv-ratio")
	cs.Abort()
	ln.Close()
}
