/*
 * w3sock.h -- asynchronous TCP, UDP, TLS and STARTTLS sockets behind one C ABI.
 *
 * This is the only public header of libw3sock. It is written by hand; the
 * header cgo generates is never installed.
 *
 * MODEL
 *   A *loop* is an event queue. A host makes one per event loop it runs (one
 *   per asyncio loop, one per Node process, one or more in a C program).
 *   Sockets are created on a loop; everything that happens to them (connected,
 *   data arrived, peer closed, ...) becomes a w3s_event on that loop's queue.
 *   The host takes events either
 *     - in batches with w3s_loop_poll(), typically after w3s_loop_fd() turned
 *       readable in its own poller (epoll, asyncio add_reader, uv_poll), or
 *     - through a callback that the library calls with each batch on one
 *       library thread per loop (w3s_loop_set_callback).
 *
 * HANDLES
 *   Loops and sockets are int64_t handles (> 0) from a generation-tagged
 *   table. A handle that is 0, negative, stale (its object was released),
 *   or of the wrong kind makes a call fail with W3S_EBADF; it never crashes.
 *   A socket handle stays valid until its W3S_EV_CLOSE event has been
 *   delivered; after that it is stale.
 *
 * ERRORS
 *   Functions return a negative W3S_E* code on failure. The calling thread's
 *   detail message is then available from w3s_last_error_message(). A call
 *   that fails emits no event.
 *
 * THREADS
 *   Every function may be called from any thread, concurrently. Calls wait
 *   for no network event; they may wait for a library lock, held only for
 *   short sections that do not wait either. The exceptions wait for other
 *   threads; each says for what, and what bounds the wait:
 *     - w3s_loop_poll() / w3s_loop_poll_into() with a non-zero timeout wait
 *       for the first event, up to the timeout.
 *     - w3s_loop_close() waits for (a) the loop's callback thread, if any,
 *       to return from the host's w3s_event_cb (bounded only by the host's
 *       callback; refused from inside it), (b) a w3s_loop_poll() running on
 *       another thread to return (it is woken at once, so this is bounded
 *       by the reads it has already started, never by a timeout), and (c)
 *       for each socket of the loop, that socket's lock and a send or read
 *       another thread is doing on it right now (one non-blocking system
 *       call); then every socket is aborted and its descriptor closed. The
 *       time grows with the number of sockets and with the machine's load:
 *       about 25 us a socket (2,001 sockets 62 ms, 6,857 sockets 150 ms, on
 *       2 busy cores), and 1.4 to 1.6 s were seen under heavy load.
 *     - w3s_shutdown() does the same for every loop, one after another.
 *     - w3s_loop_set_callback() leaving callback mode waits as in (a).
 *     - w3s_release_memory() runs a garbage collection (milliseconds).
 *     - w3s_send_file() opens the file, and w3s_tcp_listen()/w3s_udp_open()
 *       bind, before they return (file system and kernel calls).
 *
 * MEMORY
 *   Data passed in (buffers, strings, option structs) is copied before the
 *   call returns; the caller keeps ownership. Data passed out in events is
 *   owned by the library and stays valid until the next w3s_loop_poll() on
 *   the same loop (or, in callback mode, until the callback returns).
 *   Strings are UTF-8 and NUL-terminated.
 *
 * FORK
 *   The library's threads do not exist in a child made by fork(). Every call
 *   made in such a child returns W3S_EFORKED at once (the library refuses
 *   before it touches its runtime, so a child never hangs), with the detail
 *   message set; w3s_version(), w3s_version_string(), w3s_strerror(),
 *   w3s_err_name() and w3s_last_error_message() keep answering there.
 *
 * ABI POLICY
 *   The version is W3S_VERSION_MAJOR.MINOR.PATCH below; w3s_version() is
 *   the loaded library's. It is written in one place, the source tree's
 *   VERSION file (`make test-abi` checks these macros, w3sock.pc and the
 *   bindings' package versions against it).
 *   - A PATCH release fixes behaviour; no declaration changes.
 *   - A MINOR release may add functions, macros, error codes, event types,
 *     options and fields at the end of a growable struct. It removes and
 *     changes nothing: a program built against x.y runs on any x.z, z >= y.
 *     Hosts therefore ignore event types they do not know and treat error
 *     codes they do not know as errors (w3s_err_name says "W3S_UNKNOWN").
 *   - A MAJOR release may change anything. The SONAME is
 *     libw3sock.so.MAJOR, so a program never loads another major.
 *   - While MAJOR is 0, a minor release may break the ABI too (the SONAME
 *     stays libw3sock.so.0); one that does says so in ABI HISTORY. A 0.x
 *     program compares w3s_version() with the W3S_VERSION_HEX it was
 *     built with when it starts.
 *   Growable structs. Those passed by pointer begin with uint32_t size,
 *   which the caller sets to its sizeof (the *_init functions do). The
 *   library reads and writes exactly size bytes: a smaller (older) struct
 *   gets the defaults of the fields it lacks, and output structs are
 *   written only up to its size; a larger (newer) struct is accepted when
 *   every byte the library does not know is zero (W3S_EINVAL otherwise,
 *   as Linux's clone3 and openat2 do), and output structs get zeros there.
 *   Arrays the library fills (w3s_event, w3s_group, w3s_interface) get the
 *   caller's element size instead: once per loop (w3s_loop_new_sized) or
 *   per call (*_sized); a size below the first ABI's is W3S_EINVAL. Fields
 *   are only ever appended, and every version of a struct ends at its last
 *   field (no tail padding; its size is a multiple of 8), so no new field
 *   lies in an older version's padding.
 *
 * ABI HISTORY
 *   0.1.0  First ABI.
 *   0.2.0  Compatible with 0.1. Option structs, w3s_info and w3s_stats_t
 *          accept smaller and larger sizes. Added w3s_loop_new_sized,
 *          w3s_get_joined_groups_sized, w3s_network_list_sized; the 0.1
 *          names became macros that pass sizeof, and the 0.1 symbols
 *          remain, with the 0.1 layouts.
 */
#ifndef W3SOCK_H
#define W3SOCK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Version                                                                   */
/* ------------------------------------------------------------------------ */

#define W3S_VERSION_MAJOR 0
#define W3S_VERSION_MINOR 2
#define W3S_VERSION_PATCH 0
#define W3S_VERSION_HEX \
    ((W3S_VERSION_MAJOR << 16) | (W3S_VERSION_MINOR << 8) | W3S_VERSION_PATCH)

/* The version of the loaded library as W3S_VERSION_HEX would spell it. */
uint32_t w3s_version(void);

/* The version as a static string, e.g. "0.2.0". */
const char *w3s_version_string(void);

/* ------------------------------------------------------------------------ */
/* Error codes (stable numbers)                                              */
/* ------------------------------------------------------------------------ */

/* Each comment is w3s_strerror()'s text, then details in parentheses. The
 * numbers, names and texts are the library's table (core/errors.go); the
 * bindings' copies are checked against this header by `make test-abi`. */

#define W3S_OK                   0
#define W3S_EINVAL              -1  /* invalid argument (NULL, length, range) */
#define W3S_EBADF               -2  /* invalid, stale or wrong-kind handle (0, or closed) */
#define W3S_ENOMEM              -3  /* out of memory */
#define W3S_ESTATE              -4  /* operation not allowed in this state (the socket's ready state) */
#define W3S_ESHUTDOWN           -5  /* library has been shut down (w3s_shutdown) */
#define W3S_EFORKED             -6  /* called in a child process after fork */
#define W3S_EADDR               -7  /* invalid address (does not parse, or wrong family) */
#define W3S_ENOTFOUND           -8  /* host name not found */
#define W3S_ECONNREFUSED        -9  /* connection refused */
#define W3S_ECONNRESET         -10  /* connection reset by peer */
#define W3S_ETIMEDOUT          -11  /* timed out (connect or I/O) */
#define W3S_EADDRINUSE         -12  /* address already in use (local address) */
#define W3S_EADDRNOTAVAIL      -13  /* address not available (local address) */
#define W3S_ENETUNREACH        -14  /* network unreachable */
#define W3S_EHOSTUNREACH       -15  /* host unreachable */
#define W3S_EACCES             -16  /* permission denied */
#define W3S_EPIPE              -17  /* broken pipe (write after the write side was closed) */
#define W3S_EMSGSIZE           -18  /* message too long (datagram) */
#define W3S_ENOTSUP            -19  /* operation not supported for this socket (kind) */
#define W3S_EMFILE             -20  /* too many open files (out of descriptors) */
#define W3S_ENOOPT             -21  /* unknown option */
#define W3S_EIO                -22  /* input/output error (the message has details) */
#define W3S_EABORTED           -23  /* aborted (locally: w3s_abort, loop close) */
#define W3S_ENOENT             -24  /* no such file or directory (send_file, unix: path) */
#define W3S_EISCONN            -25  /* socket is connected to another peer (UDP) */
#define W3S_ENOTCONN           -26  /* no destination for the datagram (UDP) */

/* TLS (issue: TLS and STARTTLS) */
#define W3S_ETLS               -40  /* TLS handshake failed (protocol) */
#define W3S_ETLS_UNKNOWN_CA    -41  /* certificate signed by unknown authority (peer certificate) */
#define W3S_ETLS_HOSTNAME      -42  /* certificate is not valid for the server name */
#define W3S_ETLS_EXPIRED       -43  /* certificate expired or not yet valid */
#define W3S_ETLS_VERSION       -44  /* no acceptable TLS version (none in common, or refused) */
#define W3S_ETLS_CERT_REQUIRED -45  /* client certificate required (by the server) */
#define W3S_ETLS_CERT_REJECTED -46  /* certificate rejected by peer (our certificate) */
#define W3S_ETLS_NOT_TLS       -47  /* peer does not speak TLS */
#define W3S_ETLS_BAD_PEM       -48  /* certificate, key or CA does not parse (PEM) */
#define W3S_ETLS_TRUNCATED     -49  /* TLS stream cut mid-record (an ERROR: no
                                       close_notify; bytes after the cut are lost) */
#define W3S_ETLS_NO_CLOSE_NOTIFY -50 /* TLS peer closed without close_notify (not an
                                       ERROR: carried in the END event's error field
                                       when a TLS peer ended at a record boundary
                                       without close_notify. Every byte delivered is
                                       authentic, but the peer did not say it had sent
                                       everything; END with error 0 means close_notify
                                       came first) */
#define W3S_ETLS_BAD_RECORD    -51  /* TLS record malformed or failed authentication
                                       (garbage after the handshake, tampering) */
#define W3S_ETLS_TOO_LARGE     -52  /* TLS handshake message too large (e.g. certificate
                                       chain) (crypto/tls's limit is 256 KiB) */

/* Multicast (issue: UDP multicast) */
#define W3S_ENOTMULTICAST      -60  /* not a multicast group address */
#define W3S_ENOIFACE           -61  /* unknown network interface */
#define W3S_EFAMILY            -62  /* address family does not match the socket */
#define W3S_EALREADY           -63  /* group already joined */
#define W3S_ENOTJOINED         -64  /* group not joined */

/* A static, human-readable description of code ("connection refused"). */
const char *w3s_strerror(int code);

/* The static name of code ("W3S_ECONNREFUSED"); "W3S_UNKNOWN" if unknown. */
const char *w3s_err_name(int code);

/* The detail message of the last failed call on this thread ("" if none).
 * Valid until the next w3s_* call on this thread. */
const char *w3s_last_error_message(void);

/* ------------------------------------------------------------------------ */
/* Library lifecycle                                                         */
/* ------------------------------------------------------------------------ */

/* Closes every loop and socket (sockets are aborted, no further events are
 * delivered). Blocks as w3s_loop_close() does, for each loop (THREADS).
 * Afterwards every function except the version, error-string and
 * w3s_stats functions returns W3S_ESHUTDOWN. Idempotent; returns W3S_OK. */
int w3s_shutdown(void);

/* Returns memory the library no longer uses to the operating system (a
 * garbage collection, then the free pages), like sqlite3_release_memory.
 * Useful after a burst of traffic; it never has to be called. Blocks the
 * caller for the collection (milliseconds). Returns W3S_OK. */
int w3s_release_memory(void);

typedef struct w3s_stats {
    uint32_t size;        /* in: sizeof(w3s_stats_t) */
    uint32_t reserved;
    int64_t loops;        /* live loops */
    int64_t sockets;      /* live socket handles */
    int64_t goroutines;   /* library goroutines (Go runtime count) */
    int64_t open_fds;     /* open descriptors of the whole process */
    int64_t events_queued;/* events waiting in all loops */
} w3s_stats_t;

/* Fills *out with live counts, so tests can prove nothing leaks; writes
 * out->size bytes (see ABI POLICY). Errors: W3S_EINVAL (NULL, or size
 * below 4 or above 4096). */
int w3s_stats(w3s_stats_t *out);

/* ------------------------------------------------------------------------ */
/* Loops and events                                                          */
/* ------------------------------------------------------------------------ */

typedef enum w3s_event_type {
    W3S_EV_OPEN = 1,       /* connected / listening / bound */
    W3S_EV_DATA = 2,       /* TCP bytes: data, len */
    W3S_EV_MESSAGE = 3,    /* one UDP datagram: data, len, address, port */
    W3S_EV_CONNECTION = 4, /* listener accepted: accepted, address, port */
    W3S_EV_DRAIN = 5,      /* send buffer emptied after reaching high water */
    W3S_EV_END = 6,        /* peer sent FIN; no more DATA follows */
    W3S_EV_SECURE = 7,     /* TLS handshake completed (first or STARTTLS) */
    W3S_EV_ERROR = 8,      /* error: code in error, message in data; CLOSE follows */
    W3S_EV_CLOSE = 9       /* final event of the socket; the handle is released */
} w3s_event_type;

/* One event. The layout of the first ABI (0.1, 104 bytes) is fixed (offsets
 * in comments) so bindings can read it from raw memory. Later versions may
 * only append fields: each loop knows the size of the caller's w3s_event
 * (w3s_loop_new_sized) and writes exactly that many bytes per element,
 * fields it does not have as zero. */
typedef struct w3s_event {
    int64_t handle;         /*  0: socket the event is about */
    uint64_t user_data;     /*  8: that socket's user_data */
    int32_t type;           /* 16: w3s_event_type */
    int32_t error;          /* 20: W3S_E* for ERROR (and CLOSE after an error); on END
                               of a TLS stream, W3S_ETLS_NO_CLOSE_NOTIFY when the peer
                               ended without close_notify; else 0 */
    const uint8_t *data;    /* 24: DATA/MESSAGE payload, ERROR message (NUL-terminated) */
    uint64_t len;           /* 32: bytes at data (excluding the NUL of a message) */
    int64_t accepted;       /* 40: CONNECTION: handle of the new socket */
    uint16_t port;          /* 48: MESSAGE/CONNECTION: remote port */
    uint16_t family;        /* 50: 4, 6, or 1 for AF_UNIX; 0 if no address */
    uint32_t reserved;      /* 52 */
    char address[48];       /* 56: MESSAGE/CONNECTION: remote address text */
} w3s_event;

/* sizeof(w3s_event) of the first ABI: the smallest event size a loop takes. */
#define W3S_EVENT_SIZE_V1 104

/* Makes a loop whose events are event_size bytes each, the caller's
 * sizeof(w3s_event): every events array the loop fills (w3s_loop_poll,
 * w3s_loop_poll_into, the w3s_event_cb batches) has that stride. Returns
 * its handle (> 0) or W3S_EINVAL (event_size below W3S_EVENT_SIZE_V1 or
 * above 4096), W3S_EMFILE, W3S_ENOMEM, W3S_ESHUTDOWN, W3S_EFORKED. */
int64_t w3s_loop_new_sized(size_t event_size);

/* The 0.1 entry point: a loop of W3S_EVENT_SIZE_V1-byte events, kept for
 * programs built against 0.1. The macro makes new code pass its own size. */
int64_t w3s_loop_new(void);
#define w3s_loop_new() w3s_loop_new_sized(sizeof(w3s_event))

/* Closes a loop: every socket on it is aborted without further events, its
 * callback thread (if any) stops, its fd is closed. Blocks: it waits for
 * the loop's callback and for a poll in progress on another thread (see
 * THREADS). Errors: W3S_EBADF, W3S_ESTATE (called from inside that loop's
 * own callback). */
int w3s_loop_close(int64_t loop);

/* A file descriptor that is readable while events are pending: an epoll
 * instance holding the queue's eventfd and the loop's plain TCP sockets, so
 * it is also readable while one of them has data that w3s_loop_poll() will
 * read on the calling thread. Watch it for readability (level-triggered);
 * do not read, write or close it. Errors: W3S_EBADF. */
int w3s_loop_fd(int64_t loop);

/* Takes up to max events into events[], waiting up to timeout_ms for the
 * first one (0: do not wait, -1: wait forever). Queued events come first;
 * then the calling thread reads once from each readable plain TCP socket
 * and returns that data as DATA events (TLS and UDP sockets, and every
 * socket of a loop with a notify callback, are read by library threads).
 * Returns the count (>= 0). One thread at a time polls a loop.
 * Payloads of the previous poll on this loop are released by this call.
 * Errors: W3S_EBADF, W3S_EINVAL (NULL events, max < 1), W3S_ESTATE (the
 * loop is in callback mode). */
int w3s_loop_poll(int64_t loop, w3s_event *events, int max, int timeout_ms);

/* As w3s_loop_poll(), but data the calling thread reads from plain TCP
 * sockets is read straight into buf (cap bytes): such an event's data then
 * points into buf, and the caller may keep those bytes without copying them
 * (each payload is followed by a NUL byte, also in buf). Once less than
 * 16 KiB of buf is left the poll stops reading and returns (the rest waits
 * for the next poll); a buf under 16 KiB is not used. Every other payload
 * (TLS, UDP, data read by a poll that also delivers queued events) lives in
 * library memory as with w3s_loop_poll(); compare data with buf to tell.
 * buf stays the caller's: the library does not use it after returning.
 * buf may be NULL (cap 0).
 * Errors: as w3s_loop_poll(), and W3S_EINVAL (NULL buf with cap > 0). */
int w3s_loop_poll_into(int64_t loop, w3s_event *events, int max, int timeout_ms,
                       void *buf, size_t cap);

/* Wakes a w3s_loop_poll() that is waiting on this loop (it returns 0). A
 * wake that comes while no poll is waiting is kept: the next poll returns
 * at once (with what is pending, or 0). Errors: W3S_EBADF. */
int w3s_loop_wake(int64_t loop);

/* Called with each batch of events in callback mode, on one library thread
 * per loop, never twice at once for a loop. events is valid until it returns.
 * It may call any w3s_* function except w3s_loop_close on its own loop. */
typedef void (*w3s_event_cb)(void *user, const w3s_event *events, int count);

/* Switches the loop to callback mode (cb != NULL) or back to poll mode
 * (cb == NULL; returns after the callback thread has stopped). Errors:
 * W3S_EBADF. */
int w3s_loop_set_callback(int64_t loop, w3s_event_cb cb, void *user);

/* Called when the loop's queue goes from empty to non-empty (edge): the host
 * should then drain it with w3s_loop_poll(). Runs on the loop's own
 * notifier thread and never under a library lock, so it may block until
 * the host's thread has run it (koffi callbacks do). A host that is only
 * notified cannot see socket readiness on the fd, so from this call on every
 * socket of the loop is read by a library thread that queues its data.
 * fn == NULL removes it. Once this call (replacing or removing fn) or
 * w3s_loop_close() returns, no call of the old fn starts; one already
 * running is not waited for (it may be waiting for this very thread) and
 * may still be returning. Errors: W3S_EBADF. */
typedef void (*w3s_notify_cb)(void *user);
int w3s_loop_set_notify(int64_t loop, w3s_notify_cb fn, void *user);

/* ------------------------------------------------------------------------ */
/* Options                                                                   */
/* ------------------------------------------------------------------------ */

#define W3S_CLIENT_AUTH_NONE    0
#define W3S_CLIENT_AUTH_REQUEST 1  /* ask for a certificate, verify if given */
#define W3S_CLIENT_AUTH_REQUIRE 2  /* require and verify a certificate */

/* TLS settings. Fill with w3s_tls_options_init() and then set fields. */
typedef struct w3s_tls_options {
    uint32_t size;               /* sizeof(w3s_tls_options) */
    int32_t insecure_skip_verify;/* client: 1 skips verification; default 0 */
    const char *server_name;     /* client: SNI + verification name; default: host */
    const char *ca_pem;          /* PEM CA certificates to trust; NULL: system roots */
    const char *cert_pem;        /* PEM certificate chain (server, or client cert) */
    const char *key_pem;         /* PEM private key for cert_pem */
    const char *alpn;            /* comma-separated ALPN list, e.g. "h2,http/1.1" */
    const char *min_version;     /* "tls1.2" (default) or "tls1.3" */
    const char *max_version;     /* "tls1.2" or "tls1.3" (default) */
    int32_t ca_replace_system;   /* 1: ca_pem replaces system roots (default 1
                                    when ca_pem is set, see w3s_tls_options_init) */
    int32_t client_auth;         /* server: W3S_CLIENT_AUTH_* ; default NONE */
} w3s_tls_options;

/* TCP client and server settings (one struct for both; each field says
 * which it applies to). Fill with w3s_tcp_options_init(). */
typedef struct w3s_tcp_options {
    uint32_t size;               /* sizeof(w3s_tcp_options) */
    int32_t local_port;          /* both: 0 = ephemeral (default) */
    const char *local_address;   /* both: NULL = any */
    int32_t no_delay;            /* connect/accepted: TCP_NODELAY, default 1 */
    int32_t keep_alive;          /* connect/accepted: default 0 */
    int32_t keep_alive_delay_ms; /* idle time before probes; 0 = system default */
    int32_t connect_timeout_ms;  /* connect (and TLS handshake): 0 = none of
                                    our own for the TCP connect, 30 s for the
                                    TLS handshake (STARTTLS: 30 s, accepted
                                    TLS connections: 10 s) */
    int32_t send_buffer_size;    /* SO_SNDBUF, 0 = system default */
    int32_t receive_buffer_size; /* SO_RCVBUF, 0 = system default */
    int32_t address_reuse;       /* listen: SO_REUSEADDR, default 1 */
    int32_t reuse_port;          /* listen: SO_REUSEPORT, default 0 */
    int32_t backlog;             /* listen: 0 = 511 */
    int32_t use_secure_transport;/* both: TLS from the first byte, default 0 */
    int64_t high_water_send;     /* bytes; 0 = default (1 MiB) */
    int64_t high_water_receive;  /* bytes; 0 = default (1 MiB) */
    const w3s_tls_options *tls;  /* TLS settings; NULL = defaults */
} w3s_tcp_options;

/* UDP settings. Fill with w3s_udp_options_init(). */
typedef struct w3s_udp_options {
    uint32_t size;               /* sizeof(w3s_udp_options) */
    int32_t local_port;          /* 0 = ephemeral (default) */
    const char *local_address;   /* NULL = any (IPv6 any, dual-stack) */
    const char *remote_address;  /* NULL = unconnected; else connected mode */
    int32_t remote_port;
    int32_t address_reuse;       /* SO_REUSEADDR, default 1 */
    int32_t reuse_port;          /* SO_REUSEPORT, default 0 */
    int32_t broadcast;           /* SO_BROADCAST, default 0 */
    int32_t ttl;                 /* unicast TTL/hop limit; 0 = system default */
    int32_t multicast_ttl;       /* -1 = system default (1) */
    int32_t multicast_loopback;  /* default 0 (the W3C default) */
    int32_t send_buffer_size;    /* SO_SNDBUF, 0 = system default */
    int32_t receive_buffer_size; /* SO_RCVBUF, 0 = system default */
    const char *multicast_interface; /* name, index ("3") or address; NULL = system */
    int64_t high_water_send;     /* bytes queued for sending; 0 = 1 MiB */
    int64_t high_water_receive;  /* bytes of undelivered datagrams before dropping;
                                    0 = 4 MiB */
} w3s_udp_options;

/* Fill *o with defaults (and o->size). Errors: W3S_EINVAL (NULL).
 * Every function taking one of these structs reads o->size bytes of it
 * (ABI POLICY): W3S_EINVAL when size is below 8 or above 4096, or not a
 * multiple of 8 (every sizeof of these structs is one; another size would
 * end inside a field), or when a larger struct than this library's has a
 * non-zero byte past its end. */
int w3s_tls_options_init(w3s_tls_options *o);
int w3s_tcp_options_init(w3s_tcp_options *o);
int w3s_udp_options_init(w3s_udp_options *o);

/* ------------------------------------------------------------------------ */
/* Sockets                                                                   */
/* ------------------------------------------------------------------------ */

/* Connects to host:port (a name, an IPv4/IPv6 literal without brackets, or
 * "unix:/path" for an AF_UNIX stream socket, port ignored). Names resolve to
 * every address; IPv6 and IPv4 race with a 300 ms fallback delay. Returns the
 * socket handle at once; the outcome arrives as OPEN or ERROR + CLOSE. With
 * use_secure_transport, OPEN comes after the TLS handshake and SECURE
 * follows it at once. opts may be NULL.
 * Errors (immediate): W3S_EBADF (loop), W3S_EINVAL (NULL/empty host, port
 * outside 1..65535, bad option), W3S_EADDR (local_address does not parse),
 * W3S_ETLS_BAD_PEM, W3S_ESHUTDOWN, W3S_EFORKED. */
int64_t w3s_tcp_connect(int64_t loop, const char *host, int port,
                        const w3s_tcp_options *opts, uint64_t user_data);

/* Listens on local_address:local_port ("unix:/path" as local_address makes
 * an AF_UNIX listener). Binding happens before the call returns, so the
 * port is known from w3s_get_info() at once; OPEN follows. Accepted sockets
 * arrive as CONNECTION events on the same loop, already open and reading
 * (they get no OPEN of their own; with use_secure_transport the CONNECTION
 * comes after the handshake and the new socket's first event is SECURE; a
 * failed handshake is counted in the listener's messages_dropped and the
 * connection dropped). They inherit the listener's options (no_delay,
 * keep-alive, buffer sizes, high-water marks, TLS settings for STARTTLS).
 * Their events carry the listener's user_data until w3s_set_user_data()
 * changes it.
 * Errors: W3S_EBADF, W3S_EINVAL, W3S_EADDR, W3S_EADDRINUSE, W3S_EACCES,
 * W3S_EADDRNOTAVAIL, W3S_EMFILE, W3S_ETLS_BAD_PEM, W3S_ESHUTDOWN, W3S_EFORKED. */
int64_t w3s_tcp_listen(int64_t loop, const w3s_tcp_options *opts,
                       uint64_t user_data);

/* Opens a UDP socket bound to local_address:local_port; OPEN follows.
 * Datagrams arrive as MESSAGE events. Errors: as w3s_tcp_listen. */
int64_t w3s_udp_open(int64_t loop, const w3s_udp_options *opts,
                     uint64_t user_data);

/* Sets the user_data carried by the socket's events from now on: an event
 * takes the value current when a poll hands it out, so events already
 * queued but not yet polled carry the new value too. Errors: W3S_EBADF. */
int w3s_set_user_data(int64_t h, uint64_t user_data);

/* TCP: queues len bytes (copied) for sending, never dropping any. UDP: sends
 * one datagram to the connected peer. Returns the bytes still buffered
 * (>= 0). When that reaches the send high-water mark, a DRAIN event follows
 * once the buffer is empty again. Sending on an "opening" TCP socket queues.
 * len 0 is allowed and does nothing. For a plain TCP socket the loop's polling
 * thread flushes queued bytes when the socket becomes writable: keep polling
 * the loop (as for any event) while data is queued.
 * Errors: W3S_EBADF, W3S_EINVAL (NULL data with len > 0, len > 2^31),
 * W3S_ESTATE (closing/closed, or write side half-closed), W3S_ENOTSUP
 * (listener), W3S_ENOTCONN (unconnected UDP), W3S_EMSGSIZE, W3S_ENOMEM
 * (no memory to queue it; then none of it was sent: a send of which part
 * is already on the wire never fails). */
int64_t w3s_send(int64_t h, const void *data, size_t len);

/* UDP: sends one datagram to address:port (address NULL: the connected
 * peer; a host name is resolved off the caller's thread). Returns the bytes
 * still buffered (>= 0). A queued datagram the network refuses later is
 * dropped and counted in w3s_info.messages_dropped.
 * Errors: W3S_EBADF, W3S_EINVAL, W3S_EADDR, W3S_EFAMILY (IPv6 address on an
 * IPv4 socket), W3S_ENOTSUP (not UDP), W3S_EISCONN (connected socket and
 * another destination), W3S_ENOTCONN, W3S_EMSGSIZE, W3S_EACCES (broadcast
 * without the broadcast option), W3S_ESTATE. */
int64_t w3s_send_to(int64_t h, const void *data, size_t len,
                    const char *address, int port);

/* TCP: queues len bytes of the file at path from offset (len -1: to its
 * end) behind data already queued; sent with sendfile(2) on plain TCP.
 * The file is opened before the call returns. Returns the bytes buffered.
 * Errors: W3S_EBADF, W3S_EINVAL, W3S_ENOENT, W3S_EACCES, W3S_ENOTSUP,
 * W3S_ESTATE. */
int64_t w3s_send_file(int64_t h, const char *path, int64_t offset,
                      int64_t len);

/* Stops (pause) and restarts (resume) reading from the kernel; TCP flow
 * control then holds the peer back. Idempotent. Errors: W3S_EBADF,
 * W3S_ENOTSUP (listener: use close). */
int w3s_pause(int64_t h);
int w3s_resume(int64_t h);

/* TCP: sends FIN after the queued data (ready state becomes "halfclosed");
 * reading goes on. Errors: W3S_EBADF, W3S_ENOTSUP, W3S_ESTATE. */
int w3s_half_close(int64_t h);

/* Graceful close: queued data is sent, then the socket closes; CLOSE
 * follows. A second close is a no-op returning W3S_OK while the handle is
 * live. Errors: W3S_EBADF. */
int w3s_close(int64_t h);

/* Immediate close: queued data is dropped, TCP peers see a reset (RST);
 * ERROR is not emitted, CLOSE follows. Errors: W3S_EBADF. */
int w3s_abort(int64_t h);

/* STARTTLS on an open plaintext TCP socket: client role for a socket made by
 * w3s_tcp_connect, server role for an accepted socket. Data queued before the
 * call is flushed in plaintext first; bytes already received but not yet
 * delivered are fed to the handshake, never delivered as plaintext. SECURE
 * follows, or ERROR + CLOSE. opts may be NULL (client: verify against system
 * roots; server: NULL is W3S_EINVAL since a certificate is needed).
 * Errors: W3S_EBADF, W3S_ENOTSUP (UDP/listener), W3S_ESTATE (already
 * secure, not open, closing), W3S_EINVAL, W3S_ETLS_BAD_PEM. */
int w3s_start_tls(int64_t h, const w3s_tls_options *opts);

/* As w3s_start_tls, and unread (len bytes, copied) are bytes the host
 * received but has not consumed: they are fed to the handshake ahead of
 * anything else. A server that read "STARTTLS\r\n" plus more from one DATA
 * event passes the rest here: a racing ClientHello then still works, and
 * plaintext injected after the command (CVE-2011-0411) fails the handshake
 * with W3S_ETLS_NOT_TLS instead of being taken as a command.
 * Errors: as w3s_start_tls, and W3S_EINVAL (NULL unread with len > 0). */
int w3s_start_tls_with(int64_t h, const w3s_tls_options *opts,
                       const void *unread, size_t len);

/* UDP: sets or (address NULL) removes the connected peer.
 * Errors: W3S_EBADF, W3S_ENOTSUP, W3S_EADDR, W3S_EFAMILY, W3S_EINVAL. */
int w3s_udp_set_peer(int64_t h, const char *address, int port);

/* ------------------------------------------------------------------------ */
/* Multicast                                                                 */
/* ------------------------------------------------------------------------ */

/* Joins or leaves group on iface (name, index as text, or NULL for the
 * system's choice). A socket receives only groups it joined itself.
 * Errors: W3S_EBADF, W3S_ENOTSUP (not UDP), W3S_EINVAL, W3S_EADDR,
 * W3S_ENOTMULTICAST, W3S_ENOIFACE, W3S_EFAMILY, W3S_EALREADY (join),
 * W3S_ENOTJOINED (leave). */
int w3s_join_group(int64_t h, const char *group, const char *iface);
int w3s_leave_group(int64_t h, const char *group, const char *iface);

/* Source-specific membership (only datagrams from source are delivered).
 * Errors: as w3s_join_group. */
int w3s_join_source_group(int64_t h, const char *source, const char *group,
                          const char *iface);
int w3s_leave_source_group(int64_t h, const char *source, const char *group,
                           const char *iface);

typedef struct w3s_group {
    char group[48];
    char source[48];   /* "" for any-source membership */
    uint32_t iface;    /* interface index, 0 = system's choice */
    uint32_t reserved;
} w3s_group;

/* sizeof(w3s_group) of the first ABI: the smallest element size taken. */
#define W3S_GROUP_SIZE_V1 104

/* Fills up to max memberships into out, elements of elem_size bytes (the
 * caller's sizeof(w3s_group); exactly that many bytes are written per
 * element); returns how many the socket has (may be more than max). out
 * may be NULL when max is 0.
 * Errors: W3S_EBADF, W3S_ENOTSUP (not UDP), W3S_EINVAL (max < 0, NULL
 * out with max > 0, elem_size below W3S_GROUP_SIZE_V1 or above 4096). */
int w3s_get_joined_groups_sized(int64_t h, w3s_group *out, int max, size_t elem_size);

/* The 0.1 entry point (W3S_GROUP_SIZE_V1-byte elements); the macro makes
 * new code pass its own size. */
int w3s_get_joined_groups(int64_t h, w3s_group *out, int max);
#define w3s_get_joined_groups(h, out, max) \
    w3s_get_joined_groups_sized((h), (out), (max), sizeof(w3s_group))

/* ------------------------------------------------------------------------ */
/* Socket options                                                            */
/* ------------------------------------------------------------------------ */

typedef enum w3s_option {
    W3S_OPT_NO_DELAY = 1,            /* TCP: 0/1 */
    W3S_OPT_KEEP_ALIVE = 2,          /* TCP: 0/1 */
    W3S_OPT_KEEP_ALIVE_DELAY_MS = 3, /* TCP: idle ms before probes */
    W3S_OPT_SEND_BUFFER_SIZE = 4,    /* SO_SNDBUF (get: what the kernel has) */
    W3S_OPT_RECEIVE_BUFFER_SIZE = 5, /* SO_RCVBUF (get: what the kernel has) */
    W3S_OPT_TTL = 6,                 /* IP_TTL / IPV6_UNICAST_HOPS */
    W3S_OPT_MULTICAST_TTL = 7,       /* UDP */
    W3S_OPT_MULTICAST_LOOPBACK = 8,  /* UDP: 0/1 */
    W3S_OPT_BROADCAST = 9,           /* UDP: 0/1 */
    W3S_OPT_HIGH_WATER_SEND = 10,    /* bytes */
    W3S_OPT_HIGH_WATER_RECEIVE = 11, /* bytes */
    W3S_OPT_ADDRESS_REUSE = 12,      /* SO_REUSEADDR */
    W3S_OPT_REUSE_PORT = 13,         /* SO_REUSEPORT */
    W3S_OPT_MULTICAST_INTERFACE = 14 /* UDP: interface index, 0 = system */
} w3s_option;

/* Sets / reads an option. Reading returns what the kernel really has.
 * Errors: W3S_EBADF, W3S_ENOOPT (unknown option or not for this kind),
 * W3S_EINVAL (value out of range, NULL value), W3S_ESTATE (not open). */
int w3s_set_option(int64_t h, int opt, int64_t value);
int w3s_get_option(int64_t h, int opt, int64_t *value);

/* ------------------------------------------------------------------------ */
/* Information                                                               */
/* ------------------------------------------------------------------------ */

typedef enum w3s_kind {
    W3S_KIND_TCP = 1,
    W3S_KIND_TCP_SERVER = 2,
    W3S_KIND_UDP = 3
} w3s_kind;

/* Ready states, in the W3C draft's order. */
typedef enum w3s_ready_state {
    W3S_STATE_OPENING = 0,
    W3S_STATE_OPEN = 1,
    W3S_STATE_CLOSING = 2,
    W3S_STATE_CLOSED = 3,
    W3S_STATE_HALFCLOSED = 4
} w3s_ready_state;

typedef struct w3s_info {
    uint32_t size;              /* in: sizeof(w3s_info) */
    int32_t kind;               /* w3s_kind */
    int32_t ready_state;        /* w3s_ready_state */
    int32_t family;             /* 4, 6, 1 (AF_UNIX), 0 unknown yet */
    char local_address[112];
    int32_t local_port;
    int32_t remote_port;
    char remote_address[112];
    int64_t buffered_amount;    /* bytes queued for sending */
    uint64_t bytes_received;
    uint64_t bytes_sent;
    uint64_t messages_received; /* UDP datagrams; listener: connections accepted */
    uint64_t messages_sent;
    uint64_t messages_dropped;  /* UDP: datagrams we dropped (our receive
                                   queue at its high-water mark, or a queued
                                   send the network refused); datagrams the
                                   kernel drops, e.g. while paused, are not
                                   seen. Listener: failed TLS handshakes */
    int32_t paused;             /* reading paused by w3s_pause */
    int32_t peer_ended;         /* END was seen */
    int64_t rtt_us;             /* kernel RTT estimate (TCP_INFO); -1 unknown */
    int32_t secure;             /* TLS is established */
    int32_t reserved;
    char tls_version[16];       /* "tls1.2", "tls1.3" */
    char tls_cipher[64];        /* e.g. "TLS_AES_128_GCM_SHA256" */
    char alpn[64];              /* negotiated protocol, "" if none */
    char server_name[256];      /* SNI sent (client) or received (server) */
    char peer_subject[256];     /* peer certificate subject, RFC 2253 */
    char peer_issuer[256];      /* peer certificate issuer */
} w3s_info;

/* Fills *info (set info->size first); writes info->size bytes (see ABI
 * POLICY). Errors: W3S_EBADF, W3S_EINVAL (NULL, or size below 4 or above
 * 4096). */
int w3s_get_info(int64_t h, w3s_info *info);

#define W3S_IF_UP        1
#define W3S_IF_LOOPBACK  2
#define W3S_IF_MULTICAST 4
#define W3S_IF_BROADCAST 8

/* One interface address (chrome.socket getNetworkList shape). An interface
 * without addresses appears once with address "". */
typedef struct w3s_interface {
    char name[64];
    char address[48];
    uint32_t index;
    uint32_t flags;          /* W3S_IF_* */
    int32_t prefix_length;   /* -1 when there is no address */
    int32_t family;          /* 4, 6, or 0 when there is no address */
} w3s_interface;

/* sizeof(w3s_interface) of the first ABI: the smallest element size taken. */
#define W3S_INTERFACE_SIZE_V1 128

/* Fills up to max entries into out, elements of elem_size bytes (the
 * caller's sizeof(w3s_interface)); returns the total number available
 * (call again with a bigger array if it exceeds max). out may be NULL when
 * max is 0.
 * Errors: W3S_EINVAL (max < 0, NULL out with max > 0, elem_size below
 * W3S_INTERFACE_SIZE_V1 or above 4096), W3S_EIO. */
int w3s_network_list_sized(w3s_interface *out, int max, size_t elem_size);

/* The 0.1 entry point (W3S_INTERFACE_SIZE_V1-byte elements); the macro
 * makes new code pass its own size. */
int w3s_network_list(w3s_interface *out, int max);
#define w3s_network_list(out, max) w3s_network_list_sized((out), (max), sizeof(w3s_interface))

#ifdef __cplusplus
}
#endif

#endif /* W3SOCK_H */
