'use strict';
// Native error codes -> W3C DOMException names (docs/architecture.md, "Error model").

const { api, ERR } = require('./native');

const INVALID_STATE = new Set([ERR.EBADF, ERR.ESTATE, ERR.ESHUTDOWN, ERR.EFORKED]);
const INVALID_ACCESS = new Set([
  ERR.EINVAL, ERR.EADDR, ERR.ENOOPT, ERR.ENOTSUP, ERR.EFAMILY, ERR.ENOTMULTICAST,
  ERR.ENOIFACE, ERR.EALREADY, ERR.ENOTJOINED, ERR.ETLS_BAD_PEM,
]);
const ABORT = new Set([ERR.EABORTED]);
// Every other code is a NetworkError, among them ETLS_TRUNCATED (a TLS stream
// cut mid-record), ETLS_NO_CLOSE_NOTIFY (END's advisory code), ETLS_BAD_RECORD
// and ETLS_TOO_LARGE.

/** The DOMException name for a native code. */
function domName(code) {
  if (INVALID_STATE.has(code)) return 'InvalidStateError';
  if (INVALID_ACCESS.has(code)) return 'InvalidAccessError';
  if (ABORT.has(code)) return 'AbortError';
  return 'NetworkError';
}

/**
 * Whether a failure to create a socket comes from the network or the OS
 * (address in use, permission denied, name not found, no descriptors...)
 * rather than from the arguments: such failures reject `opened`, they are
 * not thrown. TLS codes at creation time mean bad TLS options: thrown.
 */
function fromNetwork(code) {
  if ((api.err_name(code) || '').startsWith('W3S_ETLS')) return false;
  return domName(code) === 'NetworkError';
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
  if (rc === ERR.EBADF) return rc; // already closed
  return check(rc);
}

function typeError(message) {
  const e = new TypeError(message);
  e.code = 'ERR_INVALID_ARG_TYPE';
  return e;
}

/**
 * A caller's mistake the library reports with a native code (e.g. a UDP
 * datagram without a destination, W3S_ENOTCONN): a TypeError, as Direct
 * Sockets specifies, keeping the native code, errno and message.
 */
function argumentError(err) {
  const e = new TypeError(err.message);
  e.code = err.code;
  e.errno = err.errno;
  e.detail = err.detail;
  return e;
}

function stateError(message) {
  const e = new DOMException(message, 'InvalidStateError');
  Object.defineProperty(e, 'code', { value: 'W3S_ESTATE', enumerable: true, configurable: true, writable: true });
  Object.defineProperty(e, 'errno', { value: ERR.ESTATE, enumerable: true, configurable: true, writable: true });
  return e;
}

function abortError(message) {
  const e = new DOMException(message, 'AbortError');
  Object.defineProperty(e, 'code', { value: 'W3S_EABORTED', enumerable: true, configurable: true, writable: true });
  Object.defineProperty(e, 'errno', { value: ERR.EABORTED, enumerable: true, configurable: true, writable: true });
  return e;
}

module.exports = {
  checkClose, domName, fromNetwork, argumentError, w3sError, lastError, check, typeError, stateError, abortError };
