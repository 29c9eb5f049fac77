package core

import (
	"sync/atomic"
)

var shutDown atomic.Bool

// checkLive refuses new work after Shutdown.
func checkLive() *Error {
	if shutDown.Load() {
		return Errf(ESHUTDOWN, "w3s_shutdown() was called")
	}
	return nil
}

// IsShutDown reports whether Shutdown ran.
func IsShutDown() bool { return shutDown.Load() }

func allLoops() []*Loop {
	handles.mu.Lock()
	defer handles.mu.Unlock()
	var out []*Loop
	for i := 1; i < len(handles.slots); i++ {
		if l, ok := handles.slots[i].obj.(*Loop); ok {
			out = append(out, l)
		}
	}
	return out
}

// Shutdown closes every loop (aborting its sockets) and refuses new work.
func Shutdown() {
	shutDown.Store(true)
	for _, l := range allLoops() {
		l.Close()
	}
}
