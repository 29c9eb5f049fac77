'use strict';
// The benchmark's Node echo servers.
//
//   node echo.js IMPL tcp|tls|udp PORT [CERT KEY]
//
// IMPL: w3sock-streams (the binding's W3C readable/writable), w3sock-events
// (its onmessage/send), node (node:net, node:tls, node:dgram with 'data'
// and write), toweb (node:net/node:tls sockets seen through
// Duplex.toWeb, what a Node user would pick for WHATWG streams; there is no
// such stream for node:dgram). Prints "ready" once listening on
// 127.0.0.1:PORT, echoes every byte or datagram back, runs until killed.
const fs = require('node:fs');
const path = require('node:path');

const [impl, proto, portText, certPath, keyPath] = process.argv.slice(2);
const port = Number(portText);
const secure = proto === 'tls';
const tlsFiles = secure ? { cert: fs.readFileSync(certPath), key: fs.readFileSync(keyPath) } : null;
// node:tls follows the client's cipher order (AES-128-GCM from the load
// generator) only when told to, as every other server here does.
const nodeTLS = secure ? { ...tlsFiles, honorCipherOrder: false } : null;

function ready() {
  process.stdout.write('ready\n');
}

/** Copies a WHATWG readable into a writable, waiting while the writable is full. */
async function pump(readable, writable, done) {
  const reader = readable.getReader();
  const writer = writable.getWriter();
  try {
    for (;;) {
      const { value, done: end } = await reader.read();
      if (end) break;
      if (writer.desiredSize <= 0) await writer.ready;
      writer.write(value).catch(() => {});
    }
  } catch {
    // the peer went away: nothing to echo
  }
  // close() refuses streams that are still locked (Direct Sockets).
  reader.releaseLock();
  writer.releaseLock();
  done();
}

function w3sockServer(streams) {
  const w3sock = require(path.join(__dirname, '..', '..', '..', '..', 'bindings', 'node'));
  if (proto === 'udp') {
    const sock = new w3sock.UDPSocket({ localAddress: '127.0.0.1', localPort: port });
    sock.opened.then(ready);
    if (streams) {
      // a received message names its sender, so it is written back as it is
      pump(sock.readable, sock.writable, () => {});
    } else {
      sock.onmessage = (ev) => { sock.send(ev.data, ev.remoteAddress, ev.remotePort); };
    }
    return;
  }
  const server = new w3sock.TCPServerSocket({
    localAddress: '127.0.0.1', localPort: port, backlog: 4096,
    useSecureTransport: secure, tls: tlsFiles || undefined,
  });
  server.opened.then(ready);
  const serve = streams
    ? (s) => pump(s.readable, s.writable, () => s.close().catch(() => {}))
    : (s) => {
      s.onmessage = (ev) => { if (!s.send(ev.data)) s.suspend(); };
      s.ondrain = () => s.resume();
      s.onend = () => { s.close().catch(() => {}); };
      s.onerror = () => {};
    };
  server.onconnection = (ev) => serve(ev.socket);
}

function nodeServer(web) {
  if (proto === 'udp') {
    if (web) throw new Error('toweb: node:dgram has no WHATWG stream');
    const s = require('node:dgram').createSocket('udp4');
    s.on('message', (m, rinfo) => s.send(m, rinfo.port, rinfo.address));
    s.bind(port, '127.0.0.1', ready);
    return;
  }
  const { Duplex } = require('node:stream');
  const onSocket = (c) => {
    c.setNoDelay(true);
    c.on('error', () => {});
    if (web) {
      const { readable, writable } = Duplex.toWeb(c);
      pump(readable, writable, () => c.end());
      return;
    }
    c.on('data', (d) => {
      if (!c.write(d)) {
        c.pause();
        c.once('drain', () => c.resume());
      }
    });
    c.on('end', () => c.end());
  };
  const srv = secure
    ? require('node:tls').createServer(nodeTLS, onSocket)
    : require('node:net').createServer(onSocket);
  srv.listen({ port, host: '127.0.0.1', backlog: 4096 }, ready);
}

switch (impl) {
  case 'w3sock-streams': w3sockServer(true); break;
  case 'w3sock-events': w3sockServer(false); break;
  case 'node': nodeServer(false); break;
  case 'toweb': nodeServer(true); break;
  default: throw new Error(`unknown implementation ${impl}`);
}
