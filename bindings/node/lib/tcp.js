'use strict';
// TCPSocket: the W3C draft's interface (opened/closed promises, readable and
// writable/writeable WHATWG streams, readyState, halfClose, startTls) plus the
// superset proposal's events (open, message, drain, error, close, end).

const native = require('./native');
const { api, EV, isNeg } = native;
const { check, lastError, typeError, stateError, abortError } = require('./errors');
const { tcpOptions, tlsOptions, optObject, optInt } = require('./options');
const {
  deferred, settle, SocketBase, SocketMessageEvent,
  defineHandlers, readInfo,
} = require('./base');

const kAccepted = Symbol('w3sock.accepted');
const DEFAULT_READABLE_HWM = 512 * 1024;
const MAX_SEND = 1 << 30;

/** Bytes to send: Uint8Array as is, other views/ArrayBuffers wrapped, strings as UTF-8. */
function toBytes(chunk) {
  if (chunk instanceof Uint8Array) return chunk;
  if (typeof chunk === 'string') return Buffer.from(chunk, 'utf8');
  if (ArrayBuffer.isView(chunk)) return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  if (chunk instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && chunk instanceof SharedArrayBuffer)) {
    return new Uint8Array(chunk);
  }
  throw typeError('data must be a string, an ArrayBuffer or an ArrayBufferView');
}

/** Queues bytes on handle h; returns the buffered amount. Throws the DOMException on error. */
function sendBytes(h, bytes) {
  let len = bytes.byteLength;
  if (len <= MAX_SEND) {
    const r = api.send(h, bytes, len);
    if (isNeg(r)) throw lastError(r);
    return Number(r);
  }
  let r = 0;
  for (let off = 0; off < len; off += MAX_SEND) {
    const part = bytes.subarray(off, Math.min(len, off + MAX_SEND));
    r = api.send(h, part, part.byteLength);
    if (isNeg(r)) throw lastError(r);
  }
  return Number(r);
}

/**
 * chunk, or a copy of it that owns its whole ArrayBuffer. A byte stream
 * takes over (transfers, detaching) the buffer of every chunk enqueued;
 * received data is often a view of a larger buffer (the slab of native.js,
 * Buffer's pool) that must stay usable, and only those are copied.
 */
function ownChunk(chunk) {
  if (chunk.byteOffset === 0 && chunk.buffer.byteLength === chunk.byteLength) return chunk;
  const out = Buffer.allocUnsafeSlow(chunk.byteLength);
  out.set(chunk);
  return out;
}

class TCPSocket extends SocketBase {
  /**
   * new TCPSocket(remoteAddress, remotePort, options)
   */
  constructor(remoteAddress, remotePort, options) {
    super();
    if (remoteAddress === kAccepted) {
      this._initAccepted(remotePort);
      return;
    }
    if (typeof remoteAddress !== 'string' || remoteAddress === '' || remoteAddress.includes('\0')) {
      throw typeError('remoteAddress must be a non-empty string');
    }
    if (remoteAddress.startsWith('unix:')) {
      if (remotePort === undefined || remotePort === null) remotePort = 0;
    }
    if (typeof remotePort !== 'number' || !Number.isInteger(remotePort) || remotePort < 0 || remotePort > 65535 ||
        (remotePort === 0 && !remoteAddress.startsWith('unix:'))) {
      throw typeError('remotePort must be an integer in 1..65535');
    }
    const o = optObject(options, 'options');
    const { buf, keep, secure, highWaterSend } = tcpOptions(o, 'options', false);
    this._setup(o, secure, highWaterSend);
    this._remoteAddress = remoteAddress;
    this._remotePort = remotePort;
    this._localAddress = o.localAddress ?? null;
    this._localPort = o.localPort ?? null;
    this._open(keep, (loop) => api.tcp_connect(loop, remoteAddress, remotePort || 1, buf, 0));
  }

  _setup(o, secure, highWaterSend) {
    this._readyState = 'opening';
    this._useSecureTransport = secure;
    this._secure = false;
    this._hws = highWaterSend;
    this._addressReuse = o.addressReuse ?? true;
    this._noDelay = o.noDelay ?? true;
    this._alpn = null;
    this._info = null; // addresses, filled after open
    this._eventMode = false;
    this._suspended = false;
    this._flowPaused = false;
    this._discard = false;
    this._peerEnded = false;
    this._writeClosed = false;
    this._tlsPending = null;
    this._opened = deferred();
    this._closed = deferred();
    // The readable is a byte stream (Direct Sockets: `type: 'bytes'`), so
    // getReader({ mode: 'byob' }) works. It keeps no queue of its own
    // (highWaterMark 0): chunks wait in this._queue until a read asks for
    // them, so they can still be taken back for startTls (unread bytes go
    // to the handshake, never to the app) or handed to 'message' listeners
    // when the socket switches to events. A default read gets a whole chunk
    // (enqueued; see ownChunk); a BYOB read gets bytes copied into its view.
    this._rhwm = optInt(o, 'readableHighWaterMark', 'options', 1, Number.MAX_SAFE_INTEGER) ?? DEFAULT_READABLE_HWM;
    this._queue = [];
    this._queued = 0;
    this._wanted = false; // a read is waiting for data
    this._ended = false; // END seen, not yet passed to the stream
    this._rc = null;
    this._readableClosed = false;
    this._readable = new ReadableStream({
      type: 'bytes',
      start: (c) => { this._rc = c; },
      pull: () => { this._onPull(); },
      cancel: () => { this._onCancel(); },
    }, { highWaterMark: 0 });
    this._wc = null;
    this._writable = new WritableStream({
      start: (c) => { this._wc = c; },
      write: (chunk) => this._write(chunk),
      close: () => this._writableClose(),
      abort: () => this._writableAbort(),
    }, { highWaterMark: 1 });
  }

  _initAccepted({ loop, handle, remoteAddress, remotePort, secure, options }) {
    this._setup(options, secure, options._hws ?? native.DEFAULT_HIGH_WATER_SEND);
    this._loop = loop;
    this._remoteAddress = remoteAddress;
    this._remotePort = remotePort;
    this._localAddress = null;
    this._localPort = null;
    this._accepted = true;
    this._register(handle);
    if (!secure) this._becomeOpen(false);
  }

  // ------------------------------------------------------------ attributes
  get remoteAddress() { return this._remoteAddress; }
  get remotePort() { return this._remotePort; }
  get localAddress() { this._fillInfo(); return this._localAddress; }
  get localPort() { this._fillInfo(); return this._localPort; }
  get addressReuse() { return this._addressReuse; }
  get noDelay() { return this._noDelay; }
  get useSecureTransport() { return this._useSecureTransport; }
  get readable() { return this._readable; }
  get writable() { return this._writable; }
  get writeable() { return this._writable; }
  /** The superset proposal's names. */
  get ssl() { return this._secure; }
  get isHalfClosed() { return this._readyState === 'halfclosed'; }
  get alpn() { return this._alpn; }

  get bufferedAmount() {
    if (this._closedFlag) return 0;
    try {
      return readInfo(this._handle).bufferedAmount;
    } catch {
      return 0;
    }
  }

  _fillInfo() {
    if (this._info !== null || this._closedFlag || this._readyState === 'opening' && !this._accepted) return;
    try {
      const info = readInfo(this._handle);
      this._info = info;
      if (info.localAddress) this._localAddress = info.localAddress;
      if (info.localPort) this._localPort = info.localPort;
      if (info.remoteAddress) this._remoteAddress = info.remoteAddress;
      if (info.remotePort) this._remotePort = info.remotePort;
    } catch {
      // closed meanwhile: keep what we had
    }
  }

  // ------------------------------------------------------------ methods
  // close() and abort() (both returning a promise settled as `closed`)
  // come from SocketBase.
  _streams() {
    return [['readable', this._readable], ['writable', this._writable]];
  }

  /** Sends FIN after the queued data; reading goes on. */
  halfClose() {
    if (this._closedFlag || this._readyState === 'closing') throw stateError('socket is closed');
    if (this._readyState === 'halfclosed') return;
    check(api.half_close(this._handle));
    this._readyState = 'halfclosed';
    this._writeClosed = true;
    if (this._wc !== null) this._wc.error(stateError('the write side is half-closed'));
  }

  /** The superset proposal's send(): queues data, returns false once the send buffer is full. */
  send(data) {
    if (this._closedFlag) throw stateError('socket is closed');
    const bytes = toBytes(data);
    return sendBytes(this._handle, bytes) < this._hws;
  }

  /** Queues a file's bytes (sendfile(2) on plain TCP). Returns the same hint as send(). */
  sendFile(path, offset = 0, length = -1) {
    if (typeof path !== 'string' || path === '') throw typeError('path must be a non-empty string');
    if (!Number.isInteger(offset) || offset < 0) throw typeError('offset must be a non-negative integer');
    if (!Number.isInteger(length) || length < -1) throw typeError('length must be an integer >= -1');
    if (this._closedFlag) throw stateError('socket is closed');
    const r = api.send_file(this._handle, path, offset, length);
    if (isNeg(r)) throw lastError(r);
    return Number(r) < this._hws;
  }

  /** Stops reading from the network until resume(); the peer is held back by TCP. */
  suspend() {
    if (this._closedFlag) return;
    this._suspended = true;
    check(api.pause(this._handle));
  }

  resume() {
    if (this._closedFlag) return;
    this._suspended = false;
    if (this._eventMode && this._queue.length > 0) {
      const pending = this._queue;
      this._queue = [];
      this._queued = 0;
      for (const data of pending) {
        if (this._suspended) { this._queue.push(data); this._queued += data.byteLength; continue; }
        this.dispatchEvent(new SocketMessageEvent('message', { data }));
      }
    }
    if (!this._flowPaused && !this._suspended) check(api.resume(this._handle));
  }

  /** STARTTLS: upgrades the open connection; resolves when the handshake is done. */
  startTls(options) {
    try {
      if (this._closedFlag || (this._readyState !== 'open' && this._readyState !== 'halfclosed')) {
        throw stateError('startTls needs an open socket');
      }
      if (this._secure || this._tlsPending !== null) throw stateError('TLS is already established or starting');
      const keep = [];
      const buf = tlsOptions(options, keep, 'options');
      // Received bytes the application has not read belong to the handshake.
      const unread = this._takeUnread();
      native.hold(keep);
      const rc = unread === null ? api.start_tls(this._handle, buf)
        : api.start_tls_with(this._handle, buf, unread, unread.length);
      native.hold(null);
      if (rc < 0) throw lastError(rc);
      this._tlsPending = deferred();
      return this._tlsPending.promise;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  addEventListener(type, listener, options) {
    super.addEventListener(type, listener, options);
    if (type === 'message' && listener) this._setEventMode();
  }

  _setEventMode() {
    if (this._eventMode) return;
    this._eventMode = true;
    // Data that waited for a reader goes to the listeners, in order, first.
    const pending = this._queue;
    this._queue = [];
    this._queued = 0;
    for (const data of pending) this.dispatchEvent(new SocketMessageEvent('message', { data }));
    this._maybeResume();
  }

  // ------------------------------------------------------------ streams
  _onPull() {
    if (this._queue.length > 0) {
      const req = this._rc.byobRequest;
      if (req !== null) {
        this._fillView(req);
      } else {
        const chunk = this._queue.shift();
        this._queued -= chunk.byteLength;
        this._rc.enqueue(ownChunk(chunk));
      }
      if (this._queue.length === 0 && this._ended) this._finishReadable();
    } else {
      // Wait for data, with the network flowing: a BYOB read whose view (or
      // `min`) is larger than what is queued pulls again after every fill,
      // so data is never paused while a read waits.
      this._wanted = true;
    }
    this._maybeResume();
  }

  /** A BYOB read: copies queued bytes into its view (as many as fit) and responds. */
  _fillView(req) {
    const view = req.view;
    let n = 0;
    while (n < view.byteLength && this._queue.length > 0) {
      const chunk = this._queue[0];
      const take = Math.min(chunk.byteLength, view.byteLength - n);
      view.set(take === chunk.byteLength ? chunk : chunk.subarray(0, take), n);
      n += take;
      if (take === chunk.byteLength) this._queue.shift();
      else this._queue[0] = chunk.subarray(take);
      this._queued -= take;
    }
    req.respond(n);
  }

  _maybeResume() {
    if (this._flowPaused && this._queued < this._rhwm) {
      this._flowPaused = false;
      if (!this._suspended && !this._closedFlag) api.resume(this._handle);
    }
  }

  _finishReadable(err) {
    if (this._readableClosed || this._rc === null) return;
    this._readableClosed = true;
    try {
      if (err) {
        this._rc.error(err);
      } else {
        this._rc.close();
        // A pending BYOB read learns of the end only through respond(0).
        const req = this._rc.byobRequest;
        if (req !== null) req.respond(0);
      }
    } catch { /* already closed */ }
  }

  /** Takes back every received byte the application has not read yet. */
  _takeUnread() {
    if (this._queue.length === 0) return null;
    const all = Buffer.concat(this._queue, this._queued);
    this._queue = [];
    this._queued = 0;
    this._maybeResume();
    return all;
  }

  _onCancel() {
    this._readableClosed = true;
    this._discard = true;
    this._queue = [];
    this._queued = 0;
    this._maybeResume();
    if (this._writeClosed && !this._closedFlag) this._closeGracefully();
  }

  _write(chunk) {
    if (this._closedFlag) throw this._error || stateError('socket is closed');
    const r = sendBytes(this._handle, toBytes(chunk));
    if (r >= this._hws) {
      return this._waitDrain();
    }
    return undefined;
  }

  _writableClose() {
    this._wc = null;
    if (this._closedFlag || this._writeClosed) return;
    this._writeClosed = true;
    const rc = api.half_close(this._handle);
    if (rc < 0) throw lastError(rc);
    if (this._readyState === 'open') this._readyState = 'halfclosed';
    if (this._readableClosed) this._closeGracefully();
  }

  _writableAbort() {
    this._wc = null;
    if (!this._closedFlag) this.abort();
  }

  // ------------------------------------------------------------ events
  _event(type, buf, off) {
    switch (type) {
      case EV.DATA: {
        // Stream mode: copies that own their buffers (the byte stream takes them over).
        this._onData(native.payload(buf, off, !this._eventMode));
        break;
      }
      case EV.DRAIN:
        this._releaseDrainWaiters(null);
        this.dispatchEvent(new Event('drain'));
        break;
      case EV.OPEN:
        if (!this._accepted && this._readyState === 'opening' && !this._useSecureTransport) this._becomeOpen(true);
        break;
      case EV.SECURE:
        this._onSecure();
        break;
      case EV.END:
        this._onEnd();
        break;
      default:
        super._event(type, buf, off);
    }
  }

  _onData(data) {
    if (this._discard) return;
    if (this._eventMode) {
      // suspend() means no message events: what was already read waits.
      if (this._suspended || this._queue.length > 0) {
        this._queue.push(data);
        this._queued += data.byteLength;
      } else {
        this.dispatchEvent(new SocketMessageEvent('message', { data }));
      }
      return;
    }
    if (this._readableClosed) return;
    if (this._wanted && this._queue.length === 0) {
      this._wanted = false;
      const req = this._rc.byobRequest;
      if (req === null) {
        this._rc.enqueue(ownChunk(data));
        return;
      }
      this._queue.push(data);
      this._queued += data.byteLength;
      this._fillView(req); // what does not fit stays queued
      if (this._queue.length === 0) return;
    } else {
      this._queue.push(data);
      this._queued += data.byteLength;
    }
    if (this._queued >= this._rhwm && !this._flowPaused) {
      this._flowPaused = true;
      if (!this._suspended) api.pause(this._handle);
    }
  }

  _becomeOpen(dispatch) {
    this._readyState = 'open';
    this._fillInfo();
    settle(this._opened, true, {
      readable: this._readable,
      writable: this._writable,
      remoteAddress: this._remoteAddress,
      remotePort: this._remotePort,
      localAddress: this._localAddress,
      localPort: this._localPort,
      alpn: this._alpn,
    });
    if (dispatch) this.dispatchEvent(new Event('open'));
  }

  _onSecure() {
    this._secure = true;
    try {
      const info = readInfo(this._handle);
      this._alpn = info.alpn;
      this._tlsInfo = { tlsVersion: info.tlsVersion, cipher: info.cipher, alpn: info.alpn, peerSubject: info.peerSubject };
    } catch {
      // closed meanwhile
    }
    if (this._readyState === 'opening') this._becomeOpen(!this._accepted);
    if (this._tlsPending !== null) {
      const d = this._tlsPending;
      this._tlsPending = null;
      settle(d, true, { alpn: this._alpn, ...this._tlsInfo });
    }
    this.dispatchEvent(new Event('secure'));
  }

  _onEnd() {
    this._peerEnded = true;
    this._ended = true;
    if (this._queue.length === 0) this._finishReadable();
    this.dispatchEvent(new Event('end'));
  }

  _onClose(code) {
    const err = this._beginClose(code);
    const cause = err || abortError('the socket was closed');
    settle(this._opened, false, cause);
    if (this._tlsPending !== null) {
      settle(this._tlsPending, false, cause);
      this._tlsPending = null;
    }
    this._releaseDrainWaiters(err || stateError('socket is closed'));
    // Bytes already received stay readable after a clean close.
    this._ended = true;
    if (err || this._queue.length === 0) this._finishReadable(err);
    this._errorWritable(err || stateError('socket is closed'));
    this._finishClose(err);
  }
}

defineHandlers(TCPSocket, ['open', 'message', 'drain', 'error', 'close', 'end', 'secure']);

module.exports = { TCPSocket, kAccepted, toBytes, sendBytes };
