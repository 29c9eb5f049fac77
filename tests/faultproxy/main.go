// Command faultproxy is a user-space proxy that injects network faults, for
// tests on a kernel without netem. It forwards TCP connections or UDP
// datagrams from its own loopback port to -target and, per connection or
// datagram, applies one fault from -faults:
//
//	TCP:  pass       forward as is
//	      frag       1-byte writes for the first 4 KiB, then 1..512-byte ones
//	      delay      every write waits 0..5 ms
//	      stall      one pause of -stall in each direction, mid-stream
//	      rst        after a random number of bytes, reset both sides
//	      halfclose  after a random number of bytes toward the client, send
//	                 it FIN (its input ends early) and keep forwarding the
//	                 client's bytes
//	UDP:  pass, drop (lost), dup (sent twice), reorder (held back and sent
//	      after the next datagram)
//
// Connections take the faults in turn (connection i gets faults[i % n]);
// datagrams draw one at random (seeded by -seed). The first line on stdout
// is "PORT <n>"; on SIGTERM, or when stdin closes, it prints one "STATS"
// line (connections, datagrams, bytes and each fault's count) and exits.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"net"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type stats struct {
	mu     sync.Mutex
	faults map[string]int
	conns  atomic.Int64
	dgrams atomic.Int64
	bytes  atomic.Int64
}

func (s *stats) count(fault string) {
	s.mu.Lock()
	s.faults[fault]++
	s.mu.Unlock()
}

func (s *stats) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for k := range s.faults {
		names = append(names, k)
	}
	sort.Strings(names)
	out := fmt.Sprintf("STATS connections=%d datagrams=%d bytes=%d", s.conns.Load(), s.dgrams.Load(), s.bytes.Load())
	for _, k := range names {
		out += fmt.Sprintf(" %s=%d", k, s.faults[k])
	}
	return out
}

func main() {
	mode := flag.String("mode", "tcp", "tcp or udp")
	target := flag.String("target", "", "host:port to forward to")
	faults := flag.String("faults", "pass", "comma-separated faults (see the package comment)")
	stall := flag.Duration("stall", 2*time.Second, "length of a stall")
	seed := flag.Int64("seed", 1, "random seed")
	flag.Parse()
	if *target == "" {
		fmt.Fprintln(os.Stderr, "faultproxy: -target is required")
		os.Exit(2)
	}
	st := &stats{faults: map[string]int{}}
	list := strings.Split(*faults, ",")
	var port int
	switch *mode {
	case "tcp":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, "faultproxy:", err)
			os.Exit(1)
		}
		port = ln.Addr().(*net.TCPAddr).Port
		go serveTCP(ln, *target, list, *stall, *seed, st)
	case "udp":
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, "faultproxy:", err)
			os.Exit(1)
		}
		port = pc.LocalAddr().(*net.UDPAddr).Port
		go serveUDP(pc.(*net.UDPConn), *target, list, *seed, st)
	default:
		fmt.Fprintln(os.Stderr, "faultproxy: -mode is tcp or udp")
		os.Exit(2)
	}
	fmt.Printf("PORT %d\n", port)
	os.Stdout.Sync()

	done := make(chan os.Signal, 2)
	signal.Notify(done, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		io.Copy(io.Discard, bufio.NewReader(os.Stdin))
		done <- syscall.SIGTERM
	}()
	<-done
	fmt.Println(st)
}

func serveTCP(ln net.Listener, target string, faults []string, stall time.Duration, seed int64, st *stats) {
	for i := 0; ; i++ {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		fault := faults[i%len(faults)]
		st.conns.Add(1)
		st.count(fault)
		go proxyConn(c.(*net.TCPConn), target, fault, stall, rand.New(rand.NewSource(seed+int64(i))), st)
	}
}

func proxyConn(client *net.TCPConn, target, fault string, stall time.Duration, rng *rand.Rand, st *stats) {
	defer client.Close()
	sc, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	server := sc.(*net.TCPConn)
	defer server.Close()
	cut := int64(1 + rng.Intn(64<<10)) // where rst and halfclose strike
	var once sync.Once
	reset := func() {
		once.Do(func() {
			client.SetLinger(0)
			server.SetLinger(0)
			client.Close()
			server.Close()
		})
	}
	var wg sync.WaitGroup
	wg.Add(2)
	pipe := func(dst, src *net.TCPConn, toClient bool, r *rand.Rand) {
		defer wg.Done()
		var sent int64
		stalled := false
		stallAt := int64(1 + r.Intn(16<<10))
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			b := buf[:n]
			for len(b) > 0 {
				k := len(b)
				switch fault {
				case "frag":
					if sent < 4096 {
						k = 1
					} else {
						k = min(k, 1+r.Intn(512))
					}
				case "delay":
					time.Sleep(time.Duration(r.Intn(5000)) * time.Microsecond)
				case "stall":
					if !stalled && sent+int64(k) >= stallAt {
						stalled = true
						time.Sleep(stall)
					}
				case "rst":
					if sent+int64(k) >= cut {
						k = int(max(cut-sent, 0))
						if k > 0 {
							dst.Write(b[:k])
							st.bytes.Add(int64(k))
						}
						reset()
						return
					}
				case "halfclose":
					if toClient && sent+int64(k) >= cut {
						k = int(max(cut-sent, 0))
						if k > 0 {
							dst.Write(b[:k])
							st.bytes.Add(int64(k))
						}
						dst.CloseWrite()
						io.Copy(io.Discard, src) // the server's rest goes nowhere
						return
					}
				}
				w, werr := dst.Write(b[:k])
				sent += int64(w)
				st.bytes.Add(int64(w))
				if werr != nil {
					reset()
					return
				}
				b = b[k:]
			}
			if err != nil {
				if err == io.EOF {
					dst.CloseWrite() // pass the end on
				} else {
					reset()
				}
				return
			}
		}
	}
	go pipe(server, client, false, rand.New(rand.NewSource(rng.Int63())))
	go pipe(client, server, true, rand.New(rand.NewSource(rng.Int63())))
	wg.Wait()
}

// held is one direction's datagram kept back by a reorder fault; it goes
// out after the next datagram.
type held struct {
	mu sync.Mutex
	b  []byte
}

// udpPeer is one client of the UDP proxy: the socket that talks to the
// target for it, and the held slot of each direction.
type udpPeer struct {
	up       *net.UDPConn
	toTarget held
	toClient held
}

// serveUDP forwards each client's datagrams to target from a socket of its
// own, and the replies back, with the faults applied both ways.
func serveUDP(pc *net.UDPConn, target string, faults []string, seed int64, st *stats) {
	taddr, err := net.ResolveUDPAddr("udp", target)
	if err != nil {
		return
	}
	rng := rand.New(rand.NewSource(seed))
	var rmu sync.Mutex
	pick := func() string {
		rmu.Lock()
		defer rmu.Unlock()
		return faults[rng.Intn(len(faults))]
	}
	// send applies a fault to one datagram travelling through write.
	send := func(h *held, p []byte, write func([]byte)) {
		st.dgrams.Add(1)
		st.bytes.Add(int64(len(p)))
		fault := pick()
		st.count("udp-" + fault)
		h.mu.Lock()
		prev := h.b
		h.b = nil
		if fault == "reorder" && prev == nil {
			h.b = append([]byte(nil), p...)
			h.mu.Unlock()
			return
		}
		h.mu.Unlock()
		switch fault {
		case "drop":
		case "dup":
			write(p)
			write(p)
		default:
			write(p)
		}
		if prev != nil {
			write(prev)
		}
	}
	peers := map[string]*udpPeer{}
	buf := make([]byte, 65536)
	for {
		n, from, err := pc.ReadFromUDP(buf)
		if err != nil {
			return
		}
		p, ok := peers[from.String()]
		if !ok {
			up, err := net.DialUDP("udp", nil, taddr)
			if err != nil {
				continue
			}
			p = &udpPeer{up: up}
			peers[from.String()] = p
			client := from
			go func() {
				b := make([]byte, 65536)
				for {
					n, err := p.up.Read(b)
					if err != nil {
						return
					}
					send(&p.toClient, b[:n], func(d []byte) { pc.WriteToUDP(d, client) })
				}
			}()
		}
		send(&p.toTarget, buf[:n], func(d []byte) { p.up.Write(d) })
	}
}
