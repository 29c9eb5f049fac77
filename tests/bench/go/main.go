// Command gobench is the plain-Go side of the C ABI benchmarks.
//
//	gobench serve                       a server on 127.0.0.1 (port on stdout):
//	                                    first byte 'P' = echo, 'B' = count bytes
//	                                    to EOF and answer the count
//	gobench pingpong PORT [round_trips]  a plain-Go client (the reference)
//	gobench bulk PORT [megabytes]
//
// tests/bench/c/tcp_bench.c is the w3sock client against the same server,
// so the two clients are compared in the same run against the same peer.
package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: gobench serve | pingpong PORT [n] | bulk PORT [MiB]")
		os.Exit(2)
	}
	if os.Args[1] == "serve" {
		serve()
		return
	}
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "gobench: PORT missing")
		os.Exit(2)
	}
	n := 0
	if len(os.Args) > 3 {
		n, _ = strconv.Atoi(os.Args[3])
	}
	c, err := net.Dial("tcp", "127.0.0.1:"+os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, "gobench:", err)
		os.Exit(1)
	}
	switch os.Args[1] {
	case "bulk":
		if n == 0 {
			n = 2048
		}
		bulk(c, int64(n)<<20)
	default:
		if n == 0 {
			n = 50000
		}
		pingpong(c, n)
	}
}

func serve() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	fmt.Println(ln.Addr().(*net.TCPAddr).Port)
	go func() { io.Copy(io.Discard, os.Stdin); os.Exit(0) }() // exit when the driver goes
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func(c net.Conn) {
			defer c.Close()
			var mode [1]byte
			if _, err := io.ReadFull(c, mode[:]); err != nil {
				return
			}
			if mode[0] == 'P' {
				io.Copy(c, c)
				return
			}
			n, _ := io.Copy(io.Discard, c)
			fmt.Fprintf(c, "%d\n", n)
		}(c)
	}
}

func pingpong(c net.Conn, n int) {
	c.Write([]byte("P"))
	msg := make([]byte, 64)
	t0 := time.Now()
	for i := 0; i < n; i++ {
		c.Write(msg)
		if _, err := io.ReadFull(c, msg); err != nil {
			panic(err)
		}
	}
	d := time.Since(t0).Seconds()
	fmt.Printf("go pingpong: %d round trips in %.3f s = %.0f round trips/s\n", n, d, float64(n)/d)
}

func bulk(c net.Conn, total int64) {
	c.Write([]byte("B"))
	chunk := make([]byte, 256<<10)
	t0 := time.Now()
	for sent := int64(0); sent < total; sent += int64(len(chunk)) {
		if _, err := c.Write(chunk); err != nil {
			panic(err)
		}
	}
	c.(*net.TCPConn).CloseWrite()
	line, _ := bufio.NewReader(c).ReadString('\n')
	d := time.Since(t0).Seconds()
	got, _ := strconv.ParseInt(line[:max(len(line)-1, 0)], 10, 64)
	fmt.Printf("go bulk: %d MiB in %.3f s = %.0f MB/s\n", got>>20, d, float64(got)/d/1e6)
}
