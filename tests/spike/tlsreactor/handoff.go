package main

import (
	"sync"

	"golang.org/x/sys/unix"
)

// handoffQueue is today's hand-over from a reader goroutine to the polling
// thread: a locked queue plus an eventfd written when the queue goes from
// empty to non-empty (the loop's descriptor turning readable).
type handoffQueue[T any] struct {
	mu    sync.Mutex
	items []T
	efd   int
	epfd  int
}

func newHandoffQueue[T any]() *handoffQueue[T] {
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		panic(err)
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		panic(err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(efd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, efd, &ev); err != nil {
		panic(err)
	}
	return &handoffQueue[T]{efd: efd, epfd: epfd}
}

func (q *handoffQueue[T]) push(item T) {
	q.mu.Lock()
	wake := len(q.items) == 0
	q.items = append(q.items, item)
	q.mu.Unlock()
	if wake {
		signalEventfd(q.efd)
	}
}

// wait blocks the calling (locked) thread in epoll_wait, as a host blocks in
// its own poller, then takes everything queued; spare is reused.
func (q *handoffQueue[T]) wait(spare []T) []T {
	events := make([]unix.EpollEvent, 1)
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			items := q.items
			q.items = spare[:0]
			q.mu.Unlock()
			return items
		}
		q.mu.Unlock()
		if _, err := unix.EpollWait(q.epfd, events, -1); err != nil && err != unix.EINTR {
			panic(err)
		}
		drainEventfd(q.efd)
	}
}

func signalEventfd(fd int) {
	one := [8]byte{1}
	if _, err := unix.Write(fd, one[:]); err != nil && err != unix.EAGAIN {
		panic(err)
	}
}

func drainEventfd(fd int) {
	var b [8]byte
	unix.Read(fd, b[:])
}
