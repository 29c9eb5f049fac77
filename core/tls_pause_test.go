package core

import (
	"bufio"
	"crypto/tls"
	"net"
	"testing"
	"time"
)

// gatedTLSServer accepts one connection, optionally reads a plaintext
// line first (STARTTLS), then waits until the first bytes of the
// ClientHello have arrived, reports that on hello, and runs the TLS server
// side only when gate is closed: the client is in the middle of its
// handshake in between. After the handshake it echoes one line.
func gatedTLSServer(t *testing.T, p *testPKI, starttls bool) (port int, hello, gate chan struct{}) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	hello, gate = make(chan struct{}), make(chan struct{})
	cert, _ := tls.X509KeyPair([]byte(p.ServerCert), []byte(p.ServerKey))
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(tlsWait))
		br := bufio.NewReader(c)
		if starttls {
			if l, _ := br.ReadString('\n'); l != "STARTTLS\r\n" {
				return
			}
			c.Write([]byte("220 go ahead\r\n"))
		}
		br.Peek(1) // the ClientHello has begun to arrive
		close(hello)
		<-gate
		tc := tls.Server(&prefixConn{Conn: c, prefix: drain(br)}, &tls.Config{Certificates: []tls.Certificate{cert}})
		if tc.Handshake() != nil {
			return
		}
		l, err := bufio.NewReader(tc).ReadString('\n')
		if err == nil {
			tc.Write([]byte(l))
		}
		tc.Close()
	}()
	return ln.Addr().(*net.TCPAddr).Port, hello, gate
}

func waitChan(t *testing.T, r *recorder, ch chan struct{}, what string) {
	r.until(what, tlsWait, func() bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	})
}

// Pausing (flow control from a binding) or closing while a TLS handshake
// is under way must not break the handshake: pause is about delivering
// data, and the handshake delivers none; a graceful close sends what was
// queued, which needs the handshake.
func TestTLSPauseDuringConnectHandshake(t *testing.T) {
	p := getPKI(t)
	r := newRecorder(t)
	port, hello, gate := gatedTLSServer(t, p, false)
	c := r.tlsConnect("localhost", port, p.clientTLS())
	c.Send([]byte("echo me\n"))
	waitChan(t, r, hello, "ClientHello")
	c.Pause()
	close(gate)
	r.until("SECURE or CLOSE", tlsWait, func() bool { return r.has(c.h, EvSecure) || r.has(c.h, EvClose) })
	if r.has(c.h, EvError) {
		t.Fatalf("pause during the TLS connect handshake: %s", r.summary())
	}
	c.Resume()
	r.until("echo", tlsWait, func() bool { return string(r.data[c.h]) == "echo me\n" || r.has(c.h, EvClose) })
	if string(r.data[c.h]) != "echo me\n" {
		t.Fatalf("after resume: %q %s", r.data[c.h], r.summary())
	}
}

func TestSTARTTLSPauseDuringHandshake(t *testing.T) {
	for _, closeToo := range []bool{false, true} {
		p := getPKI(t)
		r := newRecorder(t)
		port, hello, gate := gatedTLSServer(t, p, true)
		c, e := Connect(r.l, "localhost", port, DefaultTCPOptions(), 0)
		if e != nil {
			t.Fatal(e)
		}
		c.Send([]byte("STARTTLS\r\n"))
		r.until("220", tlsWait, func() bool { return string(r.data[c.h]) == "220 go ahead\r\n" })
		if e := c.StartTLS(p.clientTLS(), nil); e != nil {
			t.Fatal(e)
		}
		c.Send([]byte("echo me\n"))
		waitChan(t, r, hello, "ClientHello")
		c.Pause()
		if closeToo {
			c.Close()
		}
		close(gate)
		r.until("SECURE or CLOSE", tlsWait, func() bool { return r.has(c.h, EvSecure) || r.has(c.h, EvClose) })
		if r.has(c.h, EvError) || !r.has(c.h, EvSecure) {
			t.Fatalf("pause (and close: %v) during the STARTTLS handshake: %s", closeToo, r.summary())
		}
		c.Resume()
		if closeToo {
			r.until("CLOSE", tlsWait, func() bool { return r.has(c.h, EvClose) })
			if r.has(c.h, EvError) {
				t.Fatal(r.summary())
			}
			continue
		}
		r.until("echo", tlsWait, func() bool { return string(r.data[c.h]) == "220 go ahead\r\necho me\n" || r.has(c.h, EvClose) })
		if string(r.data[c.h]) != "220 go ahead\r\necho me\n" {
			t.Fatalf("after resume: %q %s", r.data[c.h], r.summary())
		}
	}
}
