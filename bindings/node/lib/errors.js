'use strict';
// Native error codes -> W3C DOMException names (DESIGN.md / the issue).

const { api } = require('./native');

const INVALID_STATE = new Set([-2, -4, -5, -6]); // EBADF, ESTATE, ESHUTDOWN, EFORKED
const INVALID_ACCESS = new Set([
  -1, // EINVAL
  -7, // EADDR
  -21, // ENOOPT
  -19, // ENOTSUP
  -62, // EFAMILY
  -60, // ENOTMULTICAST
  -61, // ENOIFACE
  -63, // EALREADY
  -64, // ENOTJOINED
  -48, // ETLS_BAD_PEM
]);
const ABORT = new Set([-23]); // EABORTED
// Every other code is a NetworkError, among them -49 ETLS_TRUNCATED (a TLS
// stream cut mid-record), -50 ETLS_NO_CLOSE_NOTIFY (END's advisory code),
// -51 ETLS_BAD_RECORD and -52 ETLS_TOO_LARGE.

/** The DOMException name for a native code. */
function domName(code) {
  if (INVALID_STATE.has(code)) return 'InvalidStateError';
  if (INVALID_ACCESS.has(code)) return 'InvalidAccessError';
  if (ABORT.has(code)) return 'AbortError';
  return 'NetworkError';
}

/**
 * A DOMException for a native code. `code` is the native error name
 * ("W3S_ECONNREFUSED"), `errno` the number, `detail` the library's message.
 */
function w3sError(code, detail) {
  code = Number(code);
  const name = api.err_name(code) || 'W3S_UNKNOWN';
  const text = api.strerror(code) || 'unknown error';
  const message = detail && detail !== text ? `${text}: ${detail}` : text;
  const err = new DOMException(message, domName(code));
  Object.defineProperty(err, 'code', { value: name, enumerable: true, configurable: true, writable: true });
  Object.defineProperty(err, 'errno', { value: code, enumerable: true, configurable: true, writable: true });
  Object.defineProperty(err, 'detail', { value: detail || '', enumerable: true, configurable: true, writable: true });
  return err;
}

/** The error of a native call that just failed on this thread. */
function lastError(code) {
  return w3sError(code, api.last_error_message());
}

/** Throws the DOMException for rc if it is a negative code; returns rc otherwise. */
function check(rc) {
  if (typeof rc === 'bigint') {
    if (rc < 0n) throw lastError(Number(rc));
    return rc;
  }
  if (rc < 0) throw lastError(rc);
  return rc;
}

/**
 * For close/abort: the handle may already be stale when the socket's CLOSE
 * was taken by a poll running on another thread (async wake-up mode) and
 * not dispatched yet. Closing a closed socket is not an error.
 */
function checkClose(rc) {
  if (rc === -2) return rc; // W3S_EBADF: already closed
  return check(rc);
}

function typeError(message) {
  const e = new TypeError(message);
  e.code = 'ERR_INVALID_ARG_TYPE';
  return e;
}

function stateError(message) {
  const e = new DOMException(message, 'InvalidStateError');
  Object.defineProperty(e, 'code', { value: 'W3S_ESTATE', enumerable: true, configurable: true, writable: true });
  Object.defineProperty(e, 'errno', { value: -4, enumerable: true, configurable: true, writable: true });
  return e;
}

function abortError(message) {
  const e = new DOMException(message, 'AbortError');
  Object.defineProperty(e, 'code', { value: 'W3S_EABORTED', enumerable: true, configurable: true, writable: true });
  Object.defineProperty(e, 'errno', { value: -23, enumerable: true, configurable: true, writable: true });
  return e;
}

module.exports = {
  checkClose, domName, w3sError, lastError, check, typeError, stateError, abortError };
