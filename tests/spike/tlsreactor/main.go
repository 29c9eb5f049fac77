// Command tlsreactor is the measurement spike of issue 13: it compares where
// TLS, UDP and plain TCP bytes are read, decrypted, encrypted and written.
// Each measurement is a server process (this one) and a load generator (a
// child process running this binary with -peer); only the server's CPU time
// (getrusage RUSAGE_SELF, user+system) is counted, between the moment every
// connection is ready and the moment the load generator has seen all its
// work done. The suite interleaves modes round by round and prints medians.
//
// Results and the design they support: docs/io-owner-design.md.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime/pprof"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

type config struct {
	peer  bool
	mode  string // gor | handoff | reactor | inline | batch | hybrid | udp-gor | udp-handoff | udp-batch
	work  string // bulk | pingpong | send | udp
	tls   bool
	conns int
	size  int
	count int
	addr  string
	// UDP: datagrams the load generator keeps in flight; a deep window
	// lets datagrams queue up between the server's reads.
	window int
}

// result is one measurement, printed as one line for the suite to parse.
type result struct {
	cpu   time.Duration // server user+system CPU
	wall  time.Duration
	units float64 // what "per" means: MB, round trips, messages, datagrams
	note  string  // optional detail for the log
}

func main() {
	var c config
	var suite string
	var rounds int
	flag.BoolVar(&c.peer, "peer", false, "run as the load generator (internal)")
	flag.StringVar(&c.mode, "mode", "reactor", "server model")
	flag.StringVar(&c.work, "work", "pingpong", "workload: bulk, pingpong, send, udp")
	flag.BoolVar(&c.tls, "tls", true, "TLS 1.3 (AES-128-GCM) instead of plain TCP")
	flag.IntVar(&c.conns, "conns", 100, "connections")
	flag.IntVar(&c.size, "size", 64, "bytes per message")
	flag.IntVar(&c.count, "count", 2000, "messages per connection (UDP: datagrams in total)")
	flag.StringVar(&c.addr, "addr", "", "server address (internal)")
	flag.IntVar(&c.window, "window", 256, "UDP datagrams in flight")
	flag.StringVar(&suite, "suite", "", "run a named suite of interleaved rounds: "+strings.Join(suiteNames(), ", "))
	flag.IntVar(&rounds, "rounds", 3, "rounds per suite")
	flag.Parse()

	var err error
	switch {
	case c.peer:
		err = runPeer(c)
	case suite == "micro":
		err = runMicro(rounds)
	case suite != "":
		err = runSuite(suite, rounds)
	default:
		var r result
		r, err = measure(c)
		if err == nil {
			fmt.Printf("RESULT cpu_us=%d wall_us=%d units=%g %s\n", r.cpu.Microseconds(), r.wall.Microseconds(), r.units, r.note)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tlsreactor:", err)
		os.Exit(1)
	}
}

func cpuTime() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// server is what each model implements: listen opens a loopback socket,
// ready returns once every connection is accepted and its handshake done,
// begin starts the workload; the peer's "done" ends the measurement.
type server interface {
	listen(c config) (addr string, err error)
	ready() error
	begin()
	units() float64
}

// measure runs one server model against one load generator.
func measure(c config) (result, error) {
	s, err := newServer(c)
	if err != nil {
		return result{}, err
	}
	addr, err := s.listen(c)
	if err != nil {
		return result{}, err
	}
	args := []string{"-peer", "-addr", addr, "-work", c.work, fmt.Sprintf("-tls=%v", c.tls),
		fmt.Sprint("-conns=", c.conns), fmt.Sprint("-size=", c.size), fmt.Sprint("-count=", c.count), fmt.Sprint("-window=", c.window)}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		return result{}, err
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	if err := s.ready(); err != nil {
		return result{}, err
	}
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() || lines.Text() != "ready" {
		return result{}, fmt.Errorf("peer did not get ready: %q", lines.Text())
	}
	if path := os.Getenv("TLSREACTOR_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return result{}, err
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	cpu0, t0 := cpuTime(), time.Now()
	s.begin()
	fmt.Fprintln(stdin, "go")
	if !lines.Scan() || lines.Text() != "done" {
		return result{}, fmt.Errorf("peer failed: %q", lines.Text())
	}
	cpu1, t1 := cpuTime(), time.Now()
	r := result{cpu: cpu1 - cpu0, wall: t1.Sub(t0), units: s.units()}
	if n, ok := s.(interface{ note() string }); ok {
		r.note = n.note()
	}
	return r, nil
}

func newServer(c config) (server, error) {
	switch c.mode {
	case "gor", "handoff":
		return &goroutineServer{}, nil
	case "reactor", "inline", "batch", "hybrid":
		return &reactorServer{}, nil
	case "udp-gor", "udp-handoff", "udp-batch":
		return &udpServer{}, nil
	}
	return nil, fmt.Errorf("unknown mode %q", c.mode)
}
