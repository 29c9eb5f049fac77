'use strict';
// The one w3sock loop of this JS thread. The library calls our notify
// callback (through koffi, queued to this thread) when its queue goes from
// empty to non-empty; we then drain it in batches of up to 1024 events with
// w3s_loop_poll into one reused buffer, read the 104-byte records straight
// from memory and dispatch them by socket handle.

const native = require('./native');
const { api, EVENT_SIZE, readHandle, normHandle } = native;
const { check } = require('./errors');
const { watchFd } = require('./uv');

const BATCH = 1024;
const MAX_ROUNDS = 64; // batches per drain before yielding to the JS loop

let current = null;

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
    // Wake-ups: watch the loop's eventfd on Node's libuv loop; where that is
    // not possible (a worker thread), the library's notify callback.
    this._notify = null;
    this.watcher = watchFd(check(api.loop_fd(this.handle)), () => this.schedule());
    this.mode = 'fd';
    if (this.watcher === null) {
      this.mode = 'notify';
      this._notify = native.koffi.register(() => this.schedule(), native.koffi.pointer(native.NotifyCb));
      check(api.loop_set_notify(this.handle, this._notify, null));
    }
  }

  /** Stops watching (before the library closes the fd). */
  stopWatching() {
    this.closed = true;
    if (this.watcher !== null) this.watcher.stop();
  }

  add(handle, sock) {
    this.sockets.set(handle, sock);
    if (this.sockets.size === 1) this.keepAlive.ref();
    // Events may already be queued (e.g. an immediate error) with no notify
    // to come if the queue was not empty: make sure we look.
    this.schedule();
  }

  remove(handle) {
    if (this.sockets.delete(handle) && this.sockets.size === 0) this.keepAlive.unref();
  }

  schedule() {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    setImmediate(this._drain);
  }

  drain() {
    this.scheduled = false;
    if (this.draining || this.closed) return;
    this.draining = true;
    const buf = this.buf;
    try {
      for (let round = 0; round < MAX_ROUNDS; round++) {
        const n = api.loop_poll(this.handle, this.ptr, BATCH, 0);
        if (n <= 0) return; // 0: empty; < 0: shut down (nothing more will come)
        for (let i = 0, off = 0; i < n; i++, off += EVENT_SIZE) {
          const h = readHandle(buf, off);
          const sock = this.sockets.get(h);
          if (sock === undefined) continue;
          const type = buf.readInt32LE(off + 16);
          try {
            sock._event(type, buf, off, h);
          } catch (err) {
            // A bug in a handler must not lose the rest of the batch.
            process.nextTick(() => { throw err; });
          }
        }
        if (n < BATCH) return;
      }
      this.schedule(); // more pending: continue after other JS work
    } finally {
      this.draining = false;
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
  // The process is going away: let the library abort what is left at once
  // instead of leaving goroutines behind during teardown.
  process.once('exit', () => {
    if (current !== null && require('node:worker_threads').isMainThread) shutdown();
  });
}

/** Stops our fd watcher, then shuts the library down (it closes the fd). */
function shutdown() {
  if (current !== null) current.stopWatching();
  api.shutdown();
  if (current === null) return;
  // The library delivers nothing more: every socket is closed now (as by an
  // abort), so nothing keeps the process alive.
  for (const [, sock] of [...current.sockets]) {
    try { sock._onClose(-23); } catch { /* keep closing the others */ }
  }
  current.sockets.clear();
  current.keepAlive.unref();
}

module.exports = { getLoop, hasLoop, hookExit, shutdown, Loop };
