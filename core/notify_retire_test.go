package core

import (
	"testing"
	"time"
)

// A notification that was pending when its function was replaced, removed
// or its loop closed must not run that function afterwards: the host may
// free what the function uses (a koffi callback it unregisters, a C
// user pointer) as soon as w3s_loop_set_notify / w3s_loop_close return.
func TestNotifyPendingSignalDoesNotOutliveRemoval(t *testing.T) {
	for _, how := range []string{"remove", "replace", "close"} {
		t.Run(how, func(t *testing.T) {
			l, err := NewLoop()
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			entered := make(chan struct{}, 4)
			release := make(chan struct{})
			calls := make(chan struct{}, 4)
			l.SetNotify(func() {
				calls <- struct{}{}
				entered <- struct{}{}
				<-release
			})
			// First event (a UDP socket's OPEN): the notifier runs fn, which blocks.
			openUDP := func() {
				o := DefaultUDPOptions()
				o.LocalAddress = "127.0.0.1"
				if _, e := OpenUDP(l, o, 0); e != nil {
					t.Fatal(e)
				}
			}
			openUDP()
			waitFor(t, entered, "first notification")
			// Empty the queue, then a second event: its signal stays pending
			// while fn is still blocked in the first call.
			evs := make([]Event, 16)
			for {
				n, e := l.Poll(evs, 0)
				if e != nil {
					t.Fatal(e)
				}
				if n == 0 {
					break
				}
			}
			openUDP()
			switch how {
			case "remove":
				l.SetNotify(nil)
			case "replace":
				l.SetNotify(func() {})
			case "close":
				l.Close()
			}
			close(release)
			// The first call returns; the retired notifier goroutine then
			// meets the pending signal and ends: wait for it to end.
			done := make(chan struct{})
			go func() { l.notifiers.Wait(); close(done) }()
			if how == "replace" {
				l.SetNotify(nil) // the replacement's goroutine ends too
			}
			waitFor(t, done, "the notifier goroutines to end")
			if n := len(calls); n != 1 {
				t.Fatalf("%s: %d calls, want 1", how, n)
			}
		})
	}
}

func waitFor(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}
