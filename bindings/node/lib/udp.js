'use strict';
// UDPSocket: readable of UDPMessage {data, remoteAddress, remotePort},
// writable taking UDPMessage, multicast membership, and the superset
// proposal's events and send().

const native = require('./native');
const { api, EV, isNeg, fixedString } = native;
const { check, lastError, typeError, stateError, abortError, argumentError } = require('./errors');
const { udpOptions, optObject, optInt, optString } = require('./options');
const {
  deferred, settle, SocketBase, SocketMessageEvent,
  defineHandlers, readInfo,
} = require('./base');
const { toBytes } = require('./tcp');

const DEFAULT_READABLE_HWM = 256; // messages

function checkPort(port, what) {
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw typeError(`${what} must be an integer in 1..65535`);
  }
}

function checkAddress(addr, what) {
  if (typeof addr !== 'string' || addr === '' || addr.includes('\0')) throw typeError(`${what} must be a non-empty string`);
}

// The library's verdict on a destination that does not fit the socket: no
// destination on an unconnected socket, or another peer than the connected
// one. Both are the caller's mistake: TypeError (Direct Sockets).
const DESTINATION_ERRORS = new Set(['W3S_ENOTCONN', 'W3S_EISCONN']);

/** The error of a failed send: a TypeError for a destination mistake, else the DOMException. */
function sendError(rc) {
  const err = lastError(rc);
  return DESTINATION_ERRORS.has(err.code) ? argumentError(err) : err;
}

class UDPSocket extends SocketBase {
  constructor(options) {
    super();
    const o = optObject(options, 'options');
    const { buf, keep, highWaterSend } = udpOptions(o, 'options');
    this._hws = highWaterSend;
    this._readyState = 'opening';
    this._remoteAddress = o.remoteAddress ?? null;
    this._remotePort = o.remotePort ?? null;
    this._addressReuse = o.addressReuse ?? true;
    this._loopback = o.loopback ?? false;
    this._eventMode = false;
    this._suspended = false;
    this._flowPaused = false;
    this._discard = false;
    this._opened = deferred();
    this._closed = deferred();
    const rhwm = optInt(o, 'readableHighWaterMark', 'options', 1, Number.MAX_SAFE_INTEGER) ?? DEFAULT_READABLE_HWM;
    this._rc = null;
    this._readableClosed = false;
    this._readable = new ReadableStream({
      start: (c) => { this._rc = c; },
      pull: () => { this._onPull(); },
      cancel: () => { this._readableClosed = true; this._discard = true; this._onPull(); },
    }, { highWaterMark: rhwm });
    this._wc = null;
    this._writable = new WritableStream({
      start: (c) => { this._wc = c; },
      write: (msg) => this._write(msg),
      close: () => { this._wc = null; },
      abort: () => { this._wc = null; if (!this._closedFlag) this._closeGracefully(); },
    }, { highWaterMark: 1 });
    this._localAddress = null;
    this._localPort = null;
    if (!this._open(keep, (loop) => api.udp_open(loop, buf, 0))) return;
    const info = readInfo(this._handle);
    this._localAddress = info.localAddress;
    this._localPort = info.localPort;
  }

  get localAddress() { return this._localAddress; }
  get localPort() { return this._localPort; }
  get remoteAddress() { return this._remoteAddress; }
  get remotePort() { return this._remotePort; }
  get addressReuse() { return this._addressReuse; }
  get loopback() { return this._loopback; }
  get readable() { return this._readable; }
  get writable() { return this._writable; }
  get writeable() { return this._writable; }

  get bufferedAmount() {
    if (this._closedFlag) return 0;
    try { return readInfo(this._handle).bufferedAmount; } catch { return 0; }
  }

  // close() and abort() (both returning a promise settled as `closed`)
  // come from SocketBase.
  _streams() {
    return [['readable', this._readable], ['writable', this._writable]];
  }

  /**
   * send(data[, remoteAddress, remotePort]): one datagram; returns false once
   * the send queue is at its high-water mark.
   */
  send(data, remoteAddress, remotePort) {
    if (this._closedFlag) throw stateError('socket is closed');
    return this._sendOne(toBytes(data), remoteAddress, remotePort) < this._hws;
  }

  _sendOne(bytes, remoteAddress, remotePort) {
    let r;
    if (remoteAddress === undefined || remoteAddress === null) {
      if (remotePort !== undefined && remotePort !== null) throw typeError('remotePort given without remoteAddress');
      r = api.send(this._handle, bytes, bytes.byteLength);
    } else {
      checkAddress(remoteAddress, 'remoteAddress');
      checkPort(remotePort, 'remotePort');
      r = api.send_to(this._handle, bytes, bytes.byteLength, remoteAddress, remotePort);
    }
    if (isNeg(r)) throw sendError(r);
    return Number(r);
  }

  _write(msg) {
    if (this._closedFlag) throw this._error || stateError('socket is closed');
    let r;
    if (msg !== null && typeof msg === 'object' && !ArrayBuffer.isView(msg) && !(msg instanceof ArrayBuffer)) {
      if (msg.data === undefined) throw typeError('UDPMessage.data is required');
      r = this._sendOne(toBytes(msg.data), msg.remoteAddress, msg.remotePort);
    } else {
      r = this._sendOne(toBytes(msg));
    }
    if (r >= this._hws) {
      return this._waitDrain();
    }
    return undefined;
  }

  /** Sets (or with null removes) the default peer (connected mode). */
  setPeer(address, port) {
    if (this._closedFlag) throw stateError('socket is closed');
    if (address === null || address === undefined) {
      check(api.udp_set_peer(this._handle, null, 0));
      this._remoteAddress = null;
      this._remotePort = null;
      return;
    }
    checkAddress(address, 'address');
    checkPort(port, 'port');
    check(api.udp_set_peer(this._handle, address, port));
    this._remoteAddress = address;
    this._remotePort = port;
  }

  /** joinMulticast(group[, {source, interface}]) */
  joinMulticast(group, options) {
    this._membership(true, group, options);
  }

  leaveMulticast(group, options) {
    this._membership(false, group, options);
  }

  _membership(join, group, options) {
    checkAddress(group, 'group');
    const o = optObject(options, 'options');
    const source = optString(o, 'source', 'options');
    let iface = o.interface ?? o.multicastInterface;
    if (typeof iface === 'number' && Number.isInteger(iface) && iface >= 0) iface = String(iface);
    if (iface !== undefined && iface !== null && typeof iface !== 'string') throw typeError('options.interface must be a string');
    if (this._closedFlag) throw stateError('socket is closed');
    iface = iface ?? null;
    if (source !== undefined) {
      check(join ? api.join_source_group(this._handle, source, group, iface)
        : api.leave_source_group(this._handle, source, group, iface));
    } else {
      check(join ? api.join_group(this._handle, group, iface) : api.leave_group(this._handle, group, iface));
    }
  }

  /** The memberships: [{group, source, interface}] */
  get joinedGroups() {
    if (this._closedFlag) return [];
    let max = 8;
    for (;;) {
      const b = Buffer.alloc(native.SIZES.group * max);
      const n = check(api.get_joined_groups(this._handle, b, max));
      if (n > max) { max = n; continue; }
      const out = [];
      for (let i = 0; i < n; i++) {
        const off = i * native.SIZES.group;
        out.push({
          group: fixedString(b, off, 48),
          source: fixedString(b, off + 48, 48) || null,
          interface: b.readUInt32LE(off + 96),
        });
      }
      return out;
    }
  }

  suspend() {
    if (this._closedFlag) return;
    this._suspended = true;
    check(api.pause(this._handle));
  }

  resume() {
    if (this._closedFlag) return;
    this._suspended = false;
    if (!this._flowPaused) check(api.resume(this._handle));
  }

  addEventListener(type, listener, options) {
    super.addEventListener(type, listener, options);
    if (type === 'message' && listener && !this._eventMode) {
      this._eventMode = true;
      this._onPull();
    }
  }

  _onPull() {
    if (this._flowPaused) {
      this._flowPaused = false;
      if (!this._suspended && !this._closedFlag) api.resume(this._handle);
    }
  }

  _event(type, buf, off) {
    switch (type) {
      case EV.MESSAGE: {
        if (this._discard) break;
        const data = native.payload(buf, off);
        const remoteAddress = fixedString(buf, off + native.EVENT_OFF.address, native.EVENT_OFF.addressLen);
        const remotePort = buf.readUInt16LE(off + native.EVENT_OFF.port);
        if (this._eventMode) {
          this.dispatchEvent(new SocketMessageEvent('message', { data, remoteAddress, remotePort }));
          break;
        }
        const c = this._rc;
        if (c === null || this._readableClosed) break;
        c.enqueue({ data, remoteAddress, remotePort });
        if (c.desiredSize <= 0 && !this._flowPaused) {
          this._flowPaused = true;
          if (!this._suspended) api.pause(this._handle);
        }
        break;
      }
      case EV.DRAIN:
        this._releaseDrainWaiters(null);
        this.dispatchEvent(new Event('drain'));
        break;
      case EV.OPEN:
        this._announceOpen({
          readable: this._readable,
          writable: this._writable,
          localAddress: this._localAddress,
          localPort: this._localPort,
          remoteAddress: this._remoteAddress,
          remotePort: this._remotePort,
        });
        break;
      default:
        super._event(type, buf, off);
    }
  }

  _onClose(code) {
    const err = this._beginClose(code);
    settle(this._opened, false, err || abortError('the socket was closed'));
    this._releaseDrainWaiters(err || stateError('socket is closed'));
    if (this._rc !== null && !this._readableClosed) {
      this._readableClosed = true;
      try { if (err) this._rc.error(err); else this._rc.close(); } catch { /* closed */ }
    }
    this._errorWritable(err || stateError('socket is closed'));
    this._finishClose(err);
  }
}

defineHandlers(UDPSocket, ['open', 'message', 'drain', 'error', 'close']);

module.exports = { UDPSocket };
