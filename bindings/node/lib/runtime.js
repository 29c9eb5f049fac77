'use strict';
// The one place the binding uses a Node internal: process._tickCallback
// (documentation-only deprecation DEP0134). Everything else goes through
// public APIs, and so can this: without it the loop drains from
// setImmediate, one loop turn later, which is slower but equally correct.
//
// Why it is wanted: the uv_poll callback that wakes the loop is called by
// koffi outside any Node callback scope, so the nextTick queue and the
// microtasks queued by the handlers (promise reactions of stream reads)
// would wait for the next unrelated callback. _tickCallback runs them at
// once, as Node's MakeCallback does after an I/O callback.
//
// The public path is used when:
// - W3SOCK_NO_INTERNALS=1 (the test suite runs once this way, so a runtime
//   that drops the internal degrades speed, never correctness);
// - W3SOCK_DRAIN=immediate (the older name of the same choice);
// - --pending-deprecation is on (there the internal prints a warning);
// - the runtime has no process._tickCallback.

function pendingDeprecation() {
  return process.execArgv.includes('--pending-deprecation') ||
    /(^|\s)--pending-deprecation\b/.test(process.env.NODE_OPTIONS || '') ||
    process.env.NODE_PENDING_DEPRECATION === '1';
}

function internalsRefused() {
  return process.env.W3SOCK_NO_INTERNALS === '1' || process.env.W3SOCK_DRAIN === 'immediate' ||
    pendingDeprecation();
}

const internalTick = typeof process._tickCallback === 'function' && !internalsRefused()
  ? process._tickCallback
  : null;

/**
 * Runs the nextTick queue and the microtasks now, from a callback made
 * outside any Node callback scope. Only usable when canRunTicks is true;
 * otherwise the caller must get back into a Node callback (setImmediate).
 */
function runTicks() {
  internalTick();
}

module.exports = {
  canRunTicks: internalTick !== null,
  runTicks,
  /** Which path is in use, for diagnostics and tests: 'internal' or 'public'. */
  tickPath: internalTick !== null ? 'internal' : 'public',
};
