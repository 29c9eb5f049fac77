package main

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/w3sock/w3sock/core"
)

// FuzzOptionStructs lays fuzzed bytes over the C option structs (the size
// field included; string fields point at fuzzed strings) and decodes them
// as w3s_tcp_connect, w3s_tcp_listen, w3s_udp_open and w3s_start_tls do.
// Whatever the bytes, decoding ends in options or W3S_EINVAL: no panic, no
// other code, and what the strings said survives.
func FuzzOptionStructs(f *testing.F) {
	tcpSize, udpSize, tlsSize := optionStructSizes()
	withSize := func(n uintptr, extra ...byte) []byte {
		b := make([]byte, n)
		binary.LittleEndian.PutUint32(b, uint32(n))
		copy(b[4:], extra)
		return b
	}
	f.Add(withSize(tcpSize), withSize(tlsSize), "127.0.0.1", "h2, http/1.1", "tls1.2", true)
	f.Add(withSize(tcpSize, 0xff, 0xff, 0xff, 0xff), []byte{1, 2}, "", ",,", "tls1.3", false)
	f.Add(withSize(udpSize, 0, 0, 0x80), withSize(tlsSize, 1), "::1", "x", "", true)
	f.Add([]byte{8, 0, 0, 0}, []byte{}, "a,b", "c", "d", true)
	f.Fuzz(func(t *testing.T, raw, tlsRaw []byte, s1, s2, s3 string, withTLS bool) {
		if strings.ContainsRune(s1+s2+s3, 0) {
			return // C strings end at the first NUL
		}
		strs := []string{s1, s2, s3, s2, s1, s3, s2, s1}
		var tr []byte
		if withTLS {
			tr = tlsRaw
		}
		tcp, e := fuzzTCPStruct(raw, tr, strs)
		checkDecode(t, "tcp", raw, tcpSize, e)
		if e == nil && complete(raw, tcpSize) {
			if tcp.LocalAddress != s1 {
				t.Fatalf("local_address %q decoded as %q", s1, tcp.LocalAddress)
			}
			if tcp.ConnectTimeout < 0 || tcp.KeepAliveDelay < 0 {
				t.Fatalf("negative time accepted: %+v", tcp)
			}
			if ve := tcp.Validate(); ve != nil && ve.Code != core.EINVAL && ve.Code != core.EADDR {
				t.Fatalf("Validate: %s", ve.Code.Name())
			}
			if tcp.TLS != nil && complete(tr, tlsSize) {
				checkTLS(t, tcp.TLS, strs[1:])
			}
		}
		if e == nil && complete(raw, tcpSize) && withTLS && tcp.TLS == nil {
			t.Fatalf("a tls pointer was given and dropped")
		}
		udp, e := fuzzUDPStruct(raw, strs)
		checkDecode(t, "udp", raw, udpSize, e)
		if e == nil && complete(raw, udpSize) && (udp.LocalAddress != s1 || udp.RemoteAddress != s2 || udp.MulticastInterface != s3) {
			t.Fatalf("udp strings %q %q %q decoded as %+v", s1, s2, s3, udp)
		}
		tls, e := fuzzTLSStruct(tlsRaw, strs)
		checkDecode(t, "tls", tlsRaw, tlsSize, e)
		if e == nil && complete(tlsRaw, tlsSize) {
			checkTLS(t, tls, strs)
		}
	})
}

// checkDecode: any error is EINVAL. A size field below 4 or above
// maxStructSize is refused; a struct larger than the library's is taken
// only when its unknown tail is zero (capi/sized.go); a smaller one is taken
// with defaults for the fields it lacks.
func checkDecode(t *testing.T, what string, raw []byte, want uintptr, e *core.Error) {
	size := claimedSize(raw)
	if e != nil && e.Code != core.EINVAL {
		t.Fatalf("%s: %s (%s), want EINVAL or success", what, e.Code.Name(), e.Msg)
	}
	if e != nil {
		return
	}
	if size < 4 || size > maxStructSize || size%inputAlign != 0 {
		t.Fatalf("%s: size %d accepted", what, size)
	}
	for i := want; i < size && i < uintptr(len(raw)); i++ {
		if raw[i] != 0 {
			t.Fatalf("%s: size %d with byte %d of the unknown tail set accepted", what, size, i)
		}
	}
}

// complete: the struct's size field covers this library's whole layout, so
// every field the test filled in is read (a smaller caller's struct keeps
// the defaults for what it lacks).
func complete(raw []byte, want uintptr) bool { return claimedSize(raw) >= want }

// checkTLS: the strings arrive as given; the ALPN list is split on commas
// into trimmed names.
func checkTLS(t *testing.T, o *core.TLSOptions, strs []string) {
	if o.ServerName != strs[0] || o.CAPEM != strs[1] || o.CertPEM != strs[2] || o.KeyPEM != strs[3] ||
		o.MinVersion != strs[5] || o.MaxVersion != strs[6] {
		t.Fatalf("tls strings %q decoded as %+v", strs, o)
	}
	alpn := strs[4]
	if alpn == "" {
		if len(o.ALPN) != 0 {
			t.Fatalf("no alpn decoded as %q", o.ALPN)
		}
		return
	}
	if len(o.ALPN) != strings.Count(alpn, ",")+1 {
		t.Fatalf("alpn %q decoded as %q", alpn, o.ALPN)
	}
	for _, p := range o.ALPN {
		if strings.Contains(p, ",") || strings.TrimSpace(p) != p {
			t.Fatalf("alpn %q gave name %q", alpn, p)
		}
	}
}
