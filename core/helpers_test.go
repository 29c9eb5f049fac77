package core

import (
	"fmt"
	"testing"
	"time"
)

// recorder polls a loop and keeps every event (with its data copied) so
// tests can wait for conditions with a deadline.
type recorder struct {
	t    testing.TB
	l    *Loop
	evs  []Event
	buf  []Event
	byH  map[Handle][]Event
	data map[Handle][]byte
	on   func(ev Event) // called for every event as it is taken
}

// echoServer makes r echo every accepted socket's data back and
// half-close when the peer does.
func (r *recorder) echoServer() {
	r.on = func(ev Event) {
		s := ev.sock
		if s == nil || !s.accepted {
			return
		}
		switch ev.Type {
		case EvData:
			if _, e := s.Send(ev.Data); e != nil {
				r.t.Errorf("echo send: %v", e)
			}
		case EvEnd:
			s.HalfClose()
		}
	}
}

func newRecorder(t testing.TB) *recorder {
	l, err := NewLoop()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return &recorder{t: t, l: l, buf: make([]Event, 256), byH: map[Handle][]Event{}, data: map[Handle][]byte{}}
}

func (r *recorder) pump(timeout time.Duration) int {
	n, e := r.l.Poll(r.buf, timeout)
	if e != nil {
		r.t.Fatalf("poll: %v", e)
	}
	for i := 0; i < n; i++ {
		ev := r.buf[i]
		ev.Data = append([]byte(nil), ev.Data...)
		r.evs = append(r.evs, ev)
		r.byH[ev.Handle] = append(r.byH[ev.Handle], ev)
		if ev.Type == EvData {
			r.data[ev.Handle] = append(r.data[ev.Handle], ev.Data...)
		}
		if r.on != nil {
			r.on(ev)
		}
	}
	Release(r.buf[:n])
	return n
}

// until pumps events until cond holds or the timeout passes.
func (r *recorder) until(what string, timeout time.Duration, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			r.t.Fatalf("timed out waiting for %s; events: %s", what, r.summary())
		}
		r.pump(50 * time.Millisecond)
	}
}

func (r *recorder) has(h Handle, t EventType) bool {
	for _, ev := range r.byH[h] {
		if ev.Type == t {
			return true
		}
	}
	return false
}

func (r *recorder) first(h Handle, t EventType) *Event {
	for i, ev := range r.byH[h] {
		if ev.Type == t {
			return &r.byH[h][i]
		}
	}
	return nil
}

func (r *recorder) types(h Handle) []EventType {
	var out []EventType
	for _, ev := range r.byH[h] {
		out = append(out, ev.Type)
	}
	return out
}

func (r *recorder) summary() string {
	s := ""
	for h, evs := range r.byH {
		s += fmt.Sprintf("\n  %d:", h)
		for _, ev := range evs {
			s += " " + ev.Type.String()
			if ev.Type == EvError {
				s += fmt.Sprintf("(%s %s)", ev.Code.Name(), ev.Data)
			}
		}
	}
	return s
}

// listen opens a loopback TCP listener and returns it with its port.
func (r *recorder) listen(o TCPOptions) (*Socket, int) {
	r.t.Helper()
	if o.LocalAddress == "" {
		o.LocalAddress = "127.0.0.1"
	}
	s, e := Listen(r.l, o, 1)
	if e != nil {
		r.t.Fatalf("listen: %v", e)
	}
	return s, s.Info().LocalPort
}

// accepted returns the first socket accepted by ln.
func (r *recorder) accepted(ln *Socket) *Socket {
	r.t.Helper()
	r.until("CONNECTION", 5*time.Second, func() bool { return r.has(ln.h, EvConnection) })
	s, e := LookupSocket(r.first(ln.h, EvConnection).Accepted)
	if e != nil {
		r.t.Fatal(e)
	}
	return s
}
