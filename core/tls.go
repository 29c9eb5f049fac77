package core

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"reflect"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Client-auth policies match W3S_CLIENT_AUTH_*.
const (
	ClientAuthNone    = 0
	ClientAuthRequest = 1
	ClientAuthRequire = 2
)

// maxServerName is the longest DNS name (RFC 1035), so the longest SNI.
const maxServerName = 253

// handshakeTimeout bounds a STARTTLS handshake.
const handshakeTimeout = 30 * time.Second

// TLSOptions are the settings of w3s_tls_options.
type TLSOptions struct {
	InsecureSkipVerify bool
	ServerName         string
	CAPEM              string
	CAReplaceSystem    bool
	CertPEM            string
	KeyPEM             string
	ALPN               []string
	MinVersion         string
	MaxVersion         string
	ClientAuth         int
}

// TLSInfo is what a socket reports about its TLS session.
type TLSInfo struct {
	Version, Cipher, ALPN, ServerName, PeerSubject, PeerIssuer string
}

func parseTLSVersion(v string, def uint16) (uint16, *Error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "":
		return def, nil
	case "tls1.2", "tlsv1.2", "1.2":
		return tls.VersionTLS12, nil
	case "tls1.3", "tlsv1.3", "1.3":
		return tls.VersionTLS13, nil
	case "tls1.0", "tlsv1", "tls1", "tls1.1", "tlsv1.1", "1.0", "1.1", "ssl3", "sslv3":
		return 0, Errf(ETLSVersion, "TLS version %q is refused: the minimum supported is tls1.2", v)
	}
	return 0, Errf(EINVAL, "unknown TLS version %q (use \"tls1.2\" or \"tls1.3\")", v)
}

// baseConfig holds what clients and servers share.
func (o *TLSOptions) baseConfig() (*tls.Config, *x509.CertPool, *Error) {
	if o == nil {
		o = &TLSOptions{}
	}
	minV, e := parseTLSVersion(o.MinVersion, tls.VersionTLS12)
	if e != nil {
		return nil, nil, e
	}
	maxV, e := parseTLSVersion(o.MaxVersion, tls.VersionTLS13)
	if e != nil {
		return nil, nil, e
	}
	if minV > maxV {
		return nil, nil, Errf(EINVAL, "min_version %s is above max_version %s", o.MinVersion, o.MaxVersion)
	}
	cfg := &tls.Config{MinVersion: minV, MaxVersion: maxV}
	for _, p := range o.ALPN {
		if p == "" || len(p) > 255 {
			return nil, nil, Errf(EINVAL, "ALPN protocol names must be 1..255 bytes")
		}
	}
	cfg.NextProtos = o.ALPN
	var pool *x509.CertPool
	if o.CAPEM != "" {
		if o.CAReplaceSystem {
			pool = x509.NewCertPool()
		} else if sys, err := x509.SystemCertPool(); err == nil {
			pool = sys
		} else {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM([]byte(o.CAPEM)) {
			return nil, nil, Errf(ETLSBadPEM, "ca_pem holds no PEM certificate that parses")
		}
	}
	if o.CertPEM != "" || o.KeyPEM != "" {
		cert, err := tls.X509KeyPair([]byte(o.CertPEM), []byte(o.KeyPEM))
		if err != nil {
			return nil, nil, Errf(ETLSBadPEM, "certificate and key: %v", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, pool, nil
}

// clientConfig builds a client configuration; host is the default
// verification name.
func (o *TLSOptions) clientConfig(host string) (*tls.Config, *Error) {
	cfg, pool, e := o.baseConfig()
	if e != nil {
		return nil, e
	}
	cfg.RootCAs = pool
	cfg.ServerName = host
	if o != nil {
		if o.ServerName != "" {
			cfg.ServerName = o.ServerName
		}
		cfg.InsecureSkipVerify = o.InsecureSkipVerify
	}
	if len(cfg.ServerName) > maxServerName {
		return nil, Errf(EINVAL, "server_name is %d bytes; a DNS name (the SNI) has at most %d", len(cfg.ServerName), maxServerName)
	}
	if cfg.ServerName == "" && !cfg.InsecureSkipVerify {
		return nil, Errf(EINVAL, "TLS needs a server_name to verify (or insecure_skip_verify)")
	}
	noteClientCert(cfg)
	return cfg, nil
}

// certNote records what a client did with the server's certificate
// request, so that a later alert can be named: in TLS 1.2 a server that
// requires a certificate and gets none answers with a bare
// handshake_failure alert.
type certNote struct{ requested, sent atomic.Bool }

// noteQuery is how handshakeError reads the note back out of a config: the
// GetClientCertificate closure answers a nil request with it.
type noteQuery struct{ n *certNote }

func (noteQuery) Error() string { return "w3sock: certificate note" }

// noteClientCert installs a GetClientCertificate that sends the configured
// certificate whenever the server asks for one -- also when it is not from
// a CA the server listed, so the server says what is wrong with it (Go's
// default would silently send none) -- and notes what happened.
func noteClientCert(cfg *tls.Config) {
	note := &certNote{}
	certs := cfg.Certificates
	cfg.Certificates = nil
	cfg.GetClientCertificate = func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
		if cri == nil {
			return nil, noteQuery{note}
		}
		note.requested.Store(true)
		if len(certs) == 0 {
			return &tls.Certificate{}, nil
		}
		note.sent.Store(true)
		for i := range certs {
			if cri.SupportsCertificate(&certs[i]) == nil {
				return &certs[i], nil
			}
		}
		return &certs[0], nil
	}
}

func certNoteOf(cfg *tls.Config) *certNote {
	if cfg == nil || cfg.GetClientCertificate == nil {
		return nil
	}
	var q noteQuery
	if _, err := cfg.GetClientCertificate(nil); errors.As(err, &q) {
		return q.n
	}
	return nil
}

// handshakeError classifies a handshake error of a connection made with
// cfg: as tlsError, and a client that was asked for a certificate learns
// from the server's alert whether it was missing or refused.
func handshakeError(cfg *tls.Config, err error) *Error {
	e := tlsError(err)
	note := certNoteOf(cfg)
	if note == nil || !note.requested.Load() || !isRemoteAlert(err) {
		return e
	}
	switch {
	case !note.sent.Load() && (e.Code == ETLS || e.Code == ETLSCertRejectd || e.Code == ETLSCertReq):
		return Errf(ETLSCertReq, "TLS handshake failed: the server requires a client certificate and none is configured (%v)", err)
	case note.sent.Load() && e.Code == ETLS:
		return Errf(ETLSCertRejectd, "TLS handshake failed: the server refused our client certificate (%v)", err)
	}
	return e
}

func isRemoteAlert(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "remote error"
}

func (o *TLSOptions) serverConfig() (*tls.Config, *Error) {
	if o == nil || o.CertPEM == "" || o.KeyPEM == "" {
		return nil, Errf(EINVAL, "a TLS server needs cert_pem and key_pem")
	}
	cfg, pool, e := o.baseConfig()
	if e != nil {
		return nil, e
	}
	cfg.ClientCAs = pool
	cfg.GetConfigForClient = refuseLongServerName
	switch o.ClientAuth {
	case ClientAuthNone:
	case ClientAuthRequest:
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	case ClientAuthRequire:
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	default:
		return nil, Errf(EINVAL, "client_auth %d is not one of W3S_CLIENT_AUTH_*", o.ClientAuth)
	}
	return cfg, nil
}

// refuseLongServerName ends a handshake whose SNI is longer than any DNS
// name (crypto/tls accepts up to the ClientHello's 64 KiB and answers the
// error with an internal_error alert); nothing legitimate sends one.
func refuseLongServerName(hi *tls.ClientHelloInfo) (*tls.Config, error) {
	if len(hi.ServerName) > maxServerName {
		return nil, Errf(ETLS, "client sent a %d-byte server name (SNI); a DNS name has at most %d", len(hi.ServerName), maxServerName)
	}
	return nil, nil
}

// handshakeConn is what a client's or a STARTTLS socket's tls.Conn reads
// through. Pause and Close interrupt the plaintext reader with a read
// deadline in the past; while the handshake runs that deadline is not meant
// for it (the handshake delivers nothing, and a graceful close must finish
// it to send what was queued), so it is cleared and the read retried. Once
// the session is set up (setSecureLocked) deadlines interrupt reads as
// usual. A cancelled handshake context closes the connection, which this
// does not retry.
type handshakeConn struct {
	net.Conn
	s     *Socket // nil while an accepted connection's handshake runs
	done  atomic.Bool
	drain atomic.Bool // read only what the kernel has now (see readTLS)
	// transportEOF is set once the connection under TLS reported its end.
	// crypto/tls answers both a close_notify alert and a transport end at
	// a record boundary with the same io.EOF; it stops reading at
	// close_notify, so an io.EOF from tls.Conn with transportEOF unset was
	// a close_notify, and with it set the peer ended without one.
	transportEOF atomic.Bool
}

// endCode is what END carries for a stream read through tc: OK for plain
// TCP and for TLS that ended with close_notify, ETLSNoNotify for TLS whose
// transport ended at a record boundary without close_notify (every byte
// received was authentic, but the peer did not say it had sent all).
func endCode(tc *tls.Conn) Code {
	if tc == nil {
		return OK
	}
	if hc, ok := tc.NetConn().(*handshakeConn); ok && hc.transportEOF.Load() {
		return ETLSNoNotify
	}
	return OK
}

// errWouldBlock ends a drain read: crypto/tls keeps a partial record and
// does not treat a temporary net.Error as fatal.
type wouldBlock struct{}

func (wouldBlock) Error() string   { return "no more data ready" }
func (wouldBlock) Timeout() bool   { return true }
func (wouldBlock) Temporary() bool { return true }

var errWouldBlock net.Error = wouldBlock{}

func (c *handshakeConn) Read(p []byte) (int, error) {
	if c.drain.Load() {
		return c.readReady(p)
	}
	for {
		n, err := c.Conn.Read(p)
		if err == io.EOF {
			c.transportEOF.Store(true)
		}
		if n > 0 || err == nil || c.done.Load() || !errors.Is(err, os.ErrDeadlineExceeded) {
			return n, err
		}
		if c.s == nil {
			return n, err
		}
		c.s.mu.Lock()
		finished := c.s.finished
		if !finished {
			c.s.clearReadDeadlineLocked()
		}
		c.s.mu.Unlock()
		if finished {
			return n, err
		}
	}
}

// readReady reads what is available without waiting.
func (c *handshakeConn) readReady(p []byte) (int, error) {
	if pc, ok := c.Conn.(*prefixConn); ok && len(pc.prefix) > 0 {
		return pc.Read(p)
	}
	sc, ok := underlying(c.Conn).(syscall.Conn)
	if !ok {
		return 0, errWouldBlock
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, err
	}
	n := 0
	var rerr error
	if err := rc.Control(func(fd uintptr) {
		for {
			n, rerr = unix.Read(int(fd), p)
			if rerr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		return 0, err
	}
	switch {
	case rerr == unix.EAGAIN:
		return 0, errWouldBlock
	case rerr != nil:
		return 0, os.NewSyscallError("read", rerr)
	case n == 0:
		c.transportEOF.Store(true)
		return 0, io.EOF
	}
	return n, nil
}

func underlying(c net.Conn) net.Conn {
	if pc, ok := c.(*prefixConn); ok {
		return pc.Conn
	}
	return c
}

// maxRecordPlain is the most plaintext one TLS record carries.
const maxRecordPlain = 16 << 10

// readTLS reads one record's plaintext, waiting for it, and then whatever
// further records the kernel already holds, without waiting: crypto/tls
// returns one record per Read, and an event per 16 KiB record would cost a
// wake-up and a poll each.
func readTLS(tc *tls.Conn, b []byte) (int, error) {
	n, err := tc.Read(b)
	hc, ok := tc.NetConn().(*handshakeConn)
	if err != nil || n == 0 || !ok {
		return n, err
	}
	hc.drain.Store(true)
	defer hc.drain.Store(false)
	for n+maxRecordPlain <= len(b) {
		m, err := tc.Read(b[n:])
		n += m
		if err != nil {
			if errors.Is(err, errWouldBlock) {
				return n, nil
			}
			return n, err
		}
		if m == 0 {
			break
		}
	}
	return n, nil
}

// CloseWrite half-closes the underlying connection.
func (c *handshakeConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// setSecureLocked records an established TLS session on the socket.
func (s *Socket) setSecureLocked(tc *tls.Conn) {
	if hc, ok := tc.NetConn().(*handshakeConn); ok {
		hc.done.Store(true)
	}
	s.tlsConn = tc
	s.secure = true
	st := tc.ConnectionState()
	info := TLSInfo{
		Cipher:     tls.CipherSuiteName(st.CipherSuite),
		ALPN:       st.NegotiatedProtocol,
		ServerName: st.ServerName,
	}
	switch st.Version {
	case tls.VersionTLS12:
		info.Version = "tls1.2"
	case tls.VersionTLS13:
		info.Version = "tls1.3"
	default:
		info.Version = tls.VersionName(st.Version)
	}
	if len(st.PeerCertificates) > 0 {
		info.PeerSubject = st.PeerCertificates[0].Subject.String()
		info.PeerIssuer = st.PeerCertificates[0].Issuer.String()
	}
	s.tlsInfo = info
}

// StartTLS upgrades an open plaintext TCP socket: client role for a socket
// we connected, server role for an accepted one. unread holds bytes the
// host received but has not consumed; they and any bytes not yet delivered
// are fed to the handshake, never delivered as plaintext.
func (s *Socket) StartTLS(o *TLSOptions, unread []byte) *Error {
	if s.kind != KindTCP {
		return Errf(ENOTSUP, "STARTTLS needs a TCP connection")
	}
	var cfg *tls.Config
	var e *Error
	s.mu.Lock()
	accepted := s.accepted
	s.mu.Unlock()
	if accepted {
		cfg, e = o.serverConfig()
	} else {
		name := ""
		if !s.isUnix {
			if ra, ok := s.remoteHost(); ok {
				name = ra
			}
		}
		cfg, e = o.clientConfig(name)
	}
	if e != nil {
		return e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.claimFastLocked() // what the host thread wrote is queued ahead of the handshake
	defer s.syncFastLocked()
	switch {
	case s.finished:
		return Errf(ESTATE, "socket is closed")
	case s.secure:
		return Errf(ESTATE, "socket is already secure")
	case s.upgrading:
		return Errf(ESTATE, "a TLS upgrade is already in progress")
	case s.state != StateOpen:
		return Errf(ESTATE, "STARTTLS needs an open socket (ready state %d)", s.state)
	}
	s.upgrading = true
	s.interruptReadLocked()
	pending := s.loop.extract(s)
	s.undelivered -= int64(len(pending))
	s.upgradeBytes = append(append(append([]byte(nil), unread...), pending...), s.upgradeBytes...)
	go s.upgrade(cfg, accepted)
	return nil
}

// remoteHost is the name the socket was connected to, for verification.
func (s *Socket) remoteHost() (string, bool) {
	if s.opts.TLS != nil && s.opts.TLS.ServerName != "" {
		return s.opts.TLS.ServerName, true
	}
	if s.dialHost != "" {
		return s.dialHost, true
	}
	return "", false
}

func (s *Socket) upgrade(cfg *tls.Config, server bool) {
	s.mu.Lock()
	// Wait until the reader has stopped (so every byte it read is in
	// upgradeBytes) and the plaintext queued before the call is flushed.
	for !s.finished && (s.readerRunning || s.writing || len(s.queue) > 0) {
		s.cond.Wait()
	}
	if s.finished {
		s.mu.Unlock()
		return
	}
	conn := &handshakeConn{Conn: &prefixConn{Conn: s.raw, prefix: s.upgradeBytes}, s: s}
	s.upgradeBytes = nil
	s.clearReadDeadlineLocked()
	s.mu.Unlock()

	var tc *tls.Conn
	if server {
		tc = tls.Server(conn, cfg)
	} else {
		tc = tls.Client(conn, cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
	err := tc.HandshakeContext(ctx)
	cancel()

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.finished {
		return
	}
	if err != nil {
		if server {
			s.finishLocked(tlsError(err))
		} else {
			s.finishLocked(handshakeError(cfg, err))
		}
		return
	}
	s.upgrading = false
	s.setSecureLocked(tc)
	if s.paused {
		s.interruptReadLocked()
	}
	s.emitLocked(Event{Type: EvSecure})
	s.queue = append(s.queue, s.pendingTLS...)
	s.pendingTLS = nil
	s.startReaderLocked()
	s.kickWriterLocked()
	if len(s.queue) == 0 {
		if s.halfClosePending && !s.wrClosed {
			s.closeWriteLocked()
		}
		if s.closePending && !s.finished {
			s.mu.Unlock()
			s.closeGracefully()
			s.mu.Lock()
		}
	}
}

// prefixConn reads prefix before the connection itself.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// CloseWrite lets tls.Conn users half-close the underlying connection.
func (c *prefixConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// tlsError classifies a handshake error into the TLS codes.
func tlsError(err error) *Error {
	c := classifyTLS(err)
	if c == OK {
		c = Classify(err)
		if c == EIO || c == EABORTED {
			c = ETLS
		}
	}
	if errors.Is(err, io.EOF) {
		return Errf(ETLS, "TLS handshake failed: the peer closed the connection")
	}
	return Errf(c, "TLS handshake failed: %v", err)
}

// tlsReadError names an error met reading an established TLS session.
func tlsReadError(err error) *Error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		// The transport ended inside a record: what followed is lost, and
		// taking this for an end would let a cut (or an attacker's FIN or
		// RST) truncate the stream unnoticed.
		return Errf(ETLSTruncated, "TLS stream cut mid-record: the connection ended inside a TLS record (no close_notify); what followed is lost")
	}
	var op *net.OpError
	var recHdr tls.RecordHeaderError
	if errors.As(err, &op) && op.Op == "local error" || errors.As(err, &recHdr) {
		// We refused what the peer sent (bad MAC, bad record type or
		// version): after the handshake that is a corrupted or forged
		// stream, not a peer that "does not speak TLS".
		return Errf(ETLSBadRecord, "TLS record rejected after the handshake: %v", err)
	}
	return AsError(err) // alerts the peer sent keep their handshake names
}

// TLS alert numbers (RFC 8446 section 6).
const (
	alertHandshakeFailure    = 40
	alertBadCertificate      = 42
	alertUnsupportedCert     = 43
	alertCertificateRevoked  = 44
	alertCertificateExpired  = 45
	alertCertificateUnknown  = 46
	alertUnknownCA           = 48
	alertProtocolVersion     = 70
	alertCertificateRequired = 116
)

// classifyTLS returns OK when err is not recognisably a TLS error.
func classifyTLS(err error) Code {
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	var recHdr tls.RecordHeaderError
	switch {
	case errors.As(err, &unknownAuth):
		return ETLSUnknownCA
	case errors.As(err, &hostErr):
		return ETLSHostname
	case errors.As(err, &invalid):
		if invalid.Reason == x509.Expired {
			return ETLSExpired
		}
		return ETLS
	case errors.As(err, &recHdr):
		return ETLSNotTLS
	}
	// A received alert is a *net.OpError{Op: "remote error"} around
	// crypto/tls's unexported alert type (a uint8).
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "remote error" && op.Err != nil {
		if v := reflect.ValueOf(op.Err); v.Kind() == reflect.Uint8 {
			switch v.Uint() {
			case alertCertificateRequired:
				return ETLSCertReq
			case alertBadCertificate, alertUnsupportedCert, alertCertificateRevoked,
				alertCertificateExpired, alertCertificateUnknown, alertUnknownCA:
				return ETLSCertRejectd
			case alertProtocolVersion:
				return ETLSVersion
			case alertHandshakeFailure:
				return ETLS
			}
		}
		return ETLS
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "client didn't provide a certificate"):
		return ETLSCertReq
	case strings.Contains(msg, "version"):
		if strings.HasPrefix(msg, "tls:") || strings.Contains(msg, " tls:") {
			return ETLSVersion
		}
	case strings.Contains(msg, "first record does not look like a TLS handshake"):
		return ETLSNotTLS
	case strings.Contains(msg, "tls: handshake message of length"):
		return ETLSTooLarge // "... exceeds maximum of N bytes"
	}
	if strings.Contains(msg, "tls:") {
		return ETLS
	}
	return OK
}
