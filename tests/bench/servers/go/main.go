// Command goserver is the plain-Go reference echo server of the benchmark:
// net for TCP and UDP, crypto/tls for TLS.
//
//	goserver tcp|tls|udp PORT [CERT KEY]
//
// Prints "ready" once listening on 127.0.0.1:PORT, echoes every byte (TCP,
// TLS) or datagram (UDP) back to its sender, and runs until killed. The
// copy loop is written out: io.Copy between two TCP connections would use
// splice(2) and echo inside the kernel, which no other server here does.
package main

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: goserver tcp|tls|udp PORT [CERT KEY]")
		os.Exit(2)
	}
	addr := "127.0.0.1:" + os.Args[2]
	switch os.Args[1] {
	case "udp":
		serveUDP(addr)
	case "tcp", "tls":
		ln, err := net.Listen("tcp", addr)
		check(err)
		if os.Args[1] == "tls" {
			if len(os.Args) < 5 {
				check(fmt.Errorf("tls needs CERT and KEY"))
			}
			cert, err := tls.LoadX509KeyPair(os.Args[3], os.Args[4])
			check(err)
			ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}})
		}
		fmt.Println("ready")
		for {
			c, err := ln.Accept()
			check(err)
			go echo(c)
		}
	default:
		check(fmt.Errorf("unknown protocol %q", os.Args[1]))
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "goserver:", err)
		os.Exit(1)
	}
}

func echo(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func serveUDP(addr string) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	check(err)
	s, err := net.ListenUDP("udp", ua)
	check(err)
	fmt.Println("ready")
	buf := make([]byte, 65536)
	for {
		n, from, err := s.ReadFromUDPAddrPort(buf)
		if err != nil {
			continue
		}
		s.WriteToUDPAddrPort(buf[:n], from)
	}
}
