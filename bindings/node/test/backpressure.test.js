'use strict';
// A paused reader and a 100 MB sender: the sender's writes must stop (the
// readable stream's backpressure pauses the native socket, TCP holds the
// peer back, the writable respects the send high-water mark) and memory
// must stay bounded. Both ends run in one process, so RSS counts both.

const test = require('node:test');
const { after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { TCPSocket, TCPServerSocket } = require('..');
const { withTimeout } = require('./helpers');

const TOTAL = 100 * 1024 * 1024;
const CHUNK = 256 * 1024;

function rssMiB() {
  return process.memoryUsage.rss() / (1024 * 1024);
}

test('paused reader, 100 MB sender: writes block, RSS stays bounded, data intact', { timeout: 180000 }, async () => {
  const server = new TCPServerSocket({ localAddress: '127.0.0.1' });
  const { localPort } = await server.opened;
  const client = new TCPSocket('127.0.0.1', localPort);
  const peer = await withTimeout(server.listen(), 5000, 'accept');
  await client.opened;
  const rss0 = rssMiB();

  // The sender: 100 MB of a deterministic pattern, hashed as it goes.
  const pattern = crypto.randomBytes(CHUNK);
  const sentHash = crypto.createHash('sha256');
  let written = 0;
  let peakRss = rss0;
  const writer = client.writable.getWriter();
  const sending = (async () => {
    while (written < TOTAL) {
      // A fresh chunk each time (the binding copies, so reuse would be fine too).
      pattern[0] = written & 0xff;
      sentHash.update(pattern);
      await writer.write(pattern);
      written += CHUNK;
      peakRss = Math.max(peakRss, rssMiB());
    }
    await writer.close();
  })();

  // The reader does not read: wait until the sender makes no more progress.
  let last = -1;
  let stable = 0;
  for (let i = 0; i < 600 && stable < 4; i++) {
    await new Promise((r) => setTimeout(r, 50));
    if (written === last) stable++; else stable = 0;
    last = written;
  }
  assert.equal(stable, 4, 'the sender stopped making progress');
  const inFlight = written;
  assert.ok(inFlight < 48 * 1024 * 1024,
    `sender blocked after ${(inFlight / 1048576).toFixed(1)} MiB (buffers: send HWM + kernel + receive HWM + readable HWM)`);
  const info = peer.getInfo();
  assert.equal(info.paused, true, 'the receiving socket is paused by the stream backpressure');

  // Now read everything and check it.
  const recvHash = crypto.createHash('sha256');
  let received = 0;
  const reader = peer.readable.getReader();
  const reading = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      recvHash.update(value);
      received += value.byteLength;
      if ((received & 0xfffff) < value.byteLength) peakRss = Math.max(peakRss, rssMiB());
    }
  })();
  await withTimeout(Promise.all([sending, reading]), 150000, 'transfer');
  assert.equal(received, TOTAL);
  assert.equal(recvHash.digest('hex'), sentHash.digest('hex'));
  const growth = peakRss - rss0;
  console.log(`# blocked at ${(inFlight / 1048576).toFixed(1)} MiB in flight; RSS ${rss0.toFixed(0)} -> peak ${peakRss.toFixed(0)} MiB`);
  assert.ok(growth < 100, `RSS grew by ${growth.toFixed(0)} MiB while moving 100 MB`);
  reader.releaseLock(); // close() refuses while a reader holds the readable
  peer.close();
  await withTimeout(Promise.all([client.closed, peer.closed]), 10000, 'closed');
  server.close();
  await server.closed;
});

// A failed test must not leave sockets that keep this file's process alive.
after(() => require('..').shutdown());
