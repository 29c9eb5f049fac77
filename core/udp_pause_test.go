package core

import (
	"net"
	"strconv"
	"testing"
	"time"
)

// pollFor polls l until an event of type want for socket s arrives.
func pollFor(t *testing.T, l *Loop, s *Socket, want EventType) {
	t.Helper()
	evs := make([]Event, 64)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		n, e := l.Poll(evs, time.Second)
		if e != nil {
			t.Fatal(e)
		}
		found := false
		for i := range evs[:n] {
			if evs[i].Handle == s.Handle() && evs[i].Type == want {
				found = true
			}
		}
		Release(evs[:n])
		if found {
			return
		}
	}
	t.Fatalf("no event %d for socket %d", want, s.Handle())
}

// A UDP socket paused while its reader waits for the next datagram reads
// nothing more: datagrams sent after Pause stay in the kernel. (Go's poller
// may report readiness instead of the read deadline Pause sets, so the
// reader also checks the flag itself.)
func TestUDPPauseStopsAWaitingReader(t *testing.T) {
	for round := 0; round < 50; round++ {
		l, err := NewLoop()
		if err != nil {
			t.Fatal(err)
		}
		open := func() *Socket {
			s, e := OpenUDP(l, UDPOptions{LocalAddress: "127.0.0.1", MulticastTTL: -1}, 0)
			if e != nil {
				t.Fatal(e)
			}
			pollFor(t, l, s, EvOpen)
			return s
		}
		rx, witness := open(), open()
		dial := func(s *Socket) net.Conn {
			c, err := net.Dial("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Info().LocalPort)))
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		toRx, toWitness := dial(rx), dial(witness)
		toRx.Write([]byte("before the pause"))
		pollFor(t, l, rx, EvMessage) // the reader is waiting again after this one
		rx.Pause()
		for i := 0; i < 40; i++ {
			toRx.Write([]byte("while paused"))
		}
		// Sent after the 40: once it is read, so could they have been.
		toWitness.Write([]byte("barrier"))
		pollFor(t, l, witness, EvMessage)
		if n := rx.Info().MessagesReceived; n != 1 {
			t.Fatalf("round %d: %d datagrams read while paused", round, n-1)
		}
		rx.Resume()
		toRx.Close()
		toWitness.Close()
		l.Close()
	}
}
