'use strict';
// Closes a worker thread's w3sock loop when Node tears the worker's
// environment down, including after worker.terminate(), where no JavaScript
// runs any more: not even process 'exit' handlers. Node runs an environment's
// cleanup hooks natively during that teardown, so the hook is the library's
// own w3s_loop_close, registered with the loop handle as its argument (a
// cleanup hook is `void fn(void *arg)`: the int64_t handle travels in the
// same register as the pointer would). The node executable exports the
// hook functions (node.h's AddEnvironmentCleanupHook and
// RemoveEnvironmentCleanupHook); koffi reaches them through dlopen(NULL), as
// uv.js reaches libuv.

const koffi = require('koffi');
const native = require('./native');

let node = null;
try {
  const self = koffi.load(null);
  node = {
    // v8::Isolate::GetCurrent() and node::{Add,Remove}EnvironmentCleanupHook
    // (Itanium C++ mangling, as exported by the node executable).
    currentIsolate: self.func('void *_ZN2v87Isolate10GetCurrentEv(void)'),
    addHook: self.func('void _ZN4node25AddEnvironmentCleanupHookEPN2v87IsolateEPFvPvES3_(void *isolate, void *fn, int64_t arg)'),
    removeHook: self.func('void _ZN4node28RemoveEnvironmentCleanupHookEPN2v87IsolateEPFvPvES3_(void *isolate, void *fn, int64_t arg)'),
    loopClose: native.lib.symbol('w3s_loop_close'),
  };
} catch {
  node = null; // not the node executable (an embedder): worker teardown then leaks the loop
}

/**
 * Has Node call w3s_loop_close(loopHandle) when this thread's environment is
 * torn down. Returns { cancel() } (for a loop closed earlier from
 * JavaScript), or null where the hooks are not reachable. Call on the thread
 * that owns the loop.
 */
function closeLoopAtTeardown(loopHandle) {
  if (node === null) return null;
  const isolate = node.currentIsolate();
  if (!isolate) return null;
  node.addHook(isolate, node.loopClose, loopHandle);
  let active = true;
  return {
    cancel() {
      if (!active) return;
      active = false;
      node.removeHook(isolate, node.loopClose, loopHandle);
    },
  };
}

module.exports = { closeLoopAtTeardown };
