package main

import (
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
)

type suiteCase struct {
	label string
	args  []string
	unit  string
}

func tlsCases(tlsOn string, modes ...string) []suiteCase {
	var cases []suiteCase
	for _, m := range modes {
		cases = append(cases,
			suiteCase{"bulk 1 conn, " + m, []string{"-mode", m, "-tls=" + tlsOn, "-work", "bulk", "-conns=1", "-size=65536", "-count=2000"}, "MB"},
			suiteCase{"bulk 100 conns, " + m, []string{"-mode", m, "-tls=" + tlsOn, "-work", "bulk", "-conns=100", "-size=65536", "-count=20"}, "MB"},
			suiteCase{"ping-pong 64 B, 100 conns, " + m, []string{"-mode", m, "-tls=" + tlsOn, "-work", "pingpong", "-conns=100", "-size=64", "-count=400"}, "round trip"},
		)
	}
	return cases
}

func sendCases(tlsOn string) []suiteCase {
	var cases []suiteCase
	for _, m := range []string{"gor", "inline", "batch", "hybrid"} {
		cases = append(cases,
			suiteCase{"send 64 B, 1 conn, " + m, []string{"-mode", m, "-tls=" + tlsOn, "-work", "send", "-conns=1", "-size=64", "-count=100000"}, "message"},
			suiteCase{"send 64 B, 100 conns, " + m, []string{"-mode", m, "-tls=" + tlsOn, "-work", "send", "-conns=100", "-size=64", "-count=1000"}, "message"},
			suiteCase{"send 64 KiB, 1 conn, " + m, []string{"-mode", m, "-tls=" + tlsOn, "-work", "send", "-conns=1", "-size=65536", "-count=1500"}, "message"},
			suiteCase{"send 64 KiB, 100 conns, " + m, []string{"-mode", m, "-tls=" + tlsOn, "-work", "send", "-conns=100", "-size=65536", "-count=15"}, "message"},
		)
	}
	return cases
}

var suites = map[string][]suiteCase{
	"tls-recv":   tlsCases("true", "gor", "handoff", "reactor"),
	"plain-recv": tlsCases("false", "gor", "handoff", "reactor"),
	"tls-send":   sendCases("true"),
	"plain-send": sendCases("false"),
	"udp": {
		{"UDP echo 64 B, udp-gor", []string{"-mode", "udp-gor", "-work", "udp", "-size=64", "-count=200000"}, "datagram"},
		{"UDP echo 64 B, udp-handoff", []string{"-mode", "udp-handoff", "-work", "udp", "-size=64", "-count=200000"}, "datagram"},
		{"UDP echo 64 B, udp-batch", []string{"-mode", "udp-batch", "-work", "udp", "-size=64", "-count=200000"}, "datagram"},
	},
}

func suiteNames() []string {
	names := []string{"micro"}
	for n := range suites {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// runSuite runs every case once per round, cases interleaved, each in a
// fresh process, and prints medians as a Markdown table.
func runSuite(name string, rounds int) error {
	cases, ok := suites[name]
	if !ok {
		return fmt.Errorf("unknown suite %q (have %s)", name, strings.Join(suiteNames(), ", "))
	}
	perCPU := make([][]float64, len(cases))  // µs CPU per unit
	perSec := make([][]float64, len(cases))  // units per CPU-second
	perWall := make([][]float64, len(cases)) // units per wall second
	for r := 0; r < rounds; r++ {
		for i, sc := range cases {
			out, err := exec.Command(os.Args[0], sc.args...).CombinedOutput()
			if err != nil {
				return fmt.Errorf("%s: %v\n%s", sc.label, err, out)
			}
			var cpu, wall int64
			var units float64
			line := string(out[strings.LastIndex(string(out), "RESULT"):])
			if _, err := fmt.Sscanf(line, "RESULT cpu_us=%d wall_us=%d units=%g", &cpu, &wall, &units); err != nil {
				return fmt.Errorf("%s: %q: %v", sc.label, out, err)
			}
			perCPU[i] = append(perCPU[i], float64(cpu)/units)
			perSec[i] = append(perSec[i], units/(float64(cpu)/1e6))
			perWall[i] = append(perWall[i], units/(float64(wall)/1e6))
			fmt.Fprintf(os.Stderr, "round %d %-36s %8.3f µs CPU/%s\n", r+1, sc.label, float64(cpu)/units, sc.unit)
		}
	}
	fmt.Printf("| %s (median of %d) | CPU µs per unit | units per CPU-s | units per wall-s |\n|---|---|---|---|\n", name, rounds)
	for i, sc := range cases {
		fmt.Printf("| %s | %.3f / %s | %.0f | %.0f |\n", sc.label, median(perCPU[i]), sc.unit, median(perSec[i]), median(perWall[i]))
	}
	return nil
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}
