package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"

	"golang.org/x/sys/unix"
)

// reactorServer is the proposed model: one locked thread waits in epoll for
// every socket, reads ciphertext with read(2), pushes it into the socket's
// memConn and calls tls.Conn.Read until errWouldBlock; answers are encrypted
// into memConn.out and written with write(2) by the same thread.
//
// For the send workload a second locked thread (the host) sends:
//   - mode inline: the host encrypts (tls.Conn.Write into memConn.out) and
//     writes with write(2) at once; only when the kernel refuses does output
//     queue, and the host then waits for POLLOUT above the high-water mark;
//   - mode batch: the host appends plaintext to the socket's queue and wakes
//     the reactor through an eventfd; the reactor encrypts each socket's whole
//     queue at once and writes it;
//   - mode hybrid: batch, except that a send of at least inlineMin bytes on a
//     socket with nothing queued is encrypted and written by the host, under
//     the socket's lock (the reactor takes the same lock).
type reactorServer struct {
	c        config
	socks    []*rsock
	accepted chan error
	bytes    int64 // owned by the reactor thread until the peer is done

	// batch mode: shared between host and reactor, under mu.
	mu       sync.Mutex
	cond     *sync.Cond
	dirty    []*rsock
	signaled bool
	efd      int
}

type rsock struct {
	index   int // in reactorServer.socks, the epoll tag
	fd      int
	tc      *tls.Conn // nil for plain TCP
	mc      *memConn
	pending []byte // ciphertext (or plaintext) the kernel has not taken
	closed  bool

	// send workloads: the host (hybrid mode) and the reactor both write
	// the socket; whoever holds lock owns tc's write side, mc.out, pending.
	lock sync.Mutex

	// batch and hybrid modes, under reactorServer.mu
	plain   []byte
	spare   []byte // the reactor's previous plaintext batch, reused
	isDirty bool
	closing bool
}

const highWater = 1 << 20

func (s *reactorServer) listen(c config) (string, error) {
	s.c = c
	s.cond = sync.NewCond(&s.mu)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	s.accepted = make(chan error, 1)
	cfg := serverTLSConfig()
	go func() {
		defer ln.Close()
		for len(s.socks) < c.conns {
			conn, err := ln.Accept()
			if err != nil {
				s.accepted <- err
				return
			}
			sock, err := adopt(conn, c.tls, cfg)
			if err != nil {
				s.accepted <- err
				return
			}
			sock.index = len(s.socks)
			s.socks = append(s.socks, sock)
		}
		s.accepted <- nil
	}()
	return ln.Addr().String(), nil
}

// adopt runs the handshake on this goroutine (blocking, over the Go
// net.Conn), then takes the descriptor away from Go's poller: from here on
// only the reactor touches it.
func adopt(conn net.Conn, useTLS bool, cfg *tls.Config) (*rsock, error) {
	sock := &rsock{}
	if useTLS {
		sock.mc = &memConn{handshake: conn}
		sock.tc = tls.Server(sock.mc, cfg)
		if err := sock.tc.Handshake(); err != nil {
			return nil, err
		}
		sock.mc.handshake = nil
	}
	raw, err := conn.(*net.TCPConn).SyscallConn()
	if err != nil {
		return nil, err
	}
	var dupErr error
	raw.Control(func(fd uintptr) { sock.fd, dupErr = unix.Dup(int(fd)) })
	if dupErr != nil {
		return nil, dupErr
	}
	conn.Close()
	return sock, unix.SetNonblock(sock.fd, true)
}

func (s *reactorServer) ready() error { return <-s.accepted }

func (s *reactorServer) units() float64 { return workUnits(s.c, s.bytes) }

func (s *reactorServer) begin() {
	switch s.c.mode {
	case "reactor":
		go s.run(s.setupEpoll())
	case "inline":
		go s.hostInline()
	case "batch", "hybrid":
		var err error
		if s.efd, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC); err != nil {
			panic(err)
		}
		epfd := s.setupEpoll()
		go s.run(epfd)
		go s.hostBatch(epfd)
	}
}

const eventfdTag = -1

func (s *reactorServer) setupEpoll() int {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		panic(err)
	}
	for i, sock := range s.socks {
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(i)}
		if s.c.work == "send" {
			ev.Events = 0 // the reactor only writes
		}
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, sock.fd, &ev); err != nil {
			panic(err)
		}
	}
	if s.c.mode == "batch" || s.c.mode == "hybrid" {
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: eventfdTag}
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, s.efd, &ev); err != nil {
			panic(err)
		}
	}
	return epfd
}

// run is the reactor: the poll loop of the one thread that owns the I/O.
func (s *reactorServer) run(epfd int) {
	runtime.LockOSThread()
	rbuf := make([]byte, 64<<10)
	pbuf := make([]byte, 64<<10)
	events := make([]unix.EpollEvent, 128)
	for open := len(s.socks); open > 0; {
		n, err := unix.EpollWait(epfd, events, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			panic(err)
		}
		for _, ev := range events[:n] {
			if ev.Fd == eventfdTag {
				drainEventfd(s.efd)
				open -= s.encryptBatch(epfd)
				continue
			}
			sock := s.socks[ev.Fd]
			if sock.closed {
				continue
			}
			if ev.Events&unix.EPOLLOUT != 0 {
				sock.lock.Lock()
				s.flush(epfd, sock)
				if s.c.work == "send" && len(sock.pending) == 0 {
					open -= s.encryptOne(epfd, sock)
				}
				sock.lock.Unlock()
			}
			if ev.Events&(unix.EPOLLIN|unix.EPOLLHUP|unix.EPOLLERR) != 0 && s.c.work != "send" {
				if s.readOnce(sock, rbuf, pbuf) {
					s.closeSock(sock)
					open--
					continue
				}
				s.flush(epfd, sock)
			}
		}
	}
}

// readOnce does one read(2) (as w3sock's poll does per readable socket) and
// decrypts every whole record it completed; it reports end of stream.
func (s *reactorServer) readOnce(sock *rsock, rbuf, pbuf []byte) (eof bool) {
	n, err := unix.Read(sock.fd, rbuf)
	if err == unix.EAGAIN {
		return false
	}
	if err != nil {
		panic(err)
	}
	if sock.tc == nil {
		if n == 0 {
			return true
		}
		s.handle(sock, rbuf[:n])
		return false
	}
	if n == 0 {
		return true // a peer that sent close_notify got io.EOF below first
	}
	sock.mc.lend(rbuf[:n])
	defer sock.mc.keep()
	for {
		k, err := sock.tc.Read(pbuf)
		if k > 0 {
			s.handle(sock, pbuf[:k])
		}
		switch {
		case err == nil:
		case isWouldBlock(err):
			return false
		case errors.Is(err, io.EOF):
			return true
		default:
			panic(fmt.Sprint("tls read: ", err))
		}
	}
}

func (s *reactorServer) handle(sock *rsock, data []byte) {
	if s.c.work == "bulk" {
		s.bytes += int64(len(data))
		return
	}
	if sock.tc != nil {
		sock.tc.Write(data) // into memConn.out; cannot fail
		return
	}
	sock.pending = append(sock.pending, data...)
}

// flush writes what is queued; output the kernel refuses waits for EPOLLOUT.
// Fresh ciphertext is written straight from memConn's buffer; only what the
// kernel refuses is copied into pending.
func (s *reactorServer) flush(epfd int, sock *rsock) {
	before := len(sock.pending)
	var fresh []byte
	if sock.tc != nil {
		fresh = sock.mc.takeOut()
	}
	if len(sock.pending) > 0 && len(fresh) > 0 {
		sock.pending = append(sock.pending, fresh...)
		fresh = nil
	}
	if len(sock.pending) > 0 {
		sock.pending = sock.pending[writeSome(sock.fd, sock.pending):]
	}
	if len(fresh) > 0 {
		sock.pending = append(sock.pending, fresh[writeSome(sock.fd, fresh):]...)
	}
	if len(sock.pending) == 0 {
		sock.pending = sock.pending[:0:0]
	}
	if before == 0 && len(sock.pending) == 0 {
		return
	}
	events := uint32(unix.EPOLLIN)
	if s.c.work == "send" {
		events = 0
	}
	if len(sock.pending) > 0 {
		events |= unix.EPOLLOUT
	}
	ev := unix.EpollEvent{Events: events, Fd: int32(sock.index)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_MOD, sock.fd, &ev); err != nil {
		panic(err)
	}
}

// writeSome writes until the kernel refuses and returns how much it took.
func writeSome(fd int, b []byte) int {
	done := 0
	for done < len(b) {
		n, err := unix.Write(fd, b[done:])
		if err == unix.EAGAIN {
			break
		}
		if err != nil {
			panic(err)
		}
		done += n
	}
	return done
}

// closeSock sends close_notify (TLS), writes what is left and closes.
func (s *reactorServer) closeSock(sock *rsock) {
	if sock.tc != nil {
		sock.tc.Close() // close_notify into memConn.out
		sock.pending = append(sock.pending, sock.mc.takeOut()...)
	}
	writeAll(sock.fd, sock.pending)
	unix.Close(sock.fd)
	sock.closed = true
}

// writeAll blocks in poll(2) while the kernel refuses output.
func writeAll(fd int, b []byte) {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if err == unix.EAGAIN {
			pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
			unix.Poll(pfd, -1)
			continue
		}
		if err != nil {
			panic(err)
		}
		b = b[n:]
	}
}

// hostInline: the host thread encrypts and writes each message itself.
func (s *reactorServer) hostInline() {
	runtime.LockOSThread()
	msg := make([]byte, s.c.size)
	for i := 0; i < s.c.count; i++ {
		for _, sock := range s.socks {
			var out []byte
			if sock.tc != nil {
				sock.tc.Write(msg)
				out = sock.mc.takeOut()
			} else {
				out = msg
			}
			if len(sock.pending) == 0 {
				n, err := unix.Write(sock.fd, out)
				if err == unix.EAGAIN {
					n = 0
				} else if err != nil {
					panic(err)
				}
				sock.pending = append(sock.pending, out[n:]...)
				continue
			}
			// Output is queued: keep order, try the queue once, and
			// wait for the kernel above the high-water mark.
			sock.pending = append(sock.pending, out...)
			n, err := unix.Write(sock.fd, sock.pending)
			if err == unix.EAGAIN {
				n = 0
			} else if err != nil {
				panic(err)
			}
			sock.pending = append(sock.pending[:0], sock.pending[n:]...)
			if len(sock.pending) >= highWater {
				writeAll(sock.fd, sock.pending)
				sock.pending = sock.pending[:0]
			}
		}
	}
	for _, sock := range s.socks {
		s.closeSock(sock)
	}
}

// inlineMin is the hybrid mode's threshold: a send at least this large, on a
// socket with nothing queued, is encrypted and written by the caller.
const inlineMin = 16 << 10

// hostBatch: the host thread queues plaintext and wakes the reactor. In
// hybrid mode, large sends on an idle socket are encrypted and written by
// the host itself, under the socket's lock.
func (s *reactorServer) hostBatch(epfd int) {
	runtime.LockOSThread()
	msg := make([]byte, s.c.size)
	for i := 0; i < s.c.count; i++ {
		for _, sock := range s.socks {
			if s.c.mode == "hybrid" && len(msg) >= inlineMin && s.sendInline(epfd, sock, msg) {
				continue
			}
			s.mu.Lock()
			sock.plain = append(sock.plain, msg...)
			s.markDirtyLocked(sock)
			for len(sock.plain) >= highWater {
				s.cond.Wait()
			}
			s.mu.Unlock()
		}
	}
	s.mu.Lock()
	for _, sock := range s.socks {
		sock.closing = true
		s.markDirtyLocked(sock)
	}
	s.mu.Unlock()
}

// sendInline encrypts and writes msg on the calling thread if nothing of the
// socket's is queued; otherwise it reports false and the caller queues.
func (s *reactorServer) sendInline(epfd int, sock *rsock, msg []byte) bool {
	sock.lock.Lock()
	defer sock.lock.Unlock()
	s.mu.Lock()
	queued := len(sock.plain) > 0
	s.mu.Unlock()
	if queued || len(sock.pending) > 0 {
		return false
	}
	if sock.tc != nil {
		sock.tc.Write(msg)
	} else {
		sock.pending = append(sock.pending, msg...)
	}
	s.flush(epfd, sock)
	return true
}

func (s *reactorServer) markDirtyLocked(sock *rsock) {
	if !sock.isDirty {
		sock.isDirty = true
		s.dirty = append(s.dirty, sock)
	}
	if !s.signaled {
		s.signaled = true
		signalEventfd(s.efd)
	}
}

// encryptBatch runs on the reactor when the eventfd fires: every socket with
// queued plaintext is encrypted in one tls.Conn.Write and written. It
// returns how many sockets it closed.
func (s *reactorServer) encryptBatch(epfd int) int {
	s.mu.Lock()
	dirty := s.dirty
	s.dirty = nil
	s.signaled = false
	s.mu.Unlock()
	closed := 0
	for _, sock := range dirty {
		sock.lock.Lock()
		closed += s.encryptOne(epfd, sock)
		sock.lock.Unlock()
	}
	return closed
}

// encryptOne runs with sock.lock held.
func (s *reactorServer) encryptOne(epfd int, sock *rsock) int {
	if sock.closed || len(sock.pending) > 0 {
		return 0 // EPOLLOUT comes back here once the kernel took the rest
	}
	s.mu.Lock()
	plain := sock.plain
	sock.plain = sock.spare[:0]
	sock.isDirty = false
	closing := sock.closing
	s.cond.Broadcast()
	s.mu.Unlock()
	if len(plain) > 0 {
		if sock.tc != nil {
			sock.tc.Write(plain)
		} else {
			sock.pending = append(sock.pending, plain...)
		}
		s.flush(epfd, sock)
	}
	s.mu.Lock()
	sock.spare = plain
	s.mu.Unlock()
	if closing && len(sock.pending) == 0 {
		s.mu.Lock()
		empty := len(sock.plain) == 0
		s.mu.Unlock()
		if empty {
			s.closeSock(sock)
			return 1
		}
	}
	return 0
}
