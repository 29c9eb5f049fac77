package core

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// FuzzStreamModel drives one TCP (or TLS) connection through the core API
// with an interleaving of send, pause, resume, half-close, close and abort
// decided by the input, against a peer (a plain Go socket) whose writes,
// reads, half-close and reset are decided by the input too. Whatever the
// interleaving, over real loopback sockets:
//   - each side receives a prefix of what the other sent, in order, once;
//   - a side that saw a clean end (END; the peer's EOF without error) got
//     all of it, unless its own side aborted;
//   - the socket emits exactly one CLOSE, last, with at most one ERROR just
//     before it, and nothing after END but ERROR/CLOSE;
//   - it all ends within a bound (a hang fails the input).
//
// Input: byte 0 picks TLS (bit 0) and notify mode (bit 1); then each byte
// is one operation (low 4 bits) with an argument (high 4 bits).
func FuzzStreamModel(f *testing.F) {
	f.Add([]byte{0, 0x10, 0x71, 0x02, 0x03, 0x0c})
	f.Add([]byte{1, 0xf0, 0xf0, 0x04, 0xf1, 0x0b, 0x05, 0x0d})
	f.Add([]byte{2, 0xf0, 0x02, 0xf1, 0xf1, 0x09, 0x03, 0x06})
	f.Add([]byte{3, 0x80, 0x07, 0x81, 0x0a, 0x0c, 0x0c})
	f.Add([]byte{0, 0xf0, 0xf0, 0xf0, 0x08})
	f.Add([]byte{1, 0x21, 0x0e, 0x41, 0x09, 0x31})
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 || len(in) > 64 {
			return
		}
		m := newStreamModel(t, in[0]&1 != 0, in[0]&2 != 0)
		for _, op := range in[1:] {
			m.step(op)
		}
		m.finish()
		m.check()
	})
}

// pat is the byte at offset i of either direction's stream.
func pat(i int64) byte { return byte(i*131 + i>>11) }

func patBytes(off int64, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = pat(off + int64(i))
	}
	return b
}

// chunkSize maps an argument nibble to a send size: 1 byte .. 128 KiB.
func chunkSize(arg byte) int {
	if arg == 0 {
		return 1
	}
	return int(arg) * 8 << 10
}

type streamModel struct {
	t   *testing.T
	r   *recorder
	c   *Socket
	tls bool

	cSent           int64 // bytes Send accepted
	closed, aborted bool
	halfClosed      bool
	paused          bool
	peer            *modelPeer
	peerHalfClosed  bool
	peerReset       bool
	sendRefused     *Error // a Send we did not expect to fail
}

// modelPeer is the other end: a reader goroutine that can be held, and a
// writer goroutine that runs the writes, half-close and reset in order.
type modelPeer struct {
	conn net.Conn // *tls.Conn or *net.TCPConn
	raw  *net.TCPConn

	mu      sync.Mutex
	got     []byte
	readEnd error // io.EOF for a clean end
	hold    bool
	cond    *sync.Cond
	readers sync.WaitGroup

	ops     chan func()
	sent    int64 // bytes fully written
	writeOK bool  // every write so far succeeded
	writers sync.WaitGroup
}

func newStreamModel(t *testing.T, useTLS, notify bool) *streamModel {
	r := newModeRecorder(t, notify)
	m := &streamModel{t: t, r: r, tls: useTLS}
	var ln net.Listener
	var err error
	co := DefaultTCPOptions()
	if useTLS {
		p := getPKI(t)
		cert, cerr := tls.X509KeyPair([]byte(p.ServerCert), []byte(p.ServerKey))
		if cerr != nil {
			t.Fatal(cerr)
		}
		ln, err = tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
		co.UseSecureTransport = true
		co.TLS = p.clientTLS()
	} else {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	host := "127.0.0.1"
	if useTLS {
		host = "localhost"
	}
	m.c, _ = Connect(r.l, host, ln.Addr().(*net.TCPAddr).Port, co, 0)
	if m.c == nil {
		t.Fatal("connect failed")
	}
	if tl, ok := ln.(*net.TCPListener); ok {
		tl.SetDeadline(time.Now().Add(10 * time.Second))
	}
	conn, err := ln.Accept()
	if err != nil {
		t.Fatalf("accept: %v", err)
	}
	m.peer = startPeer(conn)
	t.Cleanup(m.peer.stop)
	r.until("OPEN", 10*time.Second, func() bool { return r.has(m.c.h, EvOpen) || r.has(m.c.h, EvClose) })
	return m
}

func startPeer(conn net.Conn) *modelPeer {
	p := &modelPeer{conn: conn, ops: make(chan func(), 256), writeOK: true}
	if tc, ok := conn.(*tls.Conn); ok {
		p.raw = tc.NetConn().(*net.TCPConn)
	} else {
		p.raw = conn.(*net.TCPConn)
	}
	p.cond = sync.NewCond(&p.mu)
	p.readers.Add(1)
	go p.read()
	p.writers.Add(1)
	go func() {
		defer p.writers.Done()
		for op := range p.ops {
			op()
		}
	}()
	return p
}

func (p *modelPeer) read() {
	defer p.readers.Done()
	b := make([]byte, 64<<10)
	for {
		p.mu.Lock()
		for p.hold {
			p.cond.Wait()
		}
		p.mu.Unlock()
		n, err := p.conn.Read(b)
		p.mu.Lock()
		p.got = append(p.got, b[:n]...)
		if err != nil {
			p.readEnd = err
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
	}
}

func (p *modelPeer) setHold(h bool) {
	p.mu.Lock()
	p.hold = h
	p.cond.Broadcast()
	p.mu.Unlock()
}

func (p *modelPeer) write(n int) {
	p.ops <- func() {
		if !p.writeOK {
			return
		}
		k, err := p.conn.Write(patBytes(p.sent, n))
		p.sent += int64(k)
		if err != nil {
			p.writeOK = false
		}
	}
}

func (p *modelPeer) closeWrite() {
	p.ops <- func() {
		if tc, ok := p.conn.(*tls.Conn); ok {
			// CloseWrite before the handshake is done sends nothing; the
			// reader may still be running the server's side of it.
			tc.Handshake()
			tc.CloseWrite() // close_notify
		}
		p.raw.CloseWrite()
	}
}

func (p *modelPeer) reset() {
	p.ops <- func() {
		p.raw.SetLinger(0)
		p.raw.Close()
		p.writeOK = false
	}
}

// drainWrites waits until every queued peer operation ran.
func (p *modelPeer) drainWrites(d time.Duration) bool {
	done := make(chan struct{})
	p.ops <- func() { close(done) }
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

func (p *modelPeer) stop() {
	p.setHold(false)
	p.raw.Close()
	close(p.ops)
	p.writers.Wait()
	p.readers.Wait()
}

func (m *streamModel) alive() bool { return !m.r.has(m.c.h, EvClose) }

func (m *streamModel) step(op byte) {
	arg := op >> 4
	switch op & 15 {
	case 0, 1: // send
		n := chunkSize(arg)
		if _, e := m.c.Send(patBytes(m.cSent, n)); e == nil {
			m.cSent += int64(n)
		} else if !m.closed && !m.halfClosed && !m.aborted {
			// Only a socket that ended by itself refuses: check() wants
			// its ERROR.
			m.sendRefused = e
		}
	case 2:
		m.c.Pause()
		m.paused = true
	case 3:
		m.c.Resume()
		m.paused = false
	case 4:
		if e := m.c.HalfClose(); e == nil {
			m.halfClosed = true
		}
	case 5:
		if arg < 8 { // rarer than the rest: it ends the model
			return
		}
		m.c.Close()
		m.closed = true
	case 6:
		if arg < 12 {
			return
		}
		m.c.Abort()
		m.aborted = true
	case 7, 8: // peer writes
		if !m.peerHalfClosed && !m.peerReset {
			m.peer.write(chunkSize(arg))
		}
	case 9:
		m.peer.setHold(true)
	case 10:
		m.peer.setHold(false)
	case 11:
		if !m.peerReset {
			m.peer.closeWrite()
			m.peerHalfClosed = true
		}
	case 12:
		if arg < 12 {
			return
		}
		m.peer.reset()
		m.peerReset = true
	default: // let events flow
		m.r.pump(time.Duration(arg) * time.Millisecond)
	}
	m.r.pump(0)
}

// finish lets everything run out: both sides read again, the peer ends its
// output, the socket closes after END (gracefully: its queue is flushed).
func (m *streamModel) finish() {
	m.c.Resume()
	m.peer.setHold(false)
	if !m.peerHalfClosed && !m.peerReset {
		m.peer.closeWrite()
	}
	m.r.on = func(ev Event) {
		if ev.Handle == m.c.h && ev.Type == EvEnd {
			m.c.Close()
		}
	}
	if m.r.has(m.c.h, EvEnd) {
		m.c.Close()
	}
	deadline := time.Now().Add(20 * time.Second)
	for m.alive() && time.Now().Before(deadline) {
		m.r.pump(10 * time.Millisecond)
	}
	if m.alive() {
		m.t.Fatalf("socket still open 20 s after the end (a hang); events %s", m.r.summary())
	}
	if !m.peer.drainWrites(20 * time.Second) {
		m.t.Fatalf("the peer's writes never finished: the socket stopped reading without closing")
	}
	// The peer's reader ends once the socket is gone (EOF or reset).
	done := make(chan struct{})
	go func() { m.peer.readers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		m.t.Fatalf("the peer never saw the connection end")
	}
}

func (m *streamModel) check() {
	t, r, h := m.t, m.r, m.c.h
	evs := r.byH[h]
	closes, errs, ends := 0, 0, 0
	for i, ev := range evs {
		switch ev.Type {
		case EvClose:
			closes++
			if i != len(evs)-1 {
				t.Fatalf("events after CLOSE: %v", r.types(h))
			}
		case EvError:
			errs++
			if i != len(evs)-2 {
				t.Fatalf("ERROR is not right before CLOSE: %v", r.types(h))
			}
		case EvEnd:
			ends++
		case EvData:
			if ends > 0 {
				t.Fatalf("DATA after END: %v", r.types(h))
			}
		}
	}
	if closes != 1 || errs > 1 || ends > 1 {
		t.Fatalf("%d CLOSE, %d ERROR, %d END: %v", closes, errs, ends, r.types(h))
	}
	if m.sendRefused != nil && errs == 0 {
		t.Fatalf("Send failed (%s: %s) on a socket we had not closed, and no ERROR came: %v",
			m.sendRefused.Code.Name(), m.sendRefused.Msg, r.types(h))
	}
	got := r.data[h]
	for i, b := range got {
		if b != pat(int64(i)) {
			t.Fatalf("socket: byte %d of %d is wrong (lost, repeated or reordered data)", i, len(got))
		}
	}
	if int64(len(got)) > m.peer.sent {
		t.Fatalf("socket received %d bytes, the peer sent %d", len(got), m.peer.sent)
	}
	if ends == 1 && int64(len(got)) != m.peer.sent {
		t.Fatalf("END after %d of the peer's %d bytes: a silent truncation", len(got), m.peer.sent)
	}
	if ends == 1 && m.tls && !m.peerReset {
		if end := r.first(h, EvEnd); end.Code != OK {
			t.Fatalf("END after the peer's close_notify carries %s", end.Code.Name())
		}
	}
	p := m.peer
	for i, b := range p.got {
		if b != pat(int64(i)) {
			t.Fatalf("peer: byte %d of %d is wrong", i, len(p.got))
		}
	}
	if int64(len(p.got)) > m.cSent {
		t.Fatalf("peer received %d bytes, the socket accepted %d", len(p.got), m.cSent)
	}
	cleanEnd := errors.Is(p.readEnd, io.EOF)
	if cleanEnd && !m.aborted && errs == 0 && int64(len(p.got)) != m.cSent {
		t.Fatalf("the peer saw a clean end (%v) after %d of %d bytes, and the socket reported no error: silent truncation; events %v",
			p.readEnd, len(p.got), m.cSent, r.types(h))
	}
	if _, e := LookupSocket(h); e == nil {
		t.Fatalf("the handle still resolves after CLOSE")
	}
}
