package core

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const tlsWait = 10 * time.Second

// readModes runs f with the loop reading plain sockets on the polling
// thread (the default) and with reader goroutines (notify mode, as the
// Node binding uses): STARTTLS must be safe in both.
func readModes(t *testing.T, f func(t *testing.T, notify bool)) {
	t.Run("host-reads", func(t *testing.T) { f(t, false) })
	t.Run("notify", func(t *testing.T) { f(t, true) })
}

func newModeRecorder(t *testing.T, notify bool) *recorder {
	r := newRecorder(t)
	if notify {
		r.l.SetNotify(func() {})
	}
	return r
}

// tlsListen opens a loopback listener with use_secure_transport.
func (r *recorder) tlsListen(o *TLSOptions) (*Socket, int) {
	r.t.Helper()
	lo := DefaultTCPOptions()
	lo.UseSecureTransport = true
	lo.TLS = o
	return r.listen(lo)
}

func (r *recorder) tlsConnect(host string, port int, o *TLSOptions) *Socket {
	r.t.Helper()
	co := DefaultTCPOptions()
	co.UseSecureTransport = true
	co.TLS = o
	c, e := Connect(r.l, host, port, co, 0)
	if e != nil {
		r.t.Fatalf("connect: %v", e)
	}
	return c
}

// closed waits for CLOSE of h and returns the ERROR code (OK if none).
func (r *recorder) closedWith(h Handle) Code {
	r.t.Helper()
	r.until("CLOSE", tlsWait, func() bool { return r.has(h, EvClose) })
	if ev := r.first(h, EvError); ev != nil {
		return ev.Code
	}
	return OK
}

func (r *recorder) errMsg(h Handle) string {
	if ev := r.first(h, EvError); ev != nil {
		return string(ev.Data)
	}
	return ""
}

// indexOf is the position of the first event of type t for h, -1 if none.
func (r *recorder) indexOf(h Handle, t EventType) int {
	for i, ev := range r.byH[h] {
		if ev.Type == t {
			return i
		}
	}
	return -1
}

func TestTLSClientServerEchoAndInfo(t *testing.T) { readModes(t, runTLSClientServerEchoAndInfo) }

func runTLSClientServerEchoAndInfo(t *testing.T, notify bool) {
	p := getPKI(t)
	r := newModeRecorder(t, notify)
	r.echoServer()
	lo := p.serverTLS()
	lo.ClientAuth = ClientAuthRequest
	ln, port := r.tlsListen(lo)
	co := p.clientTLS()
	co.CertPEM, co.KeyPEM = p.ClientCert, p.ClientKey
	c := r.tlsConnect("localhost", port, co)
	r.until("client SECURE", tlsWait, func() bool { return r.has(c.h, EvSecure) || r.has(c.h, EvClose) })
	if r.has(c.h, EvError) {
		t.Fatalf("client: %s", r.summary())
	}
	// OPEN comes after the handshake, SECURE right after it.
	if o, s := r.indexOf(c.h, EvOpen), r.indexOf(c.h, EvSecure); o != 0 || s != 1 {
		t.Fatalf("client events %v", r.types(c.h))
	}
	srv := r.accepted(ln)
	r.until("server SECURE", tlsWait, func() bool { return r.has(srv.h, EvSecure) })
	if ty := r.types(srv.h); ty[0] != EvSecure {
		t.Fatalf("accepted socket's first event is %v, want SECURE", ty)
	}
	msg := []byte("hello over TLS\n")
	c.Send(msg)
	r.until("echo", tlsWait, func() bool { return len(r.data[c.h]) >= len(msg) })
	if !bytes.Equal(r.data[c.h], msg) {
		t.Fatalf("echo %q", r.data[c.h])
	}
	ci, si := c.Info(), srv.Info()
	if !ci.Secure || !si.Secure {
		t.Fatalf("secure flags %v %v", ci.Secure, si.Secure)
	}
	if ci.TLS.Version != "tls1.3" || si.TLS.Version != "tls1.3" {
		t.Fatalf("versions %q %q", ci.TLS.Version, si.TLS.Version)
	}
	if !strings.HasPrefix(ci.TLS.Cipher, "TLS_") || ci.TLS.Cipher != si.TLS.Cipher {
		t.Fatalf("ciphers %q %q", ci.TLS.Cipher, si.TLS.Cipher)
	}
	if ci.TLS.ServerName != "localhost" || si.TLS.ServerName != "localhost" {
		t.Fatalf("server names %q %q", ci.TLS.ServerName, si.TLS.ServerName)
	}
	if !strings.Contains(ci.TLS.PeerSubject, "CN=localhost") || !strings.Contains(ci.TLS.PeerIssuer, "CN=w3sock test CA") {
		t.Fatalf("client sees peer %q issued by %q", ci.TLS.PeerSubject, ci.TLS.PeerIssuer)
	}
	if !strings.Contains(si.TLS.PeerSubject, "CN=w3sock test client") || !strings.Contains(si.TLS.PeerIssuer, "CN=w3sock test CA") {
		t.Fatalf("server sees peer %q issued by %q", si.TLS.PeerSubject, si.TLS.PeerIssuer)
	}
	// Half-close over TLS: close_notify + FIN, the echo server answers in kind.
	c.HalfClose()
	if code := r.closedWith(c.h); code != OK || !r.has(c.h, EvEnd) {
		t.Fatalf("close: %s", r.summary())
	}
	r.until("server CLOSE", tlsWait, func() bool { return r.has(srv.h, EvClose) })
	if r.has(srv.h, EvError) {
		t.Fatalf("server: %s", r.summary())
	}
	if d := ln.Info().MessagesDropped; d != 0 {
		t.Fatalf("listener dropped %d handshakes", d)
	}
}

func TestTLSVerifyByDefaultAndInsecureSkip(t *testing.T) {
	p := getPKI(t)
	r := newRecorder(t)
	_, port := r.tlsListen(p.serverTLS())
	// No options: system roots, which do not hold the throwaway CA.
	c := r.tlsConnect("localhost", port, nil)
	if code := r.closedWith(c.h); code != ETLSUnknownCA || r.has(c.h, EvOpen) {
		t.Fatalf("default verification: %s", r.summary())
	}
	// CA added to (not replacing) the system roots also verifies.
	co := p.clientTLS()
	co.CAReplaceSystem = false
	c2 := r.tlsConnect("localhost", port, co)
	r.until("SECURE", tlsWait, func() bool { return r.has(c2.h, EvSecure) || r.has(c2.h, EvClose) })
	if !r.has(c2.h, EvSecure) {
		t.Fatalf("CA added to system roots: %s", r.summary())
	}
	// Only an explicit insecure_skip_verify accepts an unverifiable peer.
	c3 := r.tlsConnect("localhost", port, &TLSOptions{InsecureSkipVerify: true})
	r.until("SECURE", tlsWait, func() bool { return r.has(c3.h, EvSecure) || r.has(c3.h, EvClose) })
	if !r.has(c3.h, EvSecure) {
		t.Fatalf("insecure_skip_verify: %s", r.summary())
	}
	c2.Abort()
	c3.Abort()
}

// TestTLSErrors checks each certificate and protocol failure gets its own
// code and a message that says what went wrong.
func TestTLSErrors(t *testing.T) {
	p := getPKI(t)
	cases := []struct {
		name   string
		server *TLSOptions
		client *TLSOptions
		host   string
		want   Code
		msg    string
	}{
		{"unknown authority", &TLSOptions{CertPEM: p.RogueCert, KeyPEM: p.RogueKey}, p.clientTLS(), "localhost", ETLSUnknownCA, "unknown authority"},
		{"wrong host", &TLSOptions{CertPEM: p.WrongHost, KeyPEM: p.WrongKey}, p.clientTLS(), "localhost", ETLSHostname, "localhost"},
		{"wrong IP", &TLSOptions{CertPEM: p.WrongHost, KeyPEM: p.WrongKey}, p.clientTLS(), "127.0.0.1", ETLSHostname, "127.0.0.1"},
		{"server_name overrides host", p.serverTLS(), &TLSOptions{CAPEM: p.CAPEM, CAReplaceSystem: true, ServerName: "mail.example.org"}, "localhost", ETLSHostname, "mail.example.org"},
		{"expired", &TLSOptions{CertPEM: p.Expired, KeyPEM: p.ExpiredKey}, p.clientTLS(), "localhost", ETLSExpired, "expired"},
		{"version: client max 1.2, server min 1.3", &TLSOptions{CertPEM: p.ServerCert, KeyPEM: p.ServerKey, MinVersion: "tls1.3"},
			&TLSOptions{CAPEM: p.CAPEM, CAReplaceSystem: true, MaxVersion: "tls1.2"}, "localhost", ETLSVersion, "version"},
		{"version: client min 1.3, server max 1.2", &TLSOptions{CertPEM: p.ServerCert, KeyPEM: p.ServerKey, MaxVersion: "tls1.2"},
			&TLSOptions{CAPEM: p.CAPEM, CAReplaceSystem: true, MinVersion: "tls1.3"}, "localhost", ETLSVersion, "version"},
		{"client cert required (tls1.2)", &TLSOptions{CertPEM: p.ServerCert, KeyPEM: p.ServerKey, CAPEM: p.CAPEM, CAReplaceSystem: true, ClientAuth: ClientAuthRequire},
			&TLSOptions{CAPEM: p.CAPEM, CAReplaceSystem: true, MaxVersion: "tls1.2"}, "localhost", ETLSCertReq, ""},
		{"client cert required (tls1.3)", &TLSOptions{CertPEM: p.ServerCert, KeyPEM: p.ServerKey, CAPEM: p.CAPEM, CAReplaceSystem: true, ClientAuth: ClientAuthRequire},
			p.clientTLS(), "localhost", ETLSCertReq, "certificate"},
		{"client cert rejected", &TLSOptions{CertPEM: p.ServerCert, KeyPEM: p.ServerKey, CAPEM: p.CAPEM, CAReplaceSystem: true, ClientAuth: ClientAuthRequire},
			&TLSOptions{CAPEM: p.CAPEM, CAReplaceSystem: true, CertPEM: p.RogueCli, KeyPEM: p.RogueCliK}, "localhost", ETLSCertRejectd, "certificate"},
		{"client cert rejected (tls1.2)", &TLSOptions{CertPEM: p.ServerCert, KeyPEM: p.ServerKey, CAPEM: p.CAPEM, CAReplaceSystem: true, ClientAuth: ClientAuthRequest},
			&TLSOptions{CAPEM: p.CAPEM, CAReplaceSystem: true, CertPEM: p.RogueCli, KeyPEM: p.RogueCliK, MaxVersion: "tls1.2"}, "localhost", ETLSCertRejectd, "certificate"},
		{"no common ALPN", &TLSOptions{CertPEM: p.ServerCert, KeyPEM: p.ServerKey, ALPN: []string{"imap"}},
			&TLSOptions{CAPEM: p.CAPEM, CAReplaceSystem: true, ALPN: []string{"smtp"}}, "localhost", ETLS, "protocol"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRecorder(t)
			r.echoServer()
			ln, port := r.tlsListen(tc.server)
			c := r.tlsConnect(tc.host, port, tc.client)
			// In TLS 1.3 the client finishes first; a server's refusal of
			// its certificate arrives as an alert on the first read.
			c.Send([]byte("ping"))
			code := r.closedWith(c.h)
			if code != tc.want {
				t.Fatalf("got %s (%s), want %s; %s", code.Name(), r.errMsg(c.h), tc.want.Name(), r.summary())
			}
			if !strings.Contains(r.errMsg(c.h), tc.msg) {
				t.Fatalf("message %q does not mention %q", r.errMsg(c.h), tc.msg)
			}
			if r.has(ln.h, EvConnection) {
				t.Fatalf("a failed handshake was announced: %s", r.summary())
			}
			r.until("drop counted", tlsWait, func() bool { return ln.Info().MessagesDropped == 1 })
		})
	}
}

// A peer that is not TLS at all: a plaintext server greeting our client,
// and a plaintext client talking to our TLS listener.
func TestTLSNotTLSPeer(t *testing.T) {
	p := getPKI(t)
	r := newRecorder(t)
	plain, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	go func() {
		for {
			cn, err := plain.Accept()
			if err != nil {
				return
			}
			cn.Write([]byte("220 plain.example ESMTP ready\r\n"))
			go func() { io.Copy(io.Discard, cn); cn.Close() }()
		}
	}()
	c := r.tlsConnect("localhost", plain.Addr().(*net.TCPAddr).Port, p.clientTLS())
	if code := r.closedWith(c.h); code != ETLSNotTLS || r.has(c.h, EvOpen) {
		t.Fatalf("plaintext server: %s", r.summary())
	}

	// Our listener counts the failure, keeps serving, and never announces it.
	r.echoServer()
	ln, port := r.tlsListen(p.serverTLS())
	raw, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	raw.Write([]byte("EHLO plaintext\r\n"))
	raw.SetReadDeadline(time.Now().Add(tlsWait))
	io.Copy(io.Discard, raw) // the server closes it
	raw.Close()
	r.until("drop counted", tlsWait, func() bool { return ln.Info().MessagesDropped == 1 })
	c2 := r.tlsConnect("localhost", port, p.clientTLS())
	c2.Send([]byte("still serving"))
	c2.HalfClose()
	if code := r.closedWith(c2.h); code != OK || string(r.data[c2.h]) != "still serving" {
		t.Fatalf("after a bad client: %q %s", r.data[c2.h], r.summary())
	}
	if n := ln.Info().MessagesReceived; n != 1 {
		t.Fatalf("listener accepted %d, want 1", n)
	}
}

func TestTLSALPN(t *testing.T) {
	p := getPKI(t)
	r := newRecorder(t)
	so := p.serverTLS()
	so.ALPN = []string{"http/1.1", "smtp"}
	ln, port := r.tlsListen(so)
	co := p.clientTLS()
	co.ALPN = []string{"h2", "smtp"}
	c := r.tlsConnect("localhost", port, co)
	r.until("SECURE", tlsWait, func() bool { return r.has(c.h, EvSecure) || r.has(c.h, EvClose) })
	srv := r.accepted(ln)
	if a, b := c.Info().TLS.ALPN, srv.Info().TLS.ALPN; a != "smtp" || b != "smtp" {
		t.Fatalf("ALPN %q %q: %s", a, b, r.summary())
	}
	// A client that offers none gets none.
	c2 := r.tlsConnect("localhost", port, p.clientTLS())
	r.until("SECURE", tlsWait, func() bool { return r.has(c2.h, EvSecure) || r.has(c2.h, EvClose) })
	if a := c2.Info().TLS.ALPN; a != "" || !r.has(c2.h, EvSecure) {
		t.Fatalf("ALPN %q: %s", a, r.summary())
	}
	c.Abort()
	c2.Abort()
}

func TestTLSVersionBounds(t *testing.T) {
	p := getPKI(t)
	r := newRecorder(t)
	_, port := r.tlsListen(p.serverTLS())
	for _, v := range []string{"tls1.2", "tls1.3"} {
		co := p.clientTLS()
		co.MinVersion, co.MaxVersion = v, v
		c := r.tlsConnect("localhost", port, co)
		r.until("SECURE "+v, tlsWait, func() bool { return r.has(c.h, EvSecure) || r.has(c.h, EvClose) })
		if got := c.Info().TLS.Version; got != v {
			t.Fatalf("pinned %s, negotiated %q: %s", v, got, r.summary())
		}
		c.Abort()
	}
	// Refused before anything is sent, with a clear message.
	bad := []struct {
		min, max string
		want     Code
		msg      string
	}{
		{"tls1.0", "", ETLSVersion, "minimum supported is tls1.2"},
		{"tls1.1", "", ETLSVersion, "minimum supported is tls1.2"},
		{"", "tls1.1", ETLSVersion, "minimum supported is tls1.2"},
		{"ssl3", "", ETLSVersion, "refused"},
		{"tls9", "", EINVAL, "unknown TLS version"},
		{"tls1.3", "tls1.2", EINVAL, "above"},
	}
	for _, b := range bad {
		co := DefaultTCPOptions()
		co.UseSecureTransport = true
		co.TLS = &TLSOptions{MinVersion: b.min, MaxVersion: b.max}
		if _, e := Connect(r.l, "localhost", port, co, 0); e == nil || e.Code != b.want || !strings.Contains(e.Msg, b.msg) {
			t.Fatalf("min %q max %q: %v", b.min, b.max, e)
		}
		lo := DefaultTCPOptions()
		lo.LocalAddress = "127.0.0.1"
		lo.UseSecureTransport = true
		lo.TLS = p.serverTLS()
		lo.TLS.MinVersion, lo.TLS.MaxVersion = b.min, b.max
		if _, e := Listen(r.l, lo, 0); e == nil || e.Code != b.want {
			t.Fatalf("listen min %q max %q: %v", b.min, b.max, e)
		}
	}
}

func TestTLSBadOptions(t *testing.T) {
	p := getPKI(t)
	r := newRecorder(t)
	connect := func(o *TLSOptions) *Error {
		co := DefaultTCPOptions()
		co.UseSecureTransport = true
		co.TLS = o
		_, e := Connect(r.l, "localhost", 9, co, 0)
		return e
	}
	listen := func(o *TLSOptions) *Error {
		lo := DefaultTCPOptions()
		lo.LocalAddress = "127.0.0.1"
		lo.UseSecureTransport = true
		lo.TLS = o
		_, e := Listen(r.l, lo, 0)
		return e
	}
	checks := []struct {
		name string
		e    *Error
		want Code
	}{
		{"garbage CA", connect(&TLSOptions{CAPEM: "not a certificate"}), ETLSBadPEM},
		{"key without cert", connect(&TLSOptions{KeyPEM: p.ClientKey}), ETLSBadPEM},
		{"mismatched key", connect(&TLSOptions{CertPEM: p.ClientCert, KeyPEM: p.ServerKey}), ETLSBadPEM},
		{"empty ALPN name", connect(&TLSOptions{ALPN: []string{"h2", ""}}), EINVAL},
		{"long ALPN name", connect(&TLSOptions{ALPN: []string{strings.Repeat("x", 256)}}), EINVAL},
		{"server without certificate", listen(&TLSOptions{}), EINVAL},
		{"server with nil options", listen(nil), EINVAL},
		{"server bad key", listen(&TLSOptions{CertPEM: p.ServerCert, KeyPEM: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}), ETLSBadPEM},
		{"server client_auth out of range", listen(&TLSOptions{CertPEM: p.ServerCert, KeyPEM: p.ServerKey, ClientAuth: 7}), EINVAL},
		{"unix client needs a name", func() *Error {
			co := DefaultTCPOptions()
			co.UseSecureTransport = true
			_, e := Connect(r.l, "unix:/nonexistent/x", 0, co, 0)
			return e
		}(), EINVAL},
	}
	for _, c := range checks {
		if c.e == nil || c.e.Code != c.want {
			t.Errorf("%s: got %v, want %s", c.name, c.e, c.want.Name())
		} else if c.e.Msg == "" {
			t.Errorf("%s: no detail message", c.name)
		}
	}
	// A refused create leaves no socket behind on the loop.
	r.l.mu.Lock()
	n := len(r.l.sockets)
	r.l.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d sockets left on the loop after refused creates", n)
	}
}

// smtpServer makes r answer accepted sockets like a tiny SMTP server with
// STARTTLS. It records every command line the application saw.
type smtpServer struct {
	r     *recorder
	opts  *TLSOptions
	lines map[Handle][]string
	buf   map[Handle][]byte
	tlsOK map[Handle]bool
}

func newSMTPServer(r *recorder, o *TLSOptions) *smtpServer {
	m := &smtpServer{r: r, opts: o, lines: map[Handle][]string{}, buf: map[Handle][]byte{}, tlsOK: map[Handle]bool{}}
	r.on = func(ev Event) {
		switch ev.Type {
		case EvConnection:
			s, e := LookupSocket(ev.Accepted)
			if e == nil {
				s.Send([]byte("220 w3sock.test ESMTP\r\n"))
			}
		case EvData:
			if ev.sock != nil && ev.sock.accepted {
				m.data(ev.sock, ev.Data)
			}
		case EvSecure:
			m.tlsOK[ev.Handle] = true
		}
	}
	return m
}

func (m *smtpServer) data(s *Socket, p []byte) {
	b := append(m.buf[s.h], p...)
	for {
		i := bytes.Index(b, []byte("\r\n"))
		if i < 0 {
			break
		}
		line := string(b[:i])
		b = b[i+2:]
		m.lines[s.h] = append(m.lines[s.h], line)
		verb := strings.ToUpper(strings.Fields(line + " x")[0])
		switch verb {
		case "EHLO":
			if s.Info().Secure {
				s.Send([]byte("250-w3sock.test\r\n250 AUTH PLAIN\r\n"))
			} else {
				s.Send([]byte("250-w3sock.test\r\n250 STARTTLS\r\n"))
			}
		case "STARTTLS":
			s.Send([]byte("220 Ready to start TLS\r\n"))
			if e := s.StartTLS(m.opts, b); e != nil {
				m.r.t.Errorf("server StartTLS: %v", e)
			}
			m.buf[s.h] = nil
			return
		case "QUIT":
			s.Send([]byte("221 bye\r\n"))
			s.Close()
		default:
			s.Send([]byte("250 OK " + verb + "\r\n"))
		}
	}
	m.buf[s.h] = b
}

func (m *smtpServer) saw(h Handle, cmd string) bool {
	for _, l := range m.lines[h] {
		if strings.HasPrefix(strings.ToUpper(l), cmd) {
			return true
		}
	}
	return false
}

// TestSTARTTLSSMTPBothRoles runs an SMTP-like exchange with both ends on
// w3sock: EHLO, STARTTLS, 220, handshake, EHLO again, a command, QUIT.
func TestSTARTTLSSMTPBothRoles(t *testing.T) { readModes(t, runSTARTTLSSMTPBothRoles) }

func runSTARTTLSSMTPBothRoles(t *testing.T, notify bool) {
	p := getPKI(t)
	r := newModeRecorder(t, notify)
	m := newSMTPServer(r, p.serverTLS())
	ln, port := r.listen(DefaultTCPOptions())
	c, e := Connect(r.l, "localhost", port, DefaultTCPOptions(), 0)
	if e != nil {
		t.Fatal(e)
	}
	got := func(s string) func() bool { return func() bool { return bytes.Contains(r.data[c.h], []byte(s)) } }
	r.until("greeting", tlsWait, got("220 w3sock.test"))
	c.Send([]byte("EHLO client.test\r\n"))
	r.until("EHLO reply", tlsWait, got("250 STARTTLS\r\n"))
	// STARTTLS on a plaintext socket refuses to go secure twice or early.
	c.Send([]byte("STARTTLS\r\n"))
	r.until("220 Ready", tlsWait, got("220 Ready to start TLS\r\n"))
	if e := c.StartTLS(p.clientTLS(), nil); e != nil {
		t.Fatal(e)
	}
	if e := c.StartTLS(p.clientTLS(), nil); e == nil || e.Code != ESTATE {
		t.Fatalf("second StartTLS during the upgrade: %v", e)
	}
	// Sent during the upgrade: goes out encrypted once secure.
	c.Send([]byte("EHLO client.test\r\n"))
	srv := r.accepted(ln)
	r.until("both SECURE", tlsWait, func() bool { return r.has(c.h, EvSecure) && r.has(srv.h, EvSecure) })
	r.until("secure EHLO reply", tlsWait, got("250 AUTH PLAIN\r\n"))
	c.Send([]byte("MAIL FROM:<a@x>\r\nQUIT\r\n"))
	r.until("221", tlsWait, got("221 bye\r\n"))
	c.Close()
	if code := r.closedWith(c.h); code != OK {
		t.Fatalf("client: %s", r.summary())
	}
	r.until("server CLOSE", tlsWait, func() bool { return r.has(srv.h, EvClose) })
	si := srv.Info()
	if r.has(srv.h, EvError) || len(m.lines[srv.h]) != 5 || !m.saw(srv.h, "MAIL FROM") {
		t.Fatalf("server saw %q: %s", m.lines[srv.h], r.summary())
	}
	if si.TLS.ServerName != "localhost" {
		t.Fatalf("server name %q", si.TLS.ServerName)
	}
	// The client's own reply stream never shows the encrypted EHLO reply
	// twice (no plaintext leak of bytes meant for the handshake).
	if n := bytes.Count(r.data[c.h], []byte("250-w3sock.test")); n != 2 {
		t.Fatalf("client saw %d EHLO replies: %q", n, r.data[c.h])
	}
	if e := c.StartTLS(p.clientTLS(), nil); e == nil || (e.Code != ESTATE && e.Code != EBADF) {
		t.Fatalf("StartTLS after close: %v", e)
	}
}

// rawSMTP is a plaintext client driven by hand (net.Conn), for the
// injection and racing cases.
type rawSMTP struct {
	t  *testing.T
	r  *recorder
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, r *recorder, port int) *rawSMTP {
	c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(tlsWait))
	t.Cleanup(func() { c.Close() })
	return &rawSMTP{t: t, r: r, c: c, br: bufio.NewReader(c)}
}

// expect reads lines until one starts with prefix, pumping the loop (the
// server side) while it waits.
func (x *rawSMTP) expect(prefix string) {
	x.t.Helper()
	deadline := time.Now().Add(tlsWait)
	line := ""
	for time.Now().Before(deadline) {
		x.c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		l, err := x.br.ReadString('\n')
		line += l
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				x.r.pump(20 * time.Millisecond)
				continue
			}
			x.t.Fatalf("waiting for %q: %v", prefix, err)
		}
		if strings.HasPrefix(line, prefix) {
			x.c.SetReadDeadline(time.Now().Add(tlsWait))
			return
		}
		line = ""
	}
	x.t.Fatalf("no line %q: %s", prefix, x.r.summary())
}

// TestSTARTTLSInjectionInOneSegment is CVE-2011-0411: the command and an
// injected command arrive in one segment. The injected bytes are fed to the
// handshake (which fails: they are not TLS) and never reach the application.
func TestSTARTTLSInjectionInOneSegment(t *testing.T) { readModes(t, runSTARTTLSInjectionInOneSegment) }

func runSTARTTLSInjectionInOneSegment(t *testing.T, notify bool) {
	p := getPKI(t)
	r := newModeRecorder(t, notify)
	m := newSMTPServer(r, p.serverTLS())
	ln, port := r.listen(DefaultTCPOptions())
	x := dialRaw(t, r, port)
	x.expect("220 ")
	x.c.Write([]byte("EHLO attacker\r\n"))
	x.expect("250 STARTTLS")
	x.c.Write([]byte("STARTTLS\r\nRSET\r\nMAIL FROM:<evil@x>\r\n"))
	x.expect("220 Ready")
	srv := r.accepted(ln)
	if code := r.closedWith(srv.h); code != ETLSNotTLS {
		t.Fatalf("want ETLS_NOT_TLS, got %s", r.summary())
	}
	// (The DATA event held the whole segment; the host passed what followed
	// "STARTTLS\r\n" to StartTLS as unread, as a server must.)
	if m.saw(srv.h, "RSET") || m.saw(srv.h, "MAIL") || len(m.lines[srv.h]) != 2 {
		t.Fatalf("injected plaintext reached the application: %q", m.lines[srv.h])
	}
	// Nothing further on the wire: the server answered no injected command.
	rest, _ := io.ReadAll(x.br)
	if bytes.Contains(rest, []byte("250")) {
		t.Fatalf("server answered injected commands: %q", rest)
	}
}

// The same injection, but the injected bytes arrive after the command, before
// the host calls StartTLS. Two places they can be at that moment:
//   - "queued": the loop is in notify mode, a reader goroutine has read them
//     into a DATA event the host has not polled yet: StartTLS takes it back;
//   - "kernel": the polling thread reads plain sockets (the default) and has
//     not read them yet: they wait in the kernel for the handshake.
//
// Either way they are fed to the handshake and fail it.
func TestSTARTTLSInjectionNotYetPolled(t *testing.T) {
	for _, mode := range []string{"queued", "kernel"} {
		t.Run(mode, func(t *testing.T) {
			p := getPKI(t)
			r := newRecorder(t)
			if mode == "queued" {
				r.l.SetNotify(func() {})
			}
			ln, port := r.listen(DefaultTCPOptions())
			x := dialRaw(t, r, port)
			srv := r.accepted(ln)
			x.c.Write([]byte("STARTTLS\r\n"))
			r.until("STARTTLS", tlsWait, func() bool { return bytes.Equal(r.data[srv.h], []byte("STARTTLS\r\n")) })
			x.c.Write([]byte("RSET\r\n"))
			arrived := func() bool {
				if mode == "queued" {
					r.l.mu.Lock()
					defer r.l.mu.Unlock()
					for i := r.l.head; i < len(r.l.q); i++ {
						if r.l.q[i].sock == srv && r.l.q[i].Type == EvData {
							return true
						}
					}
					return false
				}
				n := 0
				srv.rc.Control(func(fd uintptr) { n, _ = unix.IoctlGetInt(int(fd), unix.SIOCINQ) })
				return n == len("RSET\r\n")
			}
			deadline := time.Now().Add(tlsWait)
			for !arrived() {
				if time.Now().After(deadline) {
					t.Fatalf("the injected bytes never arrived (%s)", mode)
				}
				time.Sleep(time.Millisecond)
			}
			srv.Send([]byte("220 Ready\r\n"))
			if e := srv.StartTLS(p.serverTLS(), nil); e != nil {
				t.Fatal(e)
			}
			if code := r.closedWith(srv.h); code != ETLSNotTLS {
				t.Fatalf("want ETLS_NOT_TLS, got %s", r.summary())
			}
			if !bytes.Equal(r.data[srv.h], []byte("STARTTLS\r\n")) {
				t.Fatalf("application got %q after the upgrade point", r.data[srv.h])
			}
			x.expect("220 Ready") // the reply queued before StartTLS went out in plaintext
		})
	}
}

// racingConn sends "STARTTLS\r\n" glued to the ClientHello (one write, one
// segment) and skips the server's 220 line before reading TLS records:
// a client that does not wait for the go-ahead.
type racingConn struct {
	net.Conn
	br      *bufio.Reader
	sent    bool
	gotLine string
}

func (c *racingConn) Write(p []byte) (int, error) {
	if !c.sent {
		c.sent = true
		_, err := c.Conn.Write(append([]byte("STARTTLS\r\n"), p...))
		return len(p), err
	}
	return c.Conn.Write(p)
}

func (c *racingConn) Read(p []byte) (int, error) {
	if c.gotLine == "" {
		l, err := c.br.ReadString('\n')
		if err != nil {
			return 0, err
		}
		c.gotLine = l
	}
	return c.br.Read(p)
}

func TestSTARTTLSRacingClientHello(t *testing.T) { readModes(t, runSTARTTLSRacingClientHello) }

func runSTARTTLSRacingClientHello(t *testing.T, notify bool) {
	p := getPKI(t)
	r := newModeRecorder(t, notify)
	m := newSMTPServer(r, p.serverTLS())
	ln, port := r.listen(DefaultTCPOptions())
	x := dialRaw(t, r, port)
	x.expect("220 ")
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM([]byte(p.CAPEM))
	rc := &racingConn{Conn: x.c, br: x.br}
	tc := tls.Client(rc, &tls.Config{ServerName: "localhost", RootCAs: roots})
	done := make(chan error, 1)
	go func() {
		err := tc.Handshake()
		if err == nil {
			_, err = tc.Write([]byte("EHLO fast.client\r\n"))
		}
		br := bufio.NewReader(tc)
		for err == nil {
			var l string
			if l, err = br.ReadString('\n'); strings.HasPrefix(l, "250 AUTH") {
				break
			}
		}
		done <- err
	}()
	srv := r.accepted(ln)
	var cerr error
	finished := false
	r.until("client exchange", tlsWait, func() bool {
		select {
		case cerr = <-done:
			finished = true
		default:
		}
		return finished
	})
	if cerr != nil {
		t.Fatalf("client: %v (%s)", cerr, r.summary())
	}
	if !r.has(srv.h, EvSecure) {
		t.Fatalf("server: %s", r.summary())
	}
	if !strings.HasPrefix(rc.gotLine, "220 Ready") {
		t.Fatalf("line before TLS: %q", rc.gotLine)
	}
	if !m.saw(srv.h, "EHLO FAST.CLIENT") && !m.saw(srv.h, "EHLO fast.client") {
		t.Fatalf("server saw %q", m.lines[srv.h])
	}
	if len(m.lines[srv.h]) != 2 {
		t.Fatalf("server saw %q (a ClientHello byte leaked as a command?)", m.lines[srv.h])
	}
}

// Output queued before StartTLS goes out in plaintext; output sent after
// the call waits and goes out encrypted. Server role, then client role.
func TestSTARTTLSWriteOrdering(t *testing.T) { readModes(t, runSTARTTLSWriteOrdering) }

func runSTARTTLSWriteOrdering(t *testing.T, notify bool) {
	p := getPKI(t)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM([]byte(p.CAPEM))
	t.Run("server role", func(t *testing.T) {
		r := newModeRecorder(t, notify)
		ln, port := r.listen(DefaultTCPOptions())
		x := dialRaw(t, r, port)
		srv := r.accepted(ln)
		big := bytes.Repeat([]byte("p"), 256<<10) // more than one write
		srv.Send(big)
		srv.Send([]byte("\r\n220 Ready\r\n"))
		if e := srv.StartTLS(p.serverTLS(), nil); e != nil {
			t.Fatal(e)
		}
		srv.Send([]byte("secret after\r\n"))
		got := make([]byte, len(big)+2)
		if _, err := io.ReadFull(x.br, got); err != nil || !bytes.Equal(got[:len(big)], big) {
			t.Fatalf("plaintext before the upgrade: %v", err)
		}
		x.expect("220 Ready")
		tc := tls.Client(&prefixConn{Conn: x.c, prefix: drain(x.br)}, &tls.Config{ServerName: "localhost", RootCAs: roots})
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		l, err := bufio.NewReader(tc).ReadString('\n')
		if err != nil || l != "secret after\r\n" {
			t.Fatalf("after the upgrade: %q %v", l, err)
		}
		r.until("SECURE", tlsWait, func() bool { return r.has(srv.h, EvSecure) })
	})
	t.Run("client role", func(t *testing.T) {
		r := newModeRecorder(t, notify)
		plain, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer plain.Close()
		result := make(chan string, 1)
		go func() {
			cn, err := plain.Accept()
			if err != nil {
				result <- err.Error()
				return
			}
			defer cn.Close()
			cn.SetDeadline(time.Now().Add(tlsWait))
			br := bufio.NewReader(cn)
			l, _ := br.ReadString('\n')
			if l != "STARTTLS\r\n" {
				result <- "plaintext line " + strconv.Quote(l)
				return
			}
			cert, _ := tls.X509KeyPair([]byte(p.ServerCert), []byte(p.ServerKey))
			tc := tls.Server(&prefixConn{Conn: cn, prefix: drain(br)}, &tls.Config{Certificates: []tls.Certificate{cert}})
			if err := tc.Handshake(); err != nil {
				result <- "handshake " + err.Error()
				return
			}
			l, err = bufio.NewReader(tc).ReadString('\n')
			if err != nil {
				result <- err.Error()
				return
			}
			tc.Write([]byte("ok\r\n"))
			result <- l
		}()
		c, e := Connect(r.l, "localhost", plain.Addr().(*net.TCPAddr).Port, DefaultTCPOptions(), 0)
		if e != nil {
			t.Fatal(e)
		}
		r.until("OPEN", tlsWait, func() bool { return r.has(c.h, EvOpen) })
		c.Send([]byte("STARTTLS\r\n"))
		if e := c.StartTLS(p.clientTLS(), nil); e != nil {
			t.Fatal(e)
		}
		c.Send([]byte("EHLO encrypted\r\n"))
		select {
		case l := <-result:
			if l != "EHLO encrypted\r\n" {
				t.Fatalf("server got %q", l)
			}
		case <-time.After(tlsWait):
			t.Fatal("server never got the encrypted line")
		}
		r.until("reply", tlsWait, func() bool { return string(r.data[c.h]) == "ok\r\n" })
		if !r.has(c.h, EvSecure) || c.Info().TLS.ServerName != "localhost" {
			t.Fatalf("client: %+v %s", c.Info().TLS, r.summary())
		}
	})
}

// drain returns what a bufio.Reader has buffered without reading more.
func drain(br *bufio.Reader) []byte {
	b, _ := br.Peek(br.Buffered())
	return append([]byte(nil), b...)
}

func TestSTARTTLSStateErrors(t *testing.T) {
	p := getPKI(t)
	r := newRecorder(t)
	r.echoServer()
	ln, port := r.tlsListen(p.serverTLS())
	if e := ln.StartTLS(p.serverTLS(), nil); e == nil || e.Code != ENOTSUP {
		t.Fatalf("listener: %v", e)
	}
	c := r.tlsConnect("localhost", port, p.clientTLS())
	r.until("SECURE", tlsWait, func() bool { return r.has(c.h, EvSecure) || r.has(c.h, EvClose) })
	if e := c.StartTLS(p.clientTLS(), nil); e == nil || e.Code != ESTATE || !strings.Contains(e.Msg, "secure") {
		t.Fatalf("already secure: %v", e)
	}
	srv := r.accepted(ln)
	if e := srv.StartTLS(p.serverTLS(), nil); e == nil || e.Code != ESTATE {
		t.Fatalf("accepted, already secure: %v", e)
	}

	plainLn, plainPort := r.listen(DefaultTCPOptions())
	pc, e := Connect(r.l, "127.0.0.1", plainPort, DefaultTCPOptions(), 0)
	if e != nil {
		t.Fatal(e)
	}
	r.until("OPEN", tlsWait, func() bool { return r.has(pc.h, EvOpen) })
	ps := r.accepted(plainLn)
	// Server role without a certificate is refused, and leaves the socket usable.
	if e := ps.StartTLS(nil, nil); e == nil || e.Code != EINVAL {
		t.Fatalf("server role, nil options: %v", e)
	}
	if e := ps.StartTLS(&TLSOptions{CertPEM: "x", KeyPEM: "y"}, nil); e == nil || e.Code != ETLSBadPEM {
		t.Fatalf("server role, bad PEM: %v", e)
	}
	pc.Send([]byte("still plain"))
	r.until("plain data", tlsWait, func() bool { return string(r.data[ps.h]) == "still plain" })
	// Closing (output still queued) and closed.
	ps.Send(bytes.Repeat([]byte("z"), 8<<20))
	ps.Close()
	if e := ps.StartTLS(p.serverTLS(), nil); e == nil || e.Code != ESTATE {
		t.Fatalf("closing: %v", e)
	}
	pc.Abort()
	r.until("closed", tlsWait, func() bool { return r.has(ps.h, EvClose) })
	if e := ps.StartTLS(p.serverTLS(), nil); e == nil || (e.Code != ESTATE && e.Code != EBADF) {
		t.Fatalf("closed: %v", e)
	}
	u, e := OpenUDP(r.l, DefaultUDPOptions(), 0)
	if e != nil {
		t.Fatal(e)
	}
	if e := u.StartTLS(nil, nil); e == nil || e.Code != ENOTSUP {
		t.Fatalf("UDP: %v", e)
	}
	u.Close()
}

func TestSTARTTLSNotYetOpen(t *testing.T) {
	r := newRecorder(t)
	// A socket that listens with backlog 0 and never accepts: once its
	// queue is full the kernel drops further SYNs, so our connect stays
	// "opening" until we abort it.
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	unix.Listen(fd, 0)
	sa, _ := unix.Getsockname(fd)
	port := sa.(*unix.SockaddrInet4).Port
	for i := 0; i < 4; i++ {
		if c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 100*time.Millisecond); err == nil {
			defer c.Close()
		}
	}
	c, e := Connect(r.l, "127.0.0.1", port, DefaultTCPOptions(), 0)
	if e != nil {
		t.Fatal(e)
	}
	if st := c.State(); st != StateOpening {
		t.Fatalf("state %d, want opening", st)
	}
	if e := c.StartTLS(&TLSOptions{InsecureSkipVerify: true}, nil); e == nil || e.Code != ESTATE {
		t.Fatalf("opening: %v", e)
	}
	c.Abort()
	r.until("CLOSE", tlsWait, func() bool { return r.has(c.h, EvClose) })
	if r.has(c.h, EvOpen) {
		t.Fatalf("connect completed: %s", r.summary())
	}
}

// TestTLSManyConcurrentChecksummed: 100 TLS echo connections at once, each
// with its own random payload checked end to end.
func TestTLSManyConcurrentChecksummed(t *testing.T) { readModes(t, runTLSManyConcurrentChecksummed) }

func runTLSManyConcurrentChecksummed(t *testing.T, notify bool) {
	p := getPKI(t)
	r := newModeRecorder(t, notify)
	r.echoServer()
	ln, port := r.tlsListen(p.serverTLS())
	const conns = 100
	const size = 48 << 10
	want := map[Handle][32]byte{}
	for i := 0; i < conns; i++ {
		payload := make([]byte, size)
		rand.Read(payload)
		c := r.tlsConnect("127.0.0.1", port, p.clientTLS())
		// Sent while opening: queued, encrypted once the handshake is done.
		c.Send(payload[:size/2])
		c.Send(payload[size/2:])
		c.HalfClose()
		want[c.h] = sha256.Sum256(payload)
	}
	r.until("every client closed", 120*time.Second, func() bool {
		for h := range want {
			if !r.has(h, EvClose) {
				return false
			}
		}
		return true
	})
	for h, sum := range want {
		if r.has(h, EvError) || !r.has(h, EvSecure) {
			t.Fatalf("client %d: %s", h, r.summary())
		}
		if got := sha256.Sum256(r.data[h]); got != sum {
			t.Fatalf("client %d: %d bytes, wrong checksum", h, len(r.data[h]))
		}
	}
	if in := ln.Info(); in.MessagesReceived != conns || in.MessagesDropped != 0 {
		t.Fatalf("listener accepted %d dropped %d", in.MessagesReceived, in.MessagesDropped)
	}
}

// Pause holds a TLS reader back and resume lets it go on, without losing
// bytes buffered inside the TLS layer.
func TestTLSPauseResume(t *testing.T) {
	p := getPKI(t)
	r := newRecorder(t)
	ln, port := r.tlsListen(p.serverTLS())
	c := r.tlsConnect("localhost", port, p.clientTLS())
	srv := r.accepted(ln)
	r.until("SECURE", tlsWait, func() bool { return r.has(c.h, EvSecure) })
	c.Pause()
	payload := make([]byte, 512<<10)
	rand.Read(payload)
	srv.Send(payload)
	srv.HalfClose()
	r.pump(50 * time.Millisecond)
	if !c.Info().Paused {
		t.Fatal("not paused")
	}
	c.Resume()
	r.until("END", tlsWait, func() bool { return r.has(c.h, EvEnd) })
	if !bytes.Equal(r.data[c.h], payload) {
		t.Fatalf("got %d bytes, want %d", len(r.data[c.h]), len(payload))
	}
	c.Close()
}

// send_file over TLS goes through the TLS writer (no sendfile(2) there),
// IPv6 and AF_UNIX carry TLS too (unix needs an explicit server_name).
func TestTLSSendFileIPv6Unix(t *testing.T) {
	p := getPKI(t)
	content := make([]byte, 1<<20+123)
	rand.Read(content)
	path := t.TempDir() + "/f"
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	want := append(append([]byte("head:"), content[7:7+300000]...), content...)
	sock := t.TempDir() + "/tls.sock"
	for _, tc := range []struct{ name, listen, host string }{
		{"ipv6", "::1", "::1"},
		{"unix", "unix:" + sock, "unix:" + sock},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRecorder(t)
			r.echoServer()
			lo := DefaultTCPOptions()
			lo.LocalAddress = tc.listen
			lo.UseSecureTransport = true
			lo.TLS = p.serverTLS()
			ln, e := Listen(r.l, lo, 0)
			if e != nil {
				t.Fatal(e)
			}
			co := p.clientTLS()
			if tc.name == "unix" {
				co.ServerName = "localhost"
			}
			c := r.tlsConnect(tc.host, ln.Info().LocalPort, co)
			c.Send([]byte("head:"))
			if _, e := c.SendFile(path, 7, 300000); e != nil {
				t.Fatal(e)
			}
			if _, e := c.SendFile(path, 0, -1); e != nil {
				t.Fatal(e)
			}
			c.HalfClose()
			if code := r.closedWith(c.h); code != OK {
				t.Fatal(r.summary())
			}
			if !bytes.Equal(r.data[c.h], want) || !r.has(c.h, EvSecure) {
				t.Fatalf("got %d bytes, want %d: %s", len(r.data[c.h]), len(want), r.summary())
			}
		})
	}
}
