#!/usr/bin/env node
'use strict';
// A w3sock echo server: every connection gets its own bytes back (streams).
// Usage: node echo-server.js [port] [address]   (port 0: any; prints "listening on ADDR:PORT")
const { TCPServerSocket } = require('../../bindings/node');

async function main() {
  const port = Number(process.argv[2] || 0);
  const localAddress = process.argv[3] || '127.0.0.1';
  const server = new TCPServerSocket({ localAddress, localPort: port });
  const info = await server.opened;
  console.log(`listening on ${info.localAddress}:${info.localPort}`);
  // The for-await loop below holds the connections stream, so close() would
  // be refused (InvalidStateError); abort() closes regardless and ends the loop.
  process.on('SIGTERM', () => server.abort());
  process.on('SIGINT', () => server.abort());
  for await (const sock of server.connections) {
    console.log(`connection from ${sock.remoteAddress}:${sock.remotePort}`);
    // Echo until the client half-closes; pipeTo then half-closes our side.
    sock.readable.pipeTo(sock.writable).catch((err) => console.error(`echo failed: ${err.name} ${err.message}`));
  }
}

main().catch((err) => { console.error(err); process.exitCode = 1; });
