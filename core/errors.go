package core

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"syscall"
)

// Code is a stable error number of the C ABI (include/w3sock.h). Zero is
// success; every error is negative.
type Code int

// The codes, in the header's order and with the header's numbers.
const (
	OK              Code = 0
	EINVAL          Code = -1
	EBADF           Code = -2
	ENOMEM          Code = -3
	ESTATE          Code = -4
	ESHUTDOWN       Code = -5
	EFORKED         Code = -6
	EADDR           Code = -7
	ENOTFOUND       Code = -8
	ECONNREFUSED    Code = -9
	ECONNRESET      Code = -10
	ETIMEDOUT       Code = -11
	EADDRINUSE      Code = -12
	EADDRNOTAVAIL   Code = -13
	ENETUNREACH     Code = -14
	EHOSTUNREACH    Code = -15
	EACCES          Code = -16
	EPIPE           Code = -17
	EMSGSIZE        Code = -18
	ENOTSUP         Code = -19
	EMFILE          Code = -20
	ENOOPT          Code = -21
	EIO             Code = -22
	EABORTED        Code = -23
	ENOENT          Code = -24
	EISCONN         Code = -25
	ENOTCONN        Code = -26
	ETLS            Code = -40
	ETLSUnknownCA   Code = -41
	ETLSHostname    Code = -42
	ETLSExpired     Code = -43
	ETLSVersion     Code = -44
	ETLSCertReq     Code = -45
	ETLSCertRejectd Code = -46
	ETLSNotTLS      Code = -47
	ETLSBadPEM      Code = -48
	ETLSTruncated   Code = -49
	ETLSNoNotify    Code = -50
	ETLSBadRecord   Code = -51
	ETLSTooLarge    Code = -52
	ENOTMULTICAST   Code = -60
	ENOIFACE        Code = -61
	EFAMILY         Code = -62
	EALREADY        Code = -63
	ENOTJOINED      Code = -64
)

type codeText struct{ name, text string }

var codeTexts = map[Code]codeText{
	OK:              {"W3S_OK", "success"},
	EINVAL:          {"W3S_EINVAL", "invalid argument"},
	EBADF:           {"W3S_EBADF", "invalid, stale or wrong-kind handle"},
	ENOMEM:          {"W3S_ENOMEM", "out of memory"},
	ESTATE:          {"W3S_ESTATE", "operation not allowed in this state"},
	ESHUTDOWN:       {"W3S_ESHUTDOWN", "library has been shut down"},
	EFORKED:         {"W3S_EFORKED", "called in a child process after fork"},
	EADDR:           {"W3S_EADDR", "invalid address"},
	ENOTFOUND:       {"W3S_ENOTFOUND", "host name not found"},
	ECONNREFUSED:    {"W3S_ECONNREFUSED", "connection refused"},
	ECONNRESET:      {"W3S_ECONNRESET", "connection reset by peer"},
	ETIMEDOUT:       {"W3S_ETIMEDOUT", "timed out"},
	EADDRINUSE:      {"W3S_EADDRINUSE", "address already in use"},
	EADDRNOTAVAIL:   {"W3S_EADDRNOTAVAIL", "address not available"},
	ENETUNREACH:     {"W3S_ENETUNREACH", "network unreachable"},
	EHOSTUNREACH:    {"W3S_EHOSTUNREACH", "host unreachable"},
	EACCES:          {"W3S_EACCES", "permission denied"},
	EPIPE:           {"W3S_EPIPE", "broken pipe"},
	EMSGSIZE:        {"W3S_EMSGSIZE", "message too long"},
	ENOTSUP:         {"W3S_ENOTSUP", "operation not supported for this socket"},
	EMFILE:          {"W3S_EMFILE", "too many open files"},
	ENOOPT:          {"W3S_ENOOPT", "unknown option"},
	EIO:             {"W3S_EIO", "input/output error"},
	EABORTED:        {"W3S_EABORTED", "aborted"},
	ENOENT:          {"W3S_ENOENT", "no such file or directory"},
	EISCONN:         {"W3S_EISCONN", "socket is connected to another peer"},
	ENOTCONN:        {"W3S_ENOTCONN", "no destination for the datagram"},
	ETLS:            {"W3S_ETLS", "TLS handshake failed"},
	ETLSUnknownCA:   {"W3S_ETLS_UNKNOWN_CA", "certificate signed by unknown authority"},
	ETLSHostname:    {"W3S_ETLS_HOSTNAME", "certificate is not valid for the server name"},
	ETLSExpired:     {"W3S_ETLS_EXPIRED", "certificate expired or not yet valid"},
	ETLSVersion:     {"W3S_ETLS_VERSION", "no acceptable TLS version"},
	ETLSCertReq:     {"W3S_ETLS_CERT_REQUIRED", "client certificate required"},
	ETLSCertRejectd: {"W3S_ETLS_CERT_REJECTED", "certificate rejected by peer"},
	ETLSNotTLS:      {"W3S_ETLS_NOT_TLS", "peer does not speak TLS"},
	ETLSBadPEM:      {"W3S_ETLS_BAD_PEM", "certificate, key or CA does not parse"},
	ETLSTruncated:   {"W3S_ETLS_TRUNCATED", "TLS stream cut mid-record"},
	ETLSNoNotify:    {"W3S_ETLS_NO_CLOSE_NOTIFY", "TLS peer closed without close_notify"},
	ETLSBadRecord:   {"W3S_ETLS_BAD_RECORD", "TLS record malformed or failed authentication"},
	ETLSTooLarge:    {"W3S_ETLS_TOO_LARGE", "TLS handshake message too large (e.g. certificate chain)"},
	ENOTMULTICAST:   {"W3S_ENOTMULTICAST", "not a multicast group address"},
	ENOIFACE:        {"W3S_ENOIFACE", "unknown network interface"},
	EFAMILY:         {"W3S_EFAMILY", "address family does not match the socket"},
	EALREADY:        {"W3S_EALREADY", "group already joined"},
	ENOTJOINED:      {"W3S_ENOTJOINED", "group not joined"},
}

// Name is the constant's name in the header, e.g. "W3S_ECONNREFUSED".
func (c Code) Name() string {
	if t, ok := codeTexts[c]; ok {
		return t.name
	}
	return "W3S_UNKNOWN"
}

// Text is a short human description.
func (c Code) Text() string {
	if t, ok := codeTexts[c]; ok {
		return t.text
	}
	return "unknown error"
}

// AllCodes lists every defined code (for tests and the C string tables).
func AllCodes() []Code {
	out := make([]Code, 0, len(codeTexts))
	for c := range codeTexts {
		out = append(out, c)
	}
	return out
}

// Error is an error with a C ABI code and a detail message.
type Error struct {
	Code Code
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// Errf makes an *Error with a formatted detail message.
func Errf(c Code, format string, args ...any) *Error {
	return &Error{Code: c, Msg: fmt.Sprintf(format, args...)}
}

// AsError turns any error into an *Error, classifying Go and errno errors.
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: Classify(err), Msg: err.Error()}
}

// Classify maps a Go error to the closest code.
func Classify(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if c := classifyTLS(err); c != OK {
		return c
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		if dnsErr.IsTimeout {
			return ETIMEDOUT
		}
		return ENOTFOUND
	}
	var addrErr *net.AddrError
	if errors.As(err, &addrErr) {
		return EADDR
	}
	var parseErr *net.ParseError
	if errors.As(err, &parseErr) {
		return EADDR
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return ETIMEDOUT
	}
	if errors.Is(err, net.ErrClosed) {
		return EABORTED
	}
	if errors.Is(err, fs.ErrNotExist) {
		return ENOENT
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return classifyErrno(errno)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return ETIMEDOUT
	}
	return EIO
}

// errnoCodes maps the errno values a socket call can meet to codes;
// anything else is EIO with the errno's text as the message.
var errnoCodes = map[syscall.Errno]Code{
	syscall.ECONNREFUSED:  ECONNREFUSED,
	syscall.ECONNRESET:    ECONNRESET,
	syscall.ECONNABORTED:  ECONNRESET,
	syscall.ETIMEDOUT:     ETIMEDOUT,
	syscall.EADDRINUSE:    EADDRINUSE,
	syscall.EADDRNOTAVAIL: EADDRNOTAVAIL,
	syscall.ENETUNREACH:   ENETUNREACH,
	syscall.ENETDOWN:      ENETUNREACH,
	syscall.EHOSTUNREACH:  EHOSTUNREACH,
	syscall.EHOSTDOWN:     EHOSTUNREACH,
	syscall.EACCES:        EACCES,
	syscall.EPERM:         EACCES,
	syscall.EPIPE:         EPIPE,
	syscall.EMSGSIZE:      EMSGSIZE,
	syscall.EMFILE:        EMFILE,
	syscall.ENFILE:        EMFILE,
	syscall.ENOMEM:        ENOMEM,
	syscall.ENOBUFS:       ENOMEM,
	syscall.ENOENT:        ENOENT,
	syscall.EINVAL:        EINVAL,
	syscall.EISCONN:       EISCONN,
	syscall.ENOTCONN:      ENOTCONN,
	syscall.EDESTADDRREQ:  ENOTCONN,
	syscall.EAFNOSUPPORT:  EFAMILY,
	syscall.EOPNOTSUPP:    ENOTSUP,
	syscall.ENODEV:        ENOIFACE,
	syscall.ENXIO:         ENOIFACE,
}

func classifyErrno(e syscall.Errno) Code {
	if c, ok := errnoCodes[e]; ok {
		return c
	}
	return EIO
}
