package main

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/tls"
	"fmt"
	"net"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// runMicro measures, in one process and on one thread, what the reactor
// would pay per TLS record with no sockets involved:
//   - tls.Conn.Read over memConn: ciphertext pushed in 64 KiB chunks, Read
//     until errWouldBlock (the proposed receive path);
//   - AES-128-GCM Open of a record of the same size with crypto/cipher: the
//     floor a record layer of our own could reach (crypto/tls exports none);
//   - tls.Conn.Write into memConn and AES-128-GCM Seal, for sends.
//
// Times are the thread's CPU time (RUSAGE_THREAD), so other helpers' load on
// this shared machine does not count; garbage collection on other threads
// is left out.
func runMicro(rounds int) error {
	sizes := []int{64, 1024, 16384}
	fmt.Printf("| micro, ns per record (median of %d) | tls.Conn.Read over memConn | GCM Open | tls.Conn.Write into memConn | GCM Seal |\n|---|---|---|---|---|\n", rounds)
	for _, size := range sizes {
		var rd, op, wr, se []float64
		for r := 0; r < rounds; r++ {
			a, b, c, d, err := microRound(size)
			if err != nil {
				return err
			}
			rd, op, wr, se = append(rd, a), append(op, b), append(wr, c), append(se, d)
		}
		fmt.Printf("| %d B | %.0f | %.0f | %.0f | %.0f |\n", size, median(rd), median(op), median(wr), median(se))
	}
	return nil
}

// memPair returns a client and a server tls.Conn over memConns, handshaken
// over a net.Pipe and then switched to memory.
func memPair() (client, server *tls.Conn, cm, sm *memConn, err error) {
	p1, p2 := net.Pipe()
	cm, sm = &memConn{handshake: p1}, &memConn{handshake: p2}
	client, server = tlsClientServer(cm, sm)
	errc := make(chan error, 1)
	go func() { errc <- server.Handshake() }()
	if err = client.Handshake(); err != nil {
		return
	}
	if err = <-errc; err != nil {
		return
	}
	cm.handshake, sm.handshake = nil, nil
	return
}

// tlsClientServer makes the two ends of a TLS 1.3 connection over cc and sc.
func tlsClientServer(cc, sc net.Conn) (client, server *tls.Conn) {
	client = tls.Client(cc, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})
	return client, tls.Server(sc, serverTLSConfig())
}

// threadCPU is the calling thread's CPU time (RUSAGE_THREAD); the caller
// is locked to its thread.
func threadCPU() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func microRound(size int) (readNs, openNs, writeNs, sealNs float64, err error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	client, server, cm, sm, err := memPair()
	if err != nil {
		return
	}
	_ = server
	const total = 64 << 20
	n := total / size
	if n > 200000 {
		n = 200000
	}
	msg := make([]byte, size)
	// Writes: client encrypts n records into memory.
	cm.out = make([]byte, 0, n*(size+22))
	t0 := threadCPU()
	for i := 0; i < n; i++ {
		client.Write(msg)
	}
	writeNs = float64((threadCPU() - t0).Nanoseconds()) / float64(n)
	wire := cm.takeOut()
	// Reads: the server decrypts them, fed 64 KiB at a time.
	pbuf := make([]byte, 64<<10)
	got := 0
	t0 = threadCPU()
	for off := 0; off < len(wire); off += 64 << 10 {
		sm.push(wire[off:min(off+64<<10, len(wire))])
		for {
			k, rerr := server.Read(pbuf)
			got += k
			if rerr != nil {
				if !isWouldBlock(rerr) {
					err = rerr
					return
				}
				break
			}
		}
	}
	readNs = float64((threadCPU() - t0).Nanoseconds()) / float64(n)
	if got != n*size {
		err = fmt.Errorf("micro: decrypted %d bytes, want %d", got, n*size)
		return
	}
	// The floor: bare AES-128-GCM on records of the same size.
	block, _ := aes.NewCipher(make([]byte, 16))
	gcm, _ := cipher.NewGCM(block)
	nonce := make([]byte, 12)
	hdr := []byte{23, 3, 3, 0, 0}
	sealed := make([][]byte, n)
	inner := append(append([]byte(nil), msg...), 23) // TLS 1.3 inner plaintext: data + content type
	t0 = threadCPU()
	for i := 0; i < n; i++ {
		nonce[11] = byte(i)
		nonce[10] = byte(i >> 8)
		sealed[i] = gcm.Seal(make([]byte, 0, size+17), nonce, inner, hdr)
	}
	sealNs = float64((threadCPU() - t0).Nanoseconds()) / float64(n)
	out := make([]byte, 0, size+1)
	t0 = threadCPU()
	for i := 0; i < n; i++ {
		nonce[11] = byte(i)
		nonce[10] = byte(i >> 8)
		if _, oerr := gcm.Open(out[:0], nonce, sealed[i], hdr); oerr != nil {
			err = oerr
			return
		}
	}
	openNs = float64((threadCPU() - t0).Nanoseconds()) / float64(n)
	return
}
