package main

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
)

// runPeer is the load generator: a child process, so its CPU is not counted in
// the server's. It connects, finishes every handshake, prints "ready", waits
// for "go" on stdin, runs the workload and prints "done" once it has seen the
// server close every connection (or every echo, for UDP).
func runPeer(c config) error {
	if c.work == "udp" {
		return runUDPPeer(c)
	}
	conns := make([]net.Conn, c.conns)
	for i := range conns {
		raw, err := net.Dial("tcp", c.addr)
		if err != nil {
			return err
		}
		if c.tls {
			tc := tls.Client(raw, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})
			if err := tc.Handshake(); err != nil {
				return err
			}
			conns[i] = tc
		} else {
			conns[i] = raw
		}
	}
	fmt.Println("ready")
	in := bufio.NewReader(os.Stdin)
	if _, err := in.ReadString('\n'); err != nil {
		return err
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(conns))
	for _, conn := range conns {
		wg.Add(1)
		go func(conn net.Conn) {
			defer wg.Done()
			if err := peerConn(c, conn); err != nil {
				errs <- err
			}
		}(conn)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return err
	}
	fmt.Println("done")
	return nil
}

func closeWrite(conn net.Conn) error {
	switch v := conn.(type) {
	case *tls.Conn:
		return v.CloseWrite()
	case *net.TCPConn:
		return v.CloseWrite()
	}
	return nil
}

func peerConn(c config, conn net.Conn) error {
	defer conn.Close()
	msg := make([]byte, c.size)
	switch c.work {
	case "bulk":
		for i := 0; i < c.count; i++ {
			if _, err := conn.Write(msg); err != nil {
				return err
			}
		}
	case "pingpong":
		for i := 0; i < c.count; i++ {
			if _, err := conn.Write(msg); err != nil {
				return err
			}
			if _, err := io.ReadFull(conn, msg); err != nil {
				return fmt.Errorf("pingpong read: %w", err)
			}
		}
	case "send":
		// The server sends; read everything until it closes.
		n, err := io.Copy(io.Discard, conn)
		if err != nil {
			return err
		}
		if want := int64(c.size) * int64(c.count); n != want {
			return fmt.Errorf("send: got %d bytes, want %d", n, want)
		}
		return nil
	}
	if err := closeWrite(conn); err != nil {
		return err
	}
	_, err := io.Copy(io.Discard, conn)
	return err
}
