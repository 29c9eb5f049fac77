package core

import (
	"crypto/rand"
	"crypto/sha256"
	"io"
	"net"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// A peer sending 100 MB to a paused socket is held back by TCP: our memory
// stays bounded, and after resume every byte arrives intact.
func TestPauseResumeHundredMegabytes(t *testing.T) {
	r := newRecorder(t)
	ln, port := r.listen(DefaultTCPOptions())
	const total = 100 << 20
	chunk := make([]byte, 1<<20)
	rand.Read(chunk)
	sent := make(chan int64, 1)
	wantSum := sha256.New()
	for i := 0; i < total/len(chunk); i++ {
		wantSum.Write(chunk)
	}
	go func() {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			sent <- -1
			return
		}
		defer c.Close()
		var n int64
		for i := 0; i < total/len(chunk); i++ {
			m, err := c.Write(chunk)
			n += int64(m)
			if err != nil {
				break
			}
		}
		c.(*net.TCPConn).CloseWrite()
		sent <- n
		io.Copy(io.Discard, c)
	}()
	srv := r.accepted(ln)
	srv.Pause()
	// Let the sender run into the full windows; the reader must not move.
	settle := time.Now().Add(200 * time.Millisecond)
	for time.Now().Before(settle) {
		r.pump(20 * time.Millisecond)
	}
	got1 := srv.Info().BytesReceived
	deadline := time.Now().Add(800 * time.Millisecond)
	for time.Now().Before(deadline) {
		r.pump(50 * time.Millisecond)
	}
	got2 := srv.Info().BytesReceived
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	if got2 != got1 {
		t.Fatalf("paused socket went on reading: %d then %d bytes", got1, got2)
	}
	if ms.HeapInuse > 64<<20 {
		t.Fatalf("heap in use %d MB while paused", ms.HeapInuse>>20)
	}
	select {
	case n := <-sent:
		t.Fatalf("sender finished (%d bytes) although the reader is paused", n)
	default:
	}
	// Resume and consume everything, checking that the heap stays bounded:
	// the loop queue never holds more than the receive high-water mark.
	srv.Resume()
	// Whatever was delivered before the pause took effect counts too.
	sum := sha256.New()
	sum.Write(r.data[srv.h])
	received := int64(len(r.data[srv.h]))
	maxHeap := uint64(0)
	end := time.Now().Add(60 * time.Second)
	for !r.has(srv.h, EvEnd) && time.Now().Before(end) {
		n, e := r.l.Poll(r.buf, 50*time.Millisecond)
		if e != nil {
			t.Fatal(e)
		}
		for _, ev := range r.buf[:n] {
			if ev.Handle == srv.h {
				r.byH[ev.Handle] = append(r.byH[ev.Handle], Event{Type: ev.Type})
				if ev.Type == EvData {
					sum.Write(ev.Data)
					received += int64(len(ev.Data))
					if received%(16<<20) < int64(len(ev.Data)) {
						runtime.ReadMemStats(&ms)
						maxHeap = max(maxHeap, ms.HeapInuse)
					}
				}
			}
		}
		Release(r.buf[:n])
	}
	if received != total || string(sum.Sum(nil)) != string(wantSum.Sum(nil)) {
		t.Fatalf("received %d of %d bytes (checksum match: %v)", received, total, string(sum.Sum(nil)) == string(wantSum.Sum(nil)))
	}
	if maxHeap > 64<<20 {
		t.Fatalf("heap reached %d MB while draining", maxHeap>>20)
	}
	if n := <-sent; n != total {
		t.Fatalf("sender wrote %d", n)
	}
}

// Without pause, a host that does not poll stops the reader at the receive
// high-water mark.
func TestReceiveHighWaterStopsReading(t *testing.T) {
	for _, mode := range []string{"host reads", "reader goroutines"} {
		t.Run(mode, func(t *testing.T) { receiveHighWater(t, mode == "reader goroutines") })
	}
}

func receiveHighWater(t *testing.T, goroutines bool) {
	r := newRecorder(t)
	if goroutines {
		r.l.SetNotify(func() {})
	}
	o := DefaultTCPOptions()
	o.HighWaterReceive = 256 << 10
	ln, port := r.listen(o)
	go func() {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 1<<20)
		for i := 0; i < 64; i++ {
			c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	}()
	srv := r.accepted(ln)
	start := srv.Info().BytesReceived
	time.Sleep(500 * time.Millisecond) // nobody polls: reading must stop
	if got := srv.Info().BytesReceived - start; got > 256<<10+readBufSize {
		t.Fatalf("read %d bytes without delivery; mark is %d", got, 256<<10)
	}
	before := srv.Info().BytesReceived
	r.until("more data once delivered", 10*time.Second, func() bool { return srv.Info().BytesReceived > before+(1<<20) })
}

// send never drops, returns the buffered amount, and DRAIN follows once a
// send that reached the high-water mark has been flushed.
func TestDrainOrdering(t *testing.T) {
	r := newRecorder(t)
	ln, port := r.listen(DefaultTCPOptions())
	o := DefaultTCPOptions()
	o.HighWaterSend = 64 << 10
	c, _ := Connect(r.l, "127.0.0.1", port, o, 0)
	srv := r.accepted(ln)
	srv.Pause()
	r.until("OPEN", 5*time.Second, func() bool { return r.has(c.h, EvOpen) })
	block := make([]byte, 256<<10)
	var last int64
	for i := 0; i < 40; i++ { // 10 MB: far more than the socket buffers hold
		b, e := c.Send(block)
		if e != nil {
			t.Fatal(e)
		}
		last = b
	}
	if last < o.HighWaterSend {
		t.Fatalf("buffered amount %d is below the mark after 10 MB to a paused peer", last)
	}
	// Nothing may be flushed yet, so no DRAIN.
	r.pump(200 * time.Millisecond)
	if r.has(c.h, EvDrain) {
		t.Fatal("DRAIN before the buffer emptied")
	}
	srv.Resume()
	r.until("DRAIN", 30*time.Second, func() bool { return r.has(c.h, EvDrain) })
	if b := c.Info().BufferedAmount; b != 0 {
		t.Fatalf("buffered %d after DRAIN", b)
	}
	r.until("all data", 30*time.Second, func() bool { return len(r.data[srv.h]) == 40*len(block) })
	// A small send below the mark gets no DRAIN of its own.
	drains := 0
	c.Send([]byte("small"))
	r.until("small data", 5*time.Second, func() bool { return len(r.data[srv.h]) == 40*len(block)+5 })
	for _, ty := range r.types(c.h) {
		if ty == EvDrain {
			drains++
		}
	}
	if drains != 1 {
		t.Fatalf("%d DRAIN events: %v", drains, r.types(c.h))
	}
	c.Close()
	r.until("CLOSE", 5*time.Second, func() bool { return r.has(c.h, EvClose) })
}

// Graceful close flushes what was queued before CLOSE.
func TestCloseFlushesQueue(t *testing.T) {
	r := newRecorder(t)
	ln, port := r.listen(DefaultTCPOptions())
	c, _ := Connect(r.l, "127.0.0.1", port, DefaultTCPOptions(), 0)
	payload := make([]byte, 8<<20)
	rand.Read(payload)
	c.Send(payload)
	c.Close()
	if st := c.State(); st != StateClosing && st != StateClosed && st != StateOpening {
		t.Fatalf("state after close: %d", st)
	}
	srv := r.accepted(ln)
	r.until("server END", 30*time.Second, func() bool { return r.has(srv.h, EvEnd) })
	if sha256.Sum256(r.data[srv.h]) != sha256.Sum256(payload) {
		t.Fatalf("server got %d of %d bytes", len(r.data[srv.h]), len(payload))
	}
	r.until("client CLOSE", 5*time.Second, func() bool { return r.has(c.h, EvClose) })
	if r.has(c.h, EvError) {
		t.Fatal(r.summary())
	}
}
