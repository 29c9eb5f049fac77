'use strict';
// The one w3sock loop of this JS thread. We are woken when the loop's
// descriptor turns readable (a uv_poll handle on the main thread; see
// constructor for the other modes), then drain it in batches of up to 1024
// events with w3s_loop_poll_into into one reused buffer (socket data lands
// in the slab of native.js), read the 104-byte records straight from
// memory and dispatch them by socket handle.

const native = require('./native');
const { api, EVENT_SIZE, readHandle, normHandle } = native;
const { check } = require('./errors');
const { watchFd } = require('./uv');
const runtime = require('./runtime');
const { closeLoopAtTeardown } = require('./teardown');
const { isMainThread } = require('node:worker_threads');

const BATCH = 1024;
const MAX_ROUNDS = 64; // batches per drain before yielding to the JS loop
// How long a worker's blocking poll may wait. Node tears a worker down only
// once every request on libuv's thread pool has finished (a terminated
// worker runs no JavaScript that could wake it), so this bounds how long
// worker.terminate() and a process exit can wait for us. The main thread
// has no such teardown; its poll waits without bound.
const WORKER_POLL_MS = 100;

let current = null;

// Draining right in the uv_poll callback needs the ticks run afterwards,
// which only a Node internal can do (see runtime.js); without it we keep
// the setImmediate hop.
const DIRECT = runtime.canRunTicks;

class Loop {
  constructor() {
    this.handle = normHandle(check(api.loop_new()));
    this.buf = Buffer.alloc(EVENT_SIZE * BATCH);
    this.ptr = native.koffi.address(this.buf);
    this.sockets = new Map(); // handle -> socket object
    this.scheduled = false;
    this.draining = false;
    this.closed = false;
    this._drain = () => this.drain();
    // Keeps the process alive while any socket is open (ref'd only then).
    this.keepAlive = setInterval(() => {}, 0x7fffffff);
    this.keepAlive.unref();
    // Wake-ups: watch the loop's eventfd on Node's libuv loop. Where that is
    // not possible (a worker thread has its own libuv loop), a blocking
    // w3s_loop_poll runs as a koffi async call on libuv's thread pool and
    // hands its batch to this thread. W3SOCK_WAKE=notify selects the
    // library's notify callback instead (see README: it can deadlock with
    // the current core), W3SOCK_WAKE=async forces the async poll.
    const want = process.env.W3SOCK_WAKE || (process.env.W3SOCK_NOTIFY === '1' ? 'notify' : 'fd');
    this._notify = null;
    this.asyncPending = false;
    this.watcher = want === 'fd' ? watchFd(check(api.loop_fd(this.handle)), () => this.onReadable()) : null;
    this.mode = this.watcher !== null ? 'fd' : (want === 'notify' ? 'notify' : 'async');
    if (this.mode === 'notify') {
      this._notify = native.koffi.register(() => this.schedule(), native.koffi.pointer(native.NotifyCb));
      check(api.loop_set_notify(this.handle, this._notify, null));
    }
    this.pollTimeout = isMainThread ? -1 : WORKER_POLL_MS;
    // A worker's loop is closed natively when Node tears the worker down
    // (see teardown.js), whether or not JavaScript still runs then.
    this.teardownHook = isMainThread ? null : closeLoopAtTeardown(this.handle);
    this._onAsync = (err, n) => {
      this.asyncPending = false;
      if (err || n < 0 || this.closed) return;
      if (n === 0) { // the worker's poll timed out: wait again
        this.arm();
        return;
      }
      this.draining = true;
      try {
        this.dispatch(n);
      } finally {
        this.draining = false;
      }
      this.drain(); // what else is queued, without waiting; re-arms at its end
    };
  }

  /** Async mode: one blocking poll in flight while any socket is open. */
  arm() {
    // Never while the buffer is being read (a handler may open a socket).
    if (this.mode !== 'async' || this.asyncPending || this.draining || this.scheduled ||
        this.closed || this.sockets.size === 0) return;
    this.asyncPending = true;
    api.loop_poll.async(this.handle, this.ptr, BATCH, this.pollTimeout, this._onAsync);
  }

  /** Stops watching (before the library closes the fd). */
  stopWatching() {
    this.closed = true;
    if (this.watcher !== null) this.watcher.stop();
  }

  /**
   * Closes the library loop (aborting its sockets and waking a poll in
   * flight) and closes every socket object on it, as by an abort.
   */
  close() {
    if (this.handle === 0) return;
    this.stopWatching();
    if (this.teardownHook !== null) this.teardownHook.cancel();
    // The notify callback stays registered: the runtime is going away, and
    // a library thread may be inside it right now.
    api.loop_close(this.handle);
    this.handle = 0;
    this.closeSockets();
  }

  /** The library delivers nothing more: every socket object closes (as by an abort). */
  closeSockets() {
    for (const [, sock] of [...this.sockets]) {
      try { sock._onClose(native.ERR.EABORTED); } catch { /* keep closing the others */ }
    }
    this.sockets.clear();
    this.keepAlive.unref();
  }

  add(handle, sock) {
    this.sockets.set(handle, sock);
    if (this.sockets.size === 1) this.keepAlive.ref();
    // Events may already be queued (e.g. an immediate error) with no notify
    // to come if the queue was not empty: make sure we look.
    if (this.mode === 'async') this.arm(); else this.schedule();
  }

  remove(handle) {
    if (this.sockets.delete(handle) && this.sockets.size === 0) {
      this.keepAlive.unref();
      // Let the blocking poll return so nothing holds the process.
      if (this.asyncPending) api.loop_wake(this.handle);
    }
  }

  /**
   * The uv_poll callback: drain right here, in libuv's poll phase, instead
   * of one more loop turn through setImmediate (which also costs libuv an
   * extra zero-timeout epoll_wait). koffi calls us outside any Node callback
   * scope, so the ticks and microtasks our handlers queued (promise
   * reactions of stream reads, nextTicks) are run here afterwards, as
   * Node's MakeCallback does after an I/O callback.
   */
  onReadable() {
    if (!DIRECT) {
      this.schedule();
      return;
    }
    if (this.scheduled || this.draining || this.closed) return;
    this.drain();
    try {
      runtime.runTicks();
    } catch (err) {
      // An uncaught exception from a tick: let Node report it as usual,
      // from a proper callback scope.
      setImmediate(() => { throw err; });
    }
  }

  schedule() {
    // In async mode the blocking poll owns the buffer while it is in flight.
    if (this.scheduled || this.closed || this.asyncPending) return;
    this.scheduled = true;
    setImmediate(this._drain);
  }

  drain() {
    this.scheduled = false;
    if (this.draining || this.closed || this.asyncPending) return;
    this.draining = true;
    try {
      for (let round = 0; round < MAX_ROUNDS; round++) {
        const n = native.pollIntoSlab(this.handle, this.ptr, BATCH);
        if (n <= 0) return; // 0: empty; < 0: shut down (nothing more will come)
        this.dispatch(n);
        if (n < BATCH) return;
      }
      this.schedule(); // more pending: continue after other JS work
    } finally {
      this.draining = false;
      if (this.mode === 'async') this.arm();
    }
  }

  /** Hands the n events in the buffer to their sockets (payloads copied out). */
  dispatch(n) {
    const buf = this.buf;
    native.newBatch(buf, n);
    for (let i = 0, off = 0; i < n; i++, off += EVENT_SIZE) {
      const h = readHandle(buf, off);
      const sock = this.sockets.get(h);
      if (sock === undefined) continue;
      const type = buf.readInt32LE(off + native.EVENT_OFF.type);
      try {
        sock._event(type, buf, off, h);
      } catch (err) {
        // A bug in a handler must not lose the rest of the batch.
        process.nextTick(() => { throw err; });
      }
    }
  }
}

function getLoop() {
  if (current === null) current = new Loop();
  return current;
}

function hasLoop() {
  return current !== null;
}

let exitHooked = false;
function hookExit() {
  if (exitHooked) return;
  exitHooked = true;
  // The process (or this worker) is going away: let the library abort what
  // is left at once instead of leaving goroutines, descriptors and a poll
  // on libuv's thread pool behind (Node waits for that poll before it lets
  // a worker go). A worker closes only its own loop; the main thread's exit
  // is the process's.
  process.once('exit', () => {
    if (current === null) return;
    if (isMainThread) {
      shutdown();
    } else {
      const loop = current;
      current = null;
      loop.close();
    }
  });
}

/** Stops our fd watcher, then shuts the library down (it closes the fd). */
function shutdown() {
  if (current !== null) current.stopWatching();
  api.shutdown();
  if (current === null) return;
  if (current.teardownHook !== null) current.teardownHook.cancel();
  // Every socket is closed now, so nothing keeps the process alive.
  current.closeSockets();
}

module.exports = { getLoop, hasLoop, hookExit, shutdown, Loop };
