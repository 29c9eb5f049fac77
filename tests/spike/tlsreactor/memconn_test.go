package main

import (
	"bytes"
	"errors"
	"net"
	"testing"
)

// TestWouldBlockKeepsConnUsable feeds a TLS stream to tls.Conn.Read one byte
// at a time: every Read before a record is whole must return errWouldBlock,
// and the Conn must go on decrypting afterwards (crypto/tls keeps the bytes
// of a partial record and does not record a Temporary() error).
func TestWouldBlockKeepsConnUsable(t *testing.T) {
	client, server, cm, sm, err := memPair()
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Repeat([]byte("record layer "), 3000) // spans several records
	if _, err := client.Write(want); err != nil {
		t.Fatal(err)
	}
	wire := append([]byte(nil), cm.takeOut()...)
	var got []byte
	buf := make([]byte, 4096)
	wouldBlocks := 0
	for _, b := range wire {
		sm.push([]byte{b})
		for {
			n, err := server.Read(buf)
			got = append(got, buf[:n]...)
			if isWouldBlock(err) {
				wouldBlocks++
				break
			}
			if err != nil {
				t.Fatalf("after %d bytes: %v", len(got), err)
			}
		}
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("decrypted %d bytes, want %d", len(got), len(want))
	}
	if wouldBlocks < len(wire)-10 {
		t.Fatalf("only %d would-block returns for %d bytes", wouldBlocks, len(wire))
	}
}

// errPlain is a transport error that is not a net.Error.
var errPlain = errors.New("plain error")

type plainErrConn struct{ memConn }

func (p *plainErrConn) Read(b []byte) (int, error) {
	if p.handshake == nil && len(p.in) == 0 {
		return 0, errPlain
	}
	return p.memConn.Read(b)
}

// TestNonTemporaryErrorPoisons shows why the sentinel must be a Temporary
// net.Error: any other transport error is stored in the Conn and returned
// by every later Read, even once the data has arrived.
func TestNonTemporaryErrorPoisons(t *testing.T) {
	p1, p2 := net.Pipe()
	cm := &memConn{handshake: p1}
	pc := &plainErrConn{memConn{handshake: p2}}
	client, server := tlsPairOver(t, cm, pc)
	cm.handshake, pc.handshake = nil, nil
	if _, err := server.Read(make([]byte, 10)); !errors.Is(err, errPlain) {
		t.Fatalf("first read: %v, want errPlain", err)
	}
	client.Write([]byte("hello"))
	pc.push(cm.takeOut())
	if _, err := server.Read(make([]byte, 10)); !errors.Is(err, errPlain) {
		t.Fatalf("read after data arrived: %v, want the stored errPlain", err)
	}
}

func tlsPairOver(t *testing.T, cc, sc net.Conn) (client, server interface {
	Read([]byte) (int, error)
	Write([]byte) (int, error)
}) {
	c, s := tlsClientServer(cc, sc)
	errc := make(chan error, 1)
	go func() { errc <- s.Handshake() }()
	if err := c.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	return c, s
}

// TestLentBufferIsNotKept lends one reused read buffer to the transport,
// overwriting it after every keep(), as the reactor does: the plaintext must
// come out whole, so nothing may still point into the lent buffer.
func TestLentBufferIsNotKept(t *testing.T) {
	client, server, cm, sm, err := memPair()
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Repeat([]byte("0123456789abcdef"), 5000)
	client.Write(want)
	wire := append([]byte(nil), cm.takeOut()...)
	rbuf := make([]byte, 1000) // smaller than a record: records span reads
	var got []byte
	pbuf := make([]byte, 4096)
	for off := 0; off < len(wire); off += len(rbuf) {
		n := copy(rbuf, wire[off:])
		sm.lend(rbuf[:n])
		if off == 0 {
			// Once, keep before Read: the lent bytes must be copied.
			sm.keep()
			for i := range rbuf {
				rbuf[i] = 0xEE
			}
		}
		for {
			k, err := server.Read(pbuf)
			got = append(got, pbuf[:k]...)
			if isWouldBlock(err) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		sm.keep()
		for i := range rbuf {
			rbuf[i] = 0xEE
		}
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("decrypted %d bytes, want %d", len(got), len(want))
	}
}
