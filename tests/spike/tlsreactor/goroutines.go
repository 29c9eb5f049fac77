package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync/atomic"
)

// goroutineServer is today's model for TLS and notify-mode sockets.
//   - mode gor: one goroutine per connection reads, decrypts and answers
//     (a plain Go crypto/tls server: the floor of any goroutine design);
//   - mode handoff: a goroutine per connection reads and decrypts and hands
//     the bytes to one locked "host" thread through a queue and an eventfd;
//     the host answers (encrypting on its own thread).
//
// For the send workload a locked host thread produces the messages and hands
// each to the connection's writer goroutine through a channel (w3s_send on a
// TLS socket today).
type goroutineServer struct {
	c        config
	conns    []net.Conn
	accepted chan error
	bytes    atomic.Int64
}

func (s *goroutineServer) listen(c config) (string, error) {
	s.c = c
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	s.accepted = make(chan error, 1)
	cfg := serverTLSConfig()
	go func() {
		defer ln.Close()
		for len(s.conns) < c.conns {
			conn, err := ln.Accept()
			if err != nil {
				s.accepted <- err
				return
			}
			if c.tls {
				tc := tls.Server(conn, cfg)
				if err := tc.Handshake(); err != nil {
					s.accepted <- err
					return
				}
				conn = tc
			}
			s.conns = append(s.conns, conn)
		}
		s.accepted <- nil
	}()
	return ln.Addr().String(), nil
}

func (s *goroutineServer) ready() error { return <-s.accepted }

func (s *goroutineServer) units() float64 { return workUnits(s.c, s.bytes.Load()) }

// workUnits: MB received for bulk, otherwise messages (round trips for
// pingpong) over all connections.
func workUnits(c config, bytes int64) float64 {
	if c.work == "bulk" {
		return float64(bytes) / 1e6
	}
	return float64(c.conns) * float64(c.count)
}

func (s *goroutineServer) begin() {
	if s.c.work == "send" {
		go s.hostSends()
		return
	}
	if s.c.mode == "gor" {
		for _, conn := range s.conns {
			go s.serveConn(conn)
		}
		return
	}
	type chunk struct {
		conn net.Conn
		data []byte // nil: end of stream
	}
	q := newHandoffQueue[chunk]()
	for _, conn := range s.conns {
		go func(conn net.Conn) {
			buf := make([]byte, 64<<10)
			for {
				n, err := conn.Read(buf)
				if n > 0 {
					q.push(chunk{conn, append([]byte(nil), buf[:n]...)})
				}
				if err != nil {
					q.push(chunk{conn, nil})
					return
				}
			}
		}(conn)
	}
	go func() {
		runtime.LockOSThread()
		var spare []chunk
		for open := len(s.conns); open > 0; {
			batch := q.wait(spare)
			for _, ch := range batch {
				switch {
				case ch.data == nil:
					ch.conn.Close()
					open--
				case s.c.work == "bulk":
					s.bytes.Add(int64(len(ch.data)))
				default:
					if _, err := ch.conn.Write(ch.data); err != nil {
						panic(err)
					}
				}
			}
			spare = batch
		}
	}()
}

func (s *goroutineServer) serveConn(conn net.Conn) {
	defer conn.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := conn.Read(buf)
		if n > 0 {
			if s.c.work == "bulk" {
				s.bytes.Add(int64(n))
			} else if _, werr := conn.Write(buf[:n]); werr != nil {
				panic(werr)
			}
		}
		if err == io.EOF {
			return
		}
		if err != nil {
			panic(fmt.Sprint("read: ", err))
		}
	}
}

func (s *goroutineServer) hostSends() {
	runtime.LockOSThread()
	queues := make([]chan []byte, len(s.conns))
	for i, conn := range s.conns {
		queues[i] = make(chan []byte, 256)
		go func(conn net.Conn, q chan []byte) {
			for msg := range q {
				if _, err := conn.Write(msg); err != nil {
					panic(err)
				}
			}
			conn.Close()
		}(conn, queues[i])
	}
	msg := make([]byte, s.c.size)
	for i := 0; i < s.c.count; i++ {
		for _, q := range queues {
			q <- append([]byte(nil), msg...) // the caller's buffer is its own again
		}
	}
	for _, q := range queues {
		close(q)
	}
}
