package core

import (
	"crypto/tls"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Fuzz targets for what the library parses from its callers: addresses,
// ports and host names, and TLS options (PEM, versions, ALPN lists). Each
// input must end in a result or a documented error code, never a panic,
// and a result must say what the input said. Seeds are in
// testdata/fuzz/<target>; `make fuzz` runs each for minutes.

func FuzzAddress(f *testing.F) {
	for _, s := range []struct {
		host string
		port int
	}{
		{"127.0.0.1", 80}, {"::1", 443}, {"[::1]", 1}, {"fe80::1%lo", 65535}, {"localhost", 0},
		{"unix:/tmp/x.sock", 0}, {"unix:", 5}, {"", 1}, {"::ffff:10.0.0.1", 70000},
		{"ff02::1%1", 9}, {"224.0.0.251", -1}, {"a.b-c_d", 22}, {"1.2.3.4.5", 8},
	} {
		f.Add(s.host, s.port)
	}
	f.Fuzz(func(t *testing.T, host string, port int) {
		checkDialTarget(t, host, port)
		checkLocalIP(t, host)
		checkSockaddr(t, host, port)
		checkMembership(t, host)
		if validHostName(host) && (len(host) > 253 || strings.ContainsAny(host, ":/% ")) {
			t.Fatalf("validHostName(%q) accepted it", host)
		}
	})
}

func checkDialTarget(t *testing.T, host string, port int) {
	network, addr, e := dialTarget(host, port)
	if e != nil {
		if e.Code != EINVAL && e.Code != EADDR {
			t.Fatalf("dialTarget(%q, %d): %s, want EINVAL or success", host, port, e.Code.Name())
		}
		return
	}
	switch network {
	case "unix":
		if "unix:"+addr != host || addr == "" {
			t.Fatalf("dialTarget(%q): unix path %q", host, addr)
		}
	case "tcp":
		h, p, err := net.SplitHostPort(addr)
		if strings.HasPrefix(host, "[") {
			h = "[" + h + "]"
		}
		if err != nil || h != host || p != strconv.Itoa(port) || port < 1 || port > 65535 {
			t.Fatalf("dialTarget(%q, %d) = %q: does not split back (%v)", host, port, addr, err)
		}
	default:
		t.Fatalf("dialTarget(%q): network %q", host, network)
	}
}

func checkLocalIP(t *testing.T, a string) {
	ip, e := parseLocalIP(a)
	switch {
	case e != nil && e.Code != EADDR:
		t.Fatalf("parseLocalIP(%q): %s, want EADDR", a, e.Code.Name())
	case e == nil && a == "" && ip != nil:
		t.Fatalf("parseLocalIP(\"\") = %v, want the wildcard", ip)
	case e == nil && a != "":
		want, err := netip.ParseAddr(a)
		if err != nil || !net.IP(want.AsSlice()).Equal(ip) {
			t.Fatalf("parseLocalIP(%q) = %v, the literal says %v", a, ip, want)
		}
	}
}

func checkSockaddr(t *testing.T, a string, port int) {
	for _, fam := range []uint16{4, 6} {
		s := &Socket{kind: KindUDP, family: fam}
		sa, e := s.sockaddr(a, port)
		if e != nil {
			if e.Code != EADDR && e.Code != EINVAL && e.Code != EFAMILY {
				t.Fatalf("sockaddr(%q, %d) on IPv%d: %s", a, port, fam, e.Code.Name())
			}
			continue
		}
		ip, _ := netip.ParseAddr(a)
		switch v := sa.(type) {
		case *unix.SockaddrInet4:
			if fam != 4 || v.Port != port || v.Addr != ip.Unmap().As4() {
				t.Fatalf("sockaddr(%q, %d) on IPv%d = %+v", a, port, fam, v)
			}
		case *unix.SockaddrInet6:
			if fam != 6 || v.Port != port || v.Addr != ip.As16() {
				t.Fatalf("sockaddr(%q, %d) on IPv%d = %+v", a, port, fam, v)
			}
		default:
			t.Fatalf("sockaddr(%q) returned %T", a, sa)
		}
	}
}

func checkMembership(t *testing.T, group string) {
	for _, fam := range []uint16{4, 6} {
		s := &Socket{kind: KindUDP, family: fam}
		m, _, e := s.parseMembership(group, "", "")
		if e != nil {
			switch e.Code {
			case EADDR, ENOTMULTICAST, EFAMILY:
			default:
				t.Fatalf("parseMembership(%q) on IPv%d: %s", group, fam, e.Code.Name())
			}
			continue
		}
		if !m.Group.IsMulticast() || fam == 4 && !m.Group.Is4() {
			t.Fatalf("parseMembership(%q) on IPv%d accepted %v", group, fam, m.Group)
		}
	}
}

// FuzzTLSOptions feeds the TLS settings a caller can give. alpn is split on
// commas like the C ABI does (capi tlsOptionsFromC; capi/fuzz_test.go fuzzes
// that split itself).
func FuzzTLSOptions(f *testing.F) {
	p := getPKI(f)
	f.Add(p.CAPEM, p.ServerCert, p.ServerKey, "h2,http/1.1", "", "", 0, "localhost", false)
	f.Add(p.CAPEM, p.ClientCert, p.ClientKey, "", "tls1.3", "tls1.2", 2, "", true)
	f.Add("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", p.ServerKey, p.ServerCert, ",", "tls1.0", "TLSv1.2", 7, "a..b", false)
	f.Add("", "", "", "x,,y", " 1.2 ", "1.3", 1, strings.Repeat("a", 254), false)
	f.Fuzz(func(t *testing.T, caPEM, certPEM, keyPEM, alpn, minV, maxV string, clientAuth int, serverName string, skip bool) {
		o := &TLSOptions{CAPEM: caPEM, CAReplaceSystem: true, CertPEM: certPEM, KeyPEM: keyPEM,
			MinVersion: minV, MaxVersion: maxV, ClientAuth: clientAuth, ServerName: serverName,
			InsecureSkipVerify: skip}
		if alpn != "" {
			for _, a := range strings.Split(alpn, ",") {
				o.ALPN = append(o.ALPN, strings.TrimSpace(a))
			}
		}
		allowed := map[Code]bool{EINVAL: true, ETLSBadPEM: true, ETLSVersion: true}
		cc, e := o.clientConfig("localhost")
		if e != nil && !allowed[e.Code] {
			t.Fatalf("clientConfig: %s (%s)", e.Code.Name(), e.Msg)
		}
		if e == nil {
			checkTLSConfig(t, o, cc)
			if len(cc.ServerName) > maxServerName || cc.ServerName == "" && !skip {
				t.Fatalf("client server name %q accepted", cc.ServerName)
			}
		}
		sc, e := o.serverConfig()
		if e != nil && !allowed[e.Code] {
			t.Fatalf("serverConfig: %s (%s)", e.Code.Name(), e.Msg)
		}
		if e == nil {
			checkTLSConfig(t, o, sc)
			if len(sc.Certificates) != 1 || clientAuth < ClientAuthNone || clientAuth > ClientAuthRequire {
				t.Fatalf("server config accepted %d certificates, client_auth %d", len(sc.Certificates), clientAuth)
			}
		}
	})
}

func checkTLSConfig(t *testing.T, o *TLSOptions, c *tls.Config) {
	if c.MinVersion < tls.VersionTLS12 || c.MaxVersion > tls.VersionTLS13 || c.MinVersion > c.MaxVersion {
		t.Fatalf("versions %x..%x from %q..%q", c.MinVersion, c.MaxVersion, o.MinVersion, o.MaxVersion)
	}
	if len(c.NextProtos) != len(o.ALPN) {
		t.Fatalf("ALPN %q became %q", o.ALPN, c.NextProtos)
	}
	for _, p := range c.NextProtos {
		if p == "" || len(p) > 255 {
			t.Fatalf("ALPN name %q accepted", p)
		}
	}
}
