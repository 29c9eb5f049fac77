// Command gobench is the plain-Go reference for tests/bench/c/tcp_bench.c:
// the same ping-pong and bulk transfer over loopback with net.Conn and
// goroutines, both ends in one process.
//
//	go run ./tests/bench/go pingpong [round_trips]
//	go run ./tests/bench/go bulk [megabytes]
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: gobench pingpong|bulk [n]")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			panic(err)
		}
		accepted <- c
	}()
	cli, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		panic(err)
	}
	srv := <-accepted
	n := 0
	if len(os.Args) > 2 {
		n, _ = strconv.Atoi(os.Args[2])
	}
	switch os.Args[1] {
	case "bulk":
		if n == 0 {
			n = 2048
		}
		bulk(cli, srv, int64(n)<<20)
	default:
		if n == 0 {
			n = 50000
		}
		pingpong(cli, srv, n)
	}
}

func pingpong(cli, srv net.Conn, n int) {
	go func() {
		buf := make([]byte, 64)
		for {
			if _, err := io.ReadFull(srv, buf); err != nil {
				return
			}
			if _, err := srv.Write(buf); err != nil {
				return
			}
		}
	}()
	msg := make([]byte, 64)
	t0 := time.Now()
	for i := 0; i < n; i++ {
		cli.Write(msg)
		if _, err := io.ReadFull(cli, msg); err != nil {
			panic(err)
		}
	}
	d := time.Since(t0).Seconds()
	fmt.Printf("go pingpong: %d round trips in %.3f s = %.0f round trips/s\n", n, d, float64(n)/d)
}

func bulk(cli, srv net.Conn, total int64) {
	done := make(chan int64)
	go func() {
		n, _ := io.Copy(io.Discard, srv)
		done <- n
	}()
	chunk := make([]byte, 256<<10)
	t0 := time.Now()
	for sent := int64(0); sent < total; sent += int64(len(chunk)) {
		if _, err := cli.Write(chunk); err != nil {
			panic(err)
		}
	}
	cli.Close()
	got := <-done
	d := time.Since(t0).Seconds()
	fmt.Printf("go bulk: %d MiB in %.3f s = %.0f MB/s\n", got>>20, d, float64(got)/d/1e6)
}
