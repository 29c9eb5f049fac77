'use strict';
// TCPServerSocket: listen() gives one TCPSocket per call (as in the W3C
// draft); connections is a ReadableStream of TCPSocket; 'connection' events.

const native = require('./native');
const { api, EV, readHandle, fixedString } = native;
const { abortError, stateError } = require('./errors');
const { tcpOptions, optObject } = require('./options');
const {
  deferred, settle, SocketBase, ConnectionEvent,
  defineHandlers, readInfo,
} = require('./base');
const { TCPSocket, kAccepted } = require('./tcp');

class TCPServerSocket extends SocketBase {
  constructor(options) {
    super();
    const o = optObject(options, 'options');
    const { buf, keep, secure, highWaterSend } = tcpOptions(o, 'options', true);
    this._o = o;
    this._secureServer = secure;
    this._acceptOptions = { ...o, _hws: highWaterSend };
    this._addressReuse = o.addressReuse ?? true;
    this._readyState = 'opening';
    this._opened = deferred();
    this._closed = deferred();
    this._listenWaiters = [];
    // Accepted sockets wait in this._pending until listen() or a read of
    // connections takes them (the stream keeps no queue of its own).
    this._pending = [];
    this._wanted = 0; // reads of connections waiting
    this._cc = null;
    this._connectionsClosed = false;
    this._connections = new ReadableStream({
      start: (c) => { this._cc = c; },
      pull: () => {
        if (this._pending.length > 0) this._cc.enqueue(this._pending.shift());
        else this._wanted++;
      },
      cancel: () => { this._connectionsClosed = true; this._wanted = 0; },
    }, { highWaterMark: 0 });
    this._localAddress = null;
    this._localPort = null;
    if (!this._open(keep, (loop) => api.tcp_listen(loop, buf, 0))) return;
    // Binding happened before tcp_listen returned: the port is known now.
    const info = readInfo(this._handle);
    this._localAddress = info.localAddress;
    this._localPort = info.localPort;
  }

  get localAddress() { return this._localAddress; }
  get localPort() { return this._localPort; }
  get addressReuse() { return this._addressReuse; }
  get useSecureTransport() { return this._secureServer; }
  get connections() { return this._connections; }
  get readable() { return this._connections; }

  /** A Promise of the next accepted TCPSocket (one per call). */
  listen() {
    if (this._pending.length > 0) return Promise.resolve(this._pending.shift());
    if (this._closedFlag || this._readyState === 'closing') return Promise.reject(stateError('server is closed'));
    const d = deferred();
    this._listenWaiters.push(d);
    return d.promise;
  }

  // close() and abort() (both returning a promise settled as `closed`)
  // come from SocketBase; close() refuses while connections is locked.
  _streams() {
    return [['connections', this._connections]];
  }

  _event(type, buf, off) {
    switch (type) {
      case EV.CONNECTION: {
        const accepted = readHandle(buf, off + native.EVENT_OFF.accepted);
        const sock = new TCPSocket(kAccepted, {
          loop: this._loop,
          handle: accepted,
          remoteAddress: fixedString(buf, off + native.EVENT_OFF.address, native.EVENT_OFF.addressLen),
          remotePort: buf.readUInt16LE(off + native.EVENT_OFF.port),
          secure: this._secureServer,
          options: this._acceptOptions,
        });
        this._deliver(sock);
        break;
      }
      case EV.OPEN:
        this._announceOpen({
          readable: this._connections,
          connections: this._connections,
          localAddress: this._localAddress,
          localPort: this._localPort,
        });
        break;
      default:
        super._event(type, buf, off);
    }
  }

  _deliver(sock) {
    const w = this._listenWaiters.shift();
    if (w !== undefined) {
      settle(w, true, sock);
    } else if (this._wanted > 0 && !this._connectionsClosed) {
      this._wanted--;
      this._cc.enqueue(sock);
    } else if (!this._hasConnectionListener) {
      this._pending.push(sock);
    }
    this.dispatchEvent(new ConnectionEvent('connection', { socket: sock }));
  }

  addEventListener(type, listener, options) {
    super.addEventListener(type, listener, options);
    if (type === 'connection' && listener) this._hasConnectionListener = true;
  }

  _onClose(code) {
    const err = this._beginClose(code);
    settle(this._opened, false, err || abortError('the server was closed'));
    const waiters = this._listenWaiters;
    this._listenWaiters = [];
    for (const w of waiters) settle(w, false, abortError('the server was closed'));
    // Connections nobody took can never be reached now: close them.
    const pending = this._pending;
    this._pending = [];
    for (const sock of pending) {
      try { if (!sock._closedFlag) sock._closeGracefully(); } catch { /* library shut down */ }
    }
    if (this._cc !== null && !this._connectionsClosed) {
      this._connectionsClosed = true;
      try {
        if (err) this._cc.error(err); else this._cc.close();
      } catch { /* closed */ }
    }
    this._finishClose(err);
  }
}

defineHandlers(TCPServerSocket, ['open', 'connection', 'error', 'close']);

module.exports = { TCPServerSocket };
