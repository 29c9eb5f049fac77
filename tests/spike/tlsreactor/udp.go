package main

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync/atomic"
	"time"

	"golang.org/x/net/ipv4"
)

// udpServer echoes 64-byte datagrams.
//   - udp-gor: one goroutine, ReadFromUDPAddrPort + WriteToUDPAddrPort per
//     datagram (the cheapest goroutine design);
//   - udp-handoff: a reader goroutine hands each datagram to a locked host
//     thread through a queue and an eventfd; the host answers (today's path
//     minus the writer goroutine);
//   - udp-batch: one locked thread, recvmmsg/sendmmsg of up to 64 datagrams
//     (x/net/ipv4 ReadBatch/WriteBatch).
type udpServer struct {
	c     config
	conn  *net.UDPConn
	n     atomic.Int64
	reads atomic.Int64 // receive system calls (recvfrom or recvmmsg)
}

// note reports datagrams per receive call: how much batching happened.
func (s *udpServer) note() string {
	return fmt.Sprintf("datagrams_per_read=%.2f", float64(s.n.Load())/float64(max(s.reads.Load(), 1)))
}

const udpBatch = 64

func (s *udpServer) listen(c config) (string, error) {
	s.c = c
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return "", err
	}
	conn.SetReadBuffer(4 << 20)
	conn.SetWriteBuffer(4 << 20)
	s.conn = conn
	return conn.LocalAddr().String(), nil
}

func (s *udpServer) ready() error   { return nil }
func (s *udpServer) units() float64 { return float64(s.n.Load()) }

func (s *udpServer) begin() {
	switch s.c.mode {
	case "udp-gor":
		go func() {
			buf := make([]byte, 2048)
			for {
				n, from, err := s.conn.ReadFromUDPAddrPort(buf)
				if err != nil {
					return
				}
				s.reads.Add(1)
				s.n.Add(1)
				s.conn.WriteToUDPAddrPort(buf[:n], from)
			}
		}()
	case "udp-handoff":
		type dgram struct {
			data []byte
			from netip.AddrPort
		}
		q := newHandoffQueue[dgram]()
		go func() {
			buf := make([]byte, 2048)
			for {
				n, from, err := s.conn.ReadFromUDPAddrPort(buf)
				if err != nil {
					return
				}
				s.reads.Add(1)
				q.push(dgram{append([]byte(nil), buf[:n]...), from})
			}
		}()
		go func() {
			runtime.LockOSThread()
			var spare []dgram
			for {
				batch := q.wait(spare)
				for _, d := range batch {
					s.n.Add(1)
					s.conn.WriteToUDPAddrPort(d.data, d.from)
				}
				spare = batch
			}
		}()
	case "udp-batch":
		go func() {
			runtime.LockOSThread()
			pc := ipv4.NewPacketConn(s.conn)
			msgs := make([]ipv4.Message, udpBatch)
			for i := range msgs {
				msgs[i].Buffers = [][]byte{make([]byte, 2048)}
			}
			out := make([]ipv4.Message, udpBatch)
			for {
				n, err := pc.ReadBatch(msgs, 0)
				if err != nil {
					return
				}
				for i := 0; i < n; i++ {
					out[i] = ipv4.Message{Buffers: [][]byte{msgs[i].Buffers[0][:msgs[i].N]}, Addr: msgs[i].Addr}
				}
				s.reads.Add(1)
				s.n.Add(int64(n))
				for sent := 0; sent < n; {
					k, err := pc.WriteBatch(out[sent:n], 0)
					if err != nil {
						break
					}
					sent += k
				}
			}
		}()
	}
}

// runUDPPeer keeps a window of datagrams in flight (sendmmsg/recvmmsg on
// its side too, so the load generator is not the bottleneck) until it has
// received count echoes; a window lost to a full socket buffer is resent
// after 50 ms of silence.
func runUDPPeer(c config) error {
	raddr, err := net.ResolveUDPAddr("udp4", c.addr)
	if err != nil {
		return err
	}
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return err
	}
	conn.SetReadBuffer(4 << 20)
	pc := ipv4.NewPacketConn(conn)
	fmt.Println("ready")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		return err
	}
	window := c.window
	payload := make([]byte, c.size)
	send := func(k int) error {
		msgs := make([]ipv4.Message, k)
		for i := range msgs {
			msgs[i] = ipv4.Message{Buffers: [][]byte{payload}, Addr: raddr}
		}
		for sent := 0; sent < k; {
			n, err := pc.WriteBatch(msgs[sent:], 0)
			if err != nil {
				return err
			}
			sent += n
		}
		return nil
	}
	if err := send(window); err != nil {
		return err
	}
	in := make([]ipv4.Message, udpBatch)
	for i := range in {
		in[i].Buffers = [][]byte{make([]byte, 2048)}
	}
	for got := 0; got < c.count; {
		conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		n, err := pc.ReadBatch(in, 0)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				if err := send(window); err != nil {
					return err
				}
				continue
			}
			return err
		}
		got += n
		if err := send(n); err != nil {
			return err
		}
	}
	fmt.Println("done")
	return nil
}
