#!/usr/bin/env node
'use strict';
// Sends a message to an echo server, half-closes, prints what comes back.
// Usage: node echo-client.js host port message
const { TCPSocket } = require('../../bindings/node');

async function main() {
  const [host = '127.0.0.1', port, message = 'hello, w3sock'] = process.argv.slice(2);
  const sock = new TCPSocket(host, Number(port));
  const { readable, writable } = await sock.opened;
  const writer = writable.getWriter();
  await writer.write(new TextEncoder().encode(message));
  await writer.close(); // half-close: the server ends after echoing
  let answer = '';
  const decoder = new TextDecoder();
  for await (const chunk of readable) answer += decoder.decode(chunk, { stream: true });
  await sock.closed;
  console.log(answer);
}

main().catch((err) => { console.error(`${err.name}: ${err.message}`); process.exitCode = 1; });
