'use strict';
// w3sock: the W3C TCP and UDP Socket API on the w3sock native core.

const native = require('./lib/native');
const { check, domName, w3sError } = require('./lib/errors');
const { TCPSocket } = require('./lib/tcp');
const { TCPServerSocket } = require('./lib/server');
const { UDPSocket } = require('./lib/udp');
const {
  SocketMessageEvent, SocketErrorEvent, SocketCloseEvent, ConnectionEvent,
} = require('./lib/base');

/** Network interfaces with their addresses (chrome.socket getNetworkList shape). */
function networkInterfaces() {
  let max = 32;
  for (let tries = 0; tries < 8; tries++) {
    const b = Buffer.alloc(native.SIZES.iface * max);
    const n = check(native.api.network_list(b, max));
    if (n > max) { max = n; continue; }
    const out = [];
    for (let i = 0; i < n; i++) {
      const off = i * native.SIZES.iface;
      const flags = b.readUInt32LE(off + 116);
      out.push({
        name: native.fixedString(b, off, 64),
        address: native.fixedString(b, off + 64, 48) || null,
        index: b.readUInt32LE(off + 112),
        prefixLength: b.readInt32LE(off + 120),
        family: b.readInt32LE(off + 124),
        up: (flags & 1) !== 0,
        loopback: (flags & 2) !== 0,
        multicast: (flags & 4) !== 0,
        broadcast: (flags & 8) !== 0,
      });
    }
    return out;
  }
  throw new Error('w3s_network_list kept growing');
}

/** The loaded library's version string ("0.1.0"). */
function version() {
  return native.api.version_string();
}

/** Live counts from the library (w3s_stats): loops, sockets, goroutines, openFds, eventsQueued. */
function stats() {
  return native.stats();
}

/** Closes every socket of the library at once (w3s_shutdown). Later calls fail with InvalidStateError. */
function shutdown() {
  require('./lib/loop').shutdown();
}

module.exports = {
  TCPSocket,
  TCPServerSocket,
  UDPSocket,
  SocketMessageEvent,
  SocketErrorEvent,
  SocketCloseEvent,
  ConnectionEvent,
  networkInterfaces,
  version,
  stats,
  shutdown,
  libraryPath: native.libraryPath,
  errorName: domName,
  _native: native,
  _w3sError: w3sError,
};
