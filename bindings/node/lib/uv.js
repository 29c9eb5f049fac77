'use strict';
// Watches the loop's eventfd with a uv_poll handle on Node's own libuv loop
// (libuv's functions are exported by the node executable; koffi reaches them
// through dlopen(NULL)). The poll callback runs on the JS thread from
// libuv's poll phase: no library thread ever waits for JavaScript, and one
// wake-up covers every event queued meanwhile. Main thread only: a worker
// has its own libuv loop, which uv_default_loop() is not.

const koffi = require('koffi');

const UV_POLL = 8; // uv_handle_type
const UV_READABLE = 1;

let uv;
try {
  const self = koffi.load(null);
  const PollCb = koffi.proto('void w3s_uv_poll_cb(void *handle, int status, int events)');
  uv = {
    PollCb,
    default_loop: self.func('void *uv_default_loop(void)'),
    handle_size: self.func('size_t uv_handle_size(int type)'),
    poll_init: self.func('int uv_poll_init(void *loop, void *handle, int fd)'),
    poll_start: self.func('int uv_poll_start(void *handle, int events, w3s_uv_poll_cb *cb)'),
    poll_stop: self.func('int uv_poll_stop(void *handle)'),
    unref: self.func('void uv_unref(void *handle)'),
  };
} catch {
  uv = null;
}

/**
 * Calls onReadable() on the JS thread whenever fd is readable. Returns an
 * object with stop(), or null when libuv is not reachable (the caller then
 * uses the library's notify callback).
 */
function watchFd(fd, onReadable) {
  if (uv === null) return null;
  const { isMainThread } = require('node:worker_threads');
  if (!isMainThread) return null;
  // The handle lives as long as the process: an off-heap Buffer never moves.
  const handle = Buffer.alloc(Number(uv.handle_size(UV_POLL)));
  const cb = koffi.register(() => onReadable(), koffi.pointer(uv.PollCb));
  if (uv.poll_init(uv.default_loop(), handle, fd) !== 0) {
    koffi.unregister(cb);
    return null;
  }
  // Liveness is managed by the caller; the poll handle alone keeps nothing alive.
  uv.unref(handle);
  if (uv.poll_start(handle, UV_READABLE, cb) !== 0) return null;
  let stopped = false;
  return {
    handle,
    cb,
    stop() {
      if (stopped) return;
      stopped = true;
      uv.poll_stop(handle);
    },
  };
}

module.exports = { watchFd };
