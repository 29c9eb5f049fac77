package main

import (
	"errors"
	"net"
	"time"
)

// errWouldBlock is what memConn.Read returns when the reactor has pushed no
// more ciphertext. crypto/tls (conn.go, readRecordOrCCS) records a transport
// error in c.in.err -- which poisons every later Read -- unless the error is a
// net.Error whose Temporary() is true, so this one says it is temporary.
var errWouldBlock net.Error = wouldBlock{}

type wouldBlock struct{}

func (wouldBlock) Error() string   { return "memconn: would block" }
func (wouldBlock) Timeout() bool   { return false }
func (wouldBlock) Temporary() bool { return true }

func isWouldBlock(err error) bool { return errors.Is(err, errWouldBlock) }

// memConn is the transport under a tls.Conn in the reactor model: Read hands
// out ciphertext the reactor pushed in (or errWouldBlock), Write appends
// ciphertext to a buffer the reactor flushes with write(2). While handshake
// is set (the handshake runs on its own goroutine), both go to it instead.
// After the handshake one thread owns a memConn; it has no lock.
type memConn struct {
	in        []byte
	own       []byte // in's backing store when it is not lent
	lent      bool   // in is the reactor's read buffer
	out       []byte
	handshake net.Conn
}

// push appends ciphertext the reactor read; the bytes are copied.
func (m *memConn) push(ciphertext []byte) {
	if len(m.in) == 0 || m.lent {
		m.in = append(m.own[:0], m.in...)
		m.lent = false
	}
	m.in = append(m.in, ciphertext...)
	m.own = m.in[:0]
}

// lend hands the reactor's read buffer itself to the Conn, without a copy;
// the reactor calls keep before it reuses the buffer. crypto/tls's
// readFromUntil reads all it can into its own buffer (c.rawInput), so after
// a Read that returned errWouldBlock nothing lent is left and keep copies
// nothing.
func (m *memConn) lend(ciphertext []byte) {
	if len(m.in) > 0 {
		m.push(ciphertext)
		return
	}
	m.in, m.lent = ciphertext, true
}

func (m *memConn) keep() {
	if m.lent {
		m.push(nil) // copies what is left of the lent bytes, if anything
	}
}

// takeOut returns the ciphertext written since the last call; the caller
// flushes it before the next Write (the slice is reused).
func (m *memConn) takeOut() []byte { b := m.out; m.out = m.out[:0]; return b }

func (m *memConn) Read(p []byte) (int, error) {
	if m.handshake != nil {
		return m.handshake.Read(p)
	}
	if len(m.in) == 0 {
		return 0, errWouldBlock
	}
	n := copy(p, m.in)
	m.in = m.in[n:]
	return n, nil
}

func (m *memConn) Write(p []byte) (int, error) {
	if m.handshake != nil {
		return m.handshake.Write(p)
	}
	m.out = append(m.out, p...)
	return len(p), nil
}

func (m *memConn) Close() error                     { return nil }
func (m *memConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (m *memConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (m *memConn) SetDeadline(time.Time) error      { return nil }
func (m *memConn) SetReadDeadline(time.Time) error  { return nil }
func (m *memConn) SetWriteDeadline(time.Time) error { return nil }
