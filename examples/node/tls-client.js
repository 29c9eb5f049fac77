#!/usr/bin/env node
'use strict';
// A TLS client: connects with useSecureTransport, sends lines from argv,
// prints every line that comes back, and closes after the last answer.
// Usage: node tls-client.js host port ca.pem [serverName] line...
const fs = require('node:fs');
const { TCPSocket } = require('../../bindings/node');

async function main() {
  const [host, port, caFile, serverName, ...lines] = process.argv.slice(2);
  const sock = new TCPSocket(host, Number(port), {
    useSecureTransport: true,
    tls: { ca: fs.readFileSync(caFile), serverName: serverName || host },
  });
  const { readable, writable } = await sock.opened;
  const info = sock.getInfo();
  console.log(`secure: ${info.tlsVersion} ${info.cipher} peer ${info.peerSubject}`);
  const writer = writable.getWriter();
  const decoder = new TextDecoder();
  let buffered = '';
  let answers = 0;
  await writer.write(new TextEncoder().encode(lines.map((l) => `${l}\n`).join('')));
  for await (const chunk of readable) {
    buffered += decoder.decode(chunk, { stream: true });
    let i;
    while ((i = buffered.indexOf('\n')) >= 0) {
      console.log(`< ${buffered.slice(0, i)}`);
      buffered = buffered.slice(i + 1);
      answers++;
    }
    if (answers >= lines.length) break; // leaving the loop releases the readable
  }
  writer.releaseLock(); // close() refuses while a writer holds the writable
  await sock.close();
}

main().catch((err) => { console.error(`${err.name} (${err.code}): ${err.message}`); process.exitCode = 1; });
