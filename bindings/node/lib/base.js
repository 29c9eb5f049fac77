'use strict';
// What TCPSocket, TCPServerSocket and UDPSocket share: the EventTarget with
// on* handlers, the native handle and its loop registration, getInfo(),
// setOption()/getOption().

const native = require('./native');
const { api, SIZES, OPT, READY_STATES, fixedString } = native;
const { check, checkClose, lastError, typeError, w3sError, stateError, fromNetwork } = require('./errors');
const { getLoop, hookExit } = require('./loop');

/** The superset proposal's message event: data (+ remote address/port for UDP). */
class SocketMessageEvent extends Event {
  constructor(type, init = {}) {
    super(type);
    this.data = init.data;
    this.remoteAddress = init.remoteAddress ?? null;
    this.remotePort = init.remotePort ?? null;
  }
}

/** An error event carrying the DOMException. */
class SocketErrorEvent extends Event {
  constructor(type, init = {}) {
    super(type);
    this.error = init.error ?? null;
    this.message = init.error ? init.error.message : '';
    this.code = init.error ? init.error.code : undefined;
  }
}

/** A close event: hadError tells whether an error closed the socket. */
class SocketCloseEvent extends Event {
  constructor(type, init = {}) {
    super(type);
    this.hadError = !!init.hadError;
  }
}

/** A new connection on a server: socket is the accepted TCPSocket. */
class ConnectionEvent extends Event {
  constructor(type, init = {}) {
    super(type);
    this.socket = init.socket ?? null;
  }
}

function defineHandlers(cls, names) {
  for (const name of names) {
    const key = Symbol(`on${name}`);
    Object.defineProperty(cls.prototype, `on${name}`, {
      configurable: true,
      enumerable: true,
      get() { return this[key] ? this[key].fn : null; },
      set(fn) {
        if (this[key]) {
          super_removeEventListener.call(this, name, this[key].wrapper);
          this[key] = undefined;
        }
        if (typeof fn === 'function') {
          // The handler's return value is dropped, as browsers do: Node's
          // EventTarget reports a returned promise's rejection as an
          // uncaught exception, and `s.onend = () => s.close()` returns one.
          const wrapper = (ev) => { fn.call(this, ev); };
          this[key] = { fn, wrapper };
          this.addEventListener(name, wrapper);
        }
      },
    });
  }
}

const super_removeEventListener = EventTarget.prototype.removeEventListener;

function readInfo(handle) {
  const b = Buffer.alloc(SIZES.info);
  b.writeUInt32LE(SIZES.info, 0);
  check(api.get_info(handle, b));
  const kinds = { 1: 'tcp', 2: 'tcp-server', 3: 'udp' };
  return {
    kind: kinds[b.readInt32LE(4)] || 'unknown',
    readyState: READY_STATES[b.readInt32LE(8)] || 'closed',
    family: b.readInt32LE(12),
    localAddress: fixedString(b, 16, 112) || null,
    localPort: b.readInt32LE(128) || null,
    remotePort: b.readInt32LE(132) || null,
    remoteAddress: fixedString(b, 136, 112) || null,
    bufferedAmount: Number(b.readBigInt64LE(248)),
    bytesReceived: Number(b.readBigUInt64LE(256)),
    bytesSent: Number(b.readBigUInt64LE(264)),
    messagesReceived: Number(b.readBigUInt64LE(272)),
    messagesSent: Number(b.readBigUInt64LE(280)),
    messagesDropped: Number(b.readBigUInt64LE(288)),
    paused: b.readInt32LE(296) !== 0,
    peerEnded: b.readInt32LE(300) !== 0,
    rttUs: Number(b.readBigInt64LE(304)),
    secure: b.readInt32LE(312) !== 0,
    tlsVersion: fixedString(b, 320, 16) || null,
    cipher: fixedString(b, 336, 64) || null,
    alpn: fixedString(b, 400, 64) || null,
    serverName: fixedString(b, 464, 256) || null,
    peerSubject: fixedString(b, 720, 256) || null,
    peerIssuer: fixedString(b, 976, 256) || null,
  };
}

// setOption/getOption names (the superset proposal / chrome.socket spellings).
const OPTION_NAMES = {
  noDelay: [OPT.NO_DELAY, 'bool'],
  keepAlive: [OPT.KEEP_ALIVE, 'bool'],
  keepAliveDelay: [OPT.KEEP_ALIVE_DELAY_MS, 'int'],
  sendBufferSize: [OPT.SEND_BUFFER_SIZE, 'int'],
  receiveBufferSize: [OPT.RECEIVE_BUFFER_SIZE, 'int'],
  ttl: [OPT.TTL, 'int'],
  multicastTimeToLive: [OPT.MULTICAST_TTL, 'int'],
  multicastLoopback: [OPT.MULTICAST_LOOPBACK, 'bool'],
  loopback: [OPT.MULTICAST_LOOPBACK, 'bool'],
  broadcast: [OPT.BROADCAST, 'bool'],
  sendHighWaterMark: [OPT.HIGH_WATER_SEND, 'int'],
  receiveHighWaterMark: [OPT.HIGH_WATER_RECEIVE, 'int'],
  addressReuse: [OPT.ADDRESS_REUSE, 'bool'],
  reusePort: [OPT.REUSE_PORT, 'bool'],
  multicastInterface: [OPT.MULTICAST_INTERFACE, 'int'],
};

/** The DOMException an ERROR event carries (code at +20, message at +24/+32). */
function errorOfEvent(buf, off) {
  const code = buf.readInt32LE(off + native.EVENT_OFF.error);
  const len = buf.readUInt32LE(off + native.EVENT_OFF.len);
  const msg = len > 0 ? native.copyOut(buf.readBigUInt64LE(off + native.EVENT_OFF.data), len).toString('utf8') : '';
  return w3sError(code, msg);
}

function noop() {}

/** A promise with its resolve/reject, settled at most once (see settle). */
function deferred() {
  let resolve;
  let reject;
  const promise = new Promise((res, rej) => { resolve = res; reject = rej; });
  promise.catch(noop); // rejections are for whoever awaits; never "unhandled" here
  return { promise, resolve, reject, settled: false };
}

/** A rejected promise that is never reported as unhandled (the caller may ignore it). */
function quietReject(err) {
  const p = Promise.reject(err);
  p.catch(noop);
  return p;
}

function settle(d, ok, value) {
  if (d.settled) return;
  d.settled = true;
  if (ok) d.resolve(value); else d.reject(value);
}

class SocketBase extends EventTarget {
  constructor() {
    super();
    this._handle = 0;
    this._loop = null;
    this._closedFlag = false;
    this._error = null;
    this._hws = native.DEFAULT_HIGH_WATER_SEND;
    this._drainWaiters = []; // writes waiting for the send buffer to drain
  }

  get readyState() { return this._readyState; }
  get opened() { return this._opened.promise; }
  get closed() { return this._closed.promise; }

  /**
   * The W3C draft's Promise close(): a graceful close, settling as `closed`
   * does. `closed` carries a handler of its own, so a close() nobody awaits
   * still closes without an unhandled-rejection report. While a reader or
   * writer holds one of the socket's streams it refuses with
   * InvalidStateError, as Direct Sockets does (that rejection is the
   * caller's to handle); abort() closes regardless.
   */
  close() {
    if (this._closedFlag) return this.closed;
    const locked = this._lockedStream();
    if (locked !== null) {
      return Promise.reject(stateError(
        `close() refused: the ${locked} stream is locked by a reader or writer; release the lock first, or use abort()`));
    }
    try {
      this._closeGracefully();
    } catch (err) {
      return quietReject(err);
    }
    return this.closed;
  }

  /**
   * Immediate close (a TCP connection is reset), whether or not a stream is
   * locked: the escape hatch close() refuses to be. Settles as `closed` does.
   */
  abort() {
    if (this._closedFlag) return this.closed;
    this._readyState = 'closing';
    try {
      checkClose(api.abort(this._handle));
    } catch (err) {
      return quietReject(err);
    }
    return this.closed;
  }

  /** The graceful close itself (no lock check): queued data is sent first. */
  _closeGracefully() {
    if (this._closedFlag || this._readyState === 'closing') return;
    this._readyState = 'closing';
    checkClose(api.close(this._handle));
  }

  /** The name of a stream of this socket a reader or writer holds, or null. */
  _lockedStream() {
    for (const [name, stream] of this._streams()) {
      if (stream !== null && stream !== undefined && stream.locked) return name;
    }
    return null;
  }

  /** [name, stream] pairs close() checks for locks (subclasses list theirs). */
  _streams() {
    return [];
  }

  /**
   * The events every socket kind handles alike: ERROR keeps the error for
   * the CLOSE that follows; CLOSE ends the socket (_onClose, with the code).
   * Subclasses handle their own types and pass the rest here.
   */
  _event(type, buf, off) {
    if (type === native.EV.ERROR) this._error = errorOfEvent(buf, off);
    else if (type === native.EV.CLOSE) this._onClose(buf.readInt32LE(off + native.EVENT_OFF.error));
  }

  /**
   * First half of CLOSE: the socket leaves the loop and is closed. Returns
   * the error it closed with (the ERROR event's, or one made from a failing
   * close code; W3S_EABORTED is a plain close), or null.
   */
  _beginClose(code) {
    if (this._handle !== 0) this._loop.remove(this._handle);
    this._closedFlag = true;
    this._readyState = 'closed';
    if (this._error === null && code < 0 && code !== native.ERR.EABORTED) this._error = w3sError(code, '');
    return this._error;
  }

  /** Last half of CLOSE: 'error' (if err), closed settles, then 'close'. */
  _finishClose(err) {
    if (err) {
      this.dispatchEvent(new SocketErrorEvent('error', { error: err }));
      settle(this._closed, false, err);
    } else {
      settle(this._closed, true, undefined);
    }
    this.dispatchEvent(new SocketCloseEvent('close', { hadError: !!err }));
  }

  /** Errors the writable stream's controller, if the stream is still open. */
  _errorWritable(err) {
    if (this._wc === null || this._wc === undefined) return;
    const wc = this._wc;
    this._wc = null;
    try { wc.error(err); } catch { /* closed */ }
  }

  /** A promise that a DRAIN (or the close) settles: what a write over the mark waits for. */
  _waitDrain() {
    return new Promise((resolve, reject) => { this._drainWaiters.push({ resolve, reject }); });
  }

  /** Settles the writes waiting for DRAIN: all resolve, or all reject with err. */
  _releaseDrainWaiters(err) {
    const waiters = this._drainWaiters;
    this._drainWaiters = [];
    for (const w of waiters) {
      if (err) w.reject(err); else w.resolve();
    }
  }

  /** 'opening' -> 'open': opened resolves with info, then the 'open' event. */
  _announceOpen(info) {
    if (this._readyState !== 'opening') return;
    this._readyState = 'open';
    settle(this._opened, true, info);
    this.dispatchEvent(new Event('open'));
  }

  _register(handle) {
    this._handle = handle;
    this._loop.add(handle, this);
  }

  /**
   * Makes the native socket with create(loopHandle) on this thread's loop,
   * keeping `keep` (the option strings) alive during the call, and
   * registers it; throws the DOMException of a failed create.
   */
  _open(keep, create) {
    const loop = SocketBase._loop();
    this._loop = loop;
    native.hold(keep);
    const h = create(loop.handle);
    native.hold(null);
    if (native.isNeg(h)) {
      const err = lastError(Number(h));
      if (!fromNetwork(err.errno)) throw err;
      this._failOpen(err);
      return false;
    }
    this._register(native.normHandle(h));
    return true;
  }

  /**
   * The library refused to make the socket for a reason of the network or
   * the OS (address in use or not available, permission denied, no
   * descriptors...): that is no argument error, so the constructor does
   * not throw. The socket is closed without a handle; opened and closed
   * reject with err, and the 'error' and 'close' events follow on a later
   * turn, once the caller could attach listeners (as for a failed connect).
   */
  _failOpen(err) {
    this._handle = 0;
    this._error = err;
    this._closedFlag = true;
    this._readyState = 'closed';
    settle(this._opened, false, err);
    setImmediate(() => this._onClose(err.errno));
  }

  static _loop() {
    hookExit();
    return getLoop();
  }

  /** Native details of the socket (the C w3s_get_info). */
  getInfo() {
    if (this._closedFlag) throw w3sError(native.ERR.EBADF, 'socket is closed');
    return readInfo(this._handle);
  }

  setOption(name, value) {
    const spec = OPTION_NAMES[name];
    if (spec === undefined) throw typeError(`unknown option ${String(name)}`);
    let v;
    if (spec[1] === 'bool') {
      if (typeof value !== 'boolean') throw typeError(`option ${name} takes a boolean`);
      v = value ? 1 : 0;
    } else {
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
        throw typeError(`option ${name} takes a non-negative integer`);
      }
      v = value;
    }
    if (this._closedFlag) throw w3sError(native.ERR.EBADF, 'socket is closed');
    check(api.set_option(this._handle, spec[0], v));
    if (spec[0] === OPT.HIGH_WATER_SEND) this._hws = v;
  }

  getOption(name) {
    const spec = OPTION_NAMES[name];
    if (spec === undefined) throw typeError(`unknown option ${String(name)}`);
    if (this._closedFlag) throw w3sError(native.ERR.EBADF, 'socket is closed');
    const out = new BigInt64Array(1);
    check(api.get_option(this._handle, spec[0], out));
    const v = Number(out[0]);
    return spec[1] === 'bool' ? v !== 0 : v;
  }

  _emitError(err) {
    this.dispatchEvent(new SocketErrorEvent('error', { error: err }));
  }
}

module.exports = {
  deferred, settle, quietReject, errorOfEvent,
  SocketBase, SocketMessageEvent, SocketErrorEvent, SocketCloseEvent, ConnectionEvent,
  defineHandlers, readInfo,
};
