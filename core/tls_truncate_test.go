package core

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"io"
	"net"
	"testing"
)

// How a TLS stream ends, as the reading side must report it (defect 5 of
// the reliability issue): a transport cut inside a record is an ERROR with
// ETLSTruncated; an end at a record boundary is END, carrying ETLSNoNotify
// when no close_notify came and OK when it did.

// cutAt says where recordCutProxy stops forwarding the server's bytes.
type cutAt int

const (
	cutMidRecord cutAt = iota // half of a record, then close
	cutBoundary               // whole records only, then close (no close_notify)
	cutNever                  // forward everything, close_notify included
)

// recordCutProxy accepts one connection, dials target and forwards both
// ways. Server-to-client it forwards whole TLS records until at least
// after bytes went through, then cuts as mode says: with cutMidRecord it
// forwards half of the next record and closes both connections.
func recordCutProxy(t *testing.T, target string, after int, mode cutAt) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		ln.Close()
		if err != nil {
			return
		}
		defer c.Close()
		s, err := net.Dial("tcp", target)
		if err != nil {
			return
		}
		defer s.Close()
		go io.Copy(s, c)
		sent := 0
		hdr := make([]byte, 5)
		for {
			if _, err := io.ReadFull(s, hdr); err != nil {
				if mode == cutNever {
					c.(*net.TCPConn).CloseWrite()
					io.Copy(io.Discard, c)
				}
				return
			}
			body := make([]byte, int(hdr[3])<<8|int(hdr[4]))
			if _, err := io.ReadFull(s, body); err != nil {
				return
			}
			rec := append(hdr[:5:5], body...)
			if mode != cutNever && sent >= after {
				if mode == cutMidRecord {
					c.Write(rec[:len(rec)/2])
				}
				return // both connections close: FIN, no close_notify
			}
			if _, err := c.Write(rec); err != nil {
				return
			}
			sent += len(rec)
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// tlsSender serves one TLS connection: it writes payload, then sends
// close_notify (tls.Conn.Close) and waits for the peer to go.
func tlsSender(t *testing.T, p *testPKI, payload []byte) string {
	t.Helper()
	cert, err := tls.X509KeyPair([]byte(p.ServerCert), []byte(p.ServerKey))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		ln.Close()
		if err != nil {
			return
		}
		defer c.Close()
		if _, err := c.Write(payload); err != nil {
			return
		}
		c.(*tls.Conn).CloseWrite() // close_notify
		io.Copy(io.Discard, c)
	}()
	return ln.Addr().String()
}

func TestTLSCutMidRecordIsAnError(t *testing.T) {
	readModes(t, func(t *testing.T, notify bool) { runTLSCut(t, notify, cutMidRecord) })
}

func TestTLSEndWithoutCloseNotifyIsFlagged(t *testing.T) {
	readModes(t, func(t *testing.T, notify bool) { runTLSCut(t, notify, cutBoundary) })
}

func TestTLSEndWithCloseNotifyIsClean(t *testing.T) {
	readModes(t, func(t *testing.T, notify bool) { runTLSCut(t, notify, cutNever) })
}

func runTLSCut(t *testing.T, notify bool, mode cutAt) {
	p := getPKI(t)
	payload := make([]byte, 1<<20)
	rand.Read(payload)
	target := tlsSender(t, p, payload)
	port := recordCutProxy(t, target, 100<<10, mode)
	r := newModeRecorder(t, notify)
	c := r.tlsConnect("localhost", port, p.clientTLS())
	r.on = func(ev Event) {
		if ev.Type == EvEnd {
			c.Close()
		}
	}
	code := r.closedWith(c.h)
	got := r.data[c.h]
	if !bytes.HasPrefix(payload, got) {
		t.Fatalf("received %d bytes that are not a prefix of what was sent", len(got))
	}
	end := r.first(c.h, EvEnd)
	switch mode {
	case cutMidRecord:
		if code != ETLSTruncated || end != nil {
			t.Fatalf("cut mid-record after %d of %d bytes: events %v, error %s (%s); want ERROR %s and no END",
				len(got), len(payload), r.types(c.h), code.Name(), r.errMsg(c.h), ETLSTruncated.Name())
		}
		if len(got) == len(payload) {
			t.Fatalf("the cut came after the whole payload; the test proves nothing")
		}
	case cutBoundary:
		if code != OK || end == nil || end.Code != ETLSNoNotify {
			t.Fatalf("end at a record boundary without close_notify: events %v, END %+v, error %s; want END carrying %s",
				r.types(c.h), end, code.Name(), ETLSNoNotify.Name())
		}
		if len(got) == len(payload) {
			t.Fatalf("the cut came after the whole payload; the test proves nothing")
		}
	case cutNever:
		if code != OK || end == nil || end.Code != OK || len(got) != len(payload) {
			t.Fatalf("end with close_notify: events %v, END %+v, error %s, %d of %d bytes; want END with code 0 after every byte",
				r.types(c.h), end, code.Name(), len(got), len(payload))
		}
	}
	t.Logf("%s: %d of %d bytes, then %v", [...]string{"mid-record", "boundary", "close_notify"}[mode],
		len(got), len(payload), r.types(c.h)[len(r.types(c.h))-2:])
}
