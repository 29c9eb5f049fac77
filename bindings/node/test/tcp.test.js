'use strict';
const test = require('node:test');
const { after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const net = require('node:net');
const { Readable, Writable } = require('node:stream');
const { pipeline } = require('node:stream/promises');
const { TCPSocket, TCPServerSocket } = require('..');
const { withTimeout, readAll, readN, sha256 } = require('./helpers');

/** A w3sock echo server using the stream interface; returns the server. */
function echoServer(options = {}) {
  const server = new TCPServerSocket({ localAddress: '127.0.0.1', ...options });
  // listen() (the draft's one socket per call) leaves the connections
  // stream unlocked, so the tests' server.close() is not refused.
  (async () => {
    for (;;) {
      const sock = await server.listen();
      // Echo until the peer half-closes, then half-close back.
      sock.readable.pipeTo(sock.writable).catch(() => {});
    }
  })().catch(() => {});
  return server;
}

test('opened resolves with the Direct Sockets info; attributes follow the draft', { timeout: 20000 }, async () => {
  const server = echoServer();
  const { localPort, localAddress } = await withTimeout(server.opened, 5000, 'server opened');
  assert.equal(localAddress, '127.0.0.1');
  assert.ok(localPort > 0);
  assert.equal(server.localPort, localPort);
  const sock = new TCPSocket('127.0.0.1', localPort);
  assert.equal(sock.readyState, 'opening');
  assert.equal(sock.remoteAddress, '127.0.0.1');
  assert.equal(sock.remotePort, localPort);
  assert.equal(sock.noDelay, true);
  assert.equal(sock.addressReuse, true);
  assert.equal(sock.useSecureTransport, false);
  assert.equal(sock.writeable, sock.writable);
  const info = await withTimeout(sock.opened, 5000, 'client opened');
  assert.equal(sock.readyState, 'open');
  assert.equal(info.readable, sock.readable);
  assert.equal(info.writable, sock.writable);
  assert.equal(info.remoteAddress, '127.0.0.1');
  assert.equal(info.remotePort, localPort);
  assert.equal(info.localAddress, '127.0.0.1');
  assert.ok(info.localPort > 0);
  assert.equal(info.alpn, null);
  assert.equal(sock.getOption('noDelay'), true);
  sock.close();
  assert.equal(sock.readyState, 'closing');
  await withTimeout(sock.closed, 5000, 'client closed');
  assert.equal(sock.readyState, 'closed');
  server.close();
  await withTimeout(server.closed, 5000, 'server closed');
});

test('echo of 8 MiB of checksummed random data through the streams', { timeout: 60000 }, async () => {
  const server = echoServer();
  const { localPort } = await server.opened;
  const sock = new TCPSocket('127.0.0.1', localPort);
  const { readable, writable } = await sock.opened;
  const data = crypto.randomBytes(8 * 1024 * 1024);
  const reading = readAll(readable, 50000);
  const writer = writable.getWriter();
  for (let off = 0; off < data.length;) {
    const n = 1 + Math.floor(Math.random() * 200000);
    await writer.write(data.subarray(off, off + n));
    off += n;
  }
  await writer.close(); // half-close: the echo server ends its side after echoing
  const back = await reading;
  assert.equal(back.length, data.length);
  assert.equal(sha256(back), sha256(data));
  await withTimeout(sock.closed, 10000, 'closed after both sides ended');
  assert.equal(sock.readyState, 'closed');
  server.close();
  await server.closed;
});

test('half-close: the peer sees FIN, we keep reading its answer', { timeout: 20000 }, async () => {
  // node:net server: collects everything until FIN, then answers with its length and ends.
  const srv = net.createServer({ allowHalfOpen: true }, (c) => {
    let n = 0;
    c.on('data', (d) => { n += d.length; });
    c.on('end', () => { c.end(`got ${n} bytes`); });
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const sock = new TCPSocket('127.0.0.1', srv.address().port);
  await sock.opened;
  const writer = sock.writable.getWriter();
  await writer.write(Buffer.alloc(12345, 7));
  sock.halfClose();
  assert.equal(sock.readyState, 'halfclosed');
  assert.equal(sock.isHalfClosed, true);
  // Writing after halfClose fails with InvalidStateError.
  await assert.rejects(writer.write(Buffer.from('x')), (e) => e.name === 'InvalidStateError');
  assert.throws(() => sock.send('more'), (e) => e.name === 'InvalidStateError');
  const answer = await readAll(sock.readable);
  assert.equal(answer.toString(), 'got 12345 bytes');
  await withTimeout(sock.closed, 5000, 'closed');
  await new Promise((r) => srv.close(r));
});

test('half-close received: END closes our readable, we can still write', { timeout: 20000 }, async () => {
  const server = new TCPServerSocket({ localAddress: '127.0.0.1' });
  const { localPort } = await server.opened;
  const client = new TCPSocket('127.0.0.1', localPort);
  const accepted = await withTimeout(server.listen(), 5000, 'listen()');
  await client.opened;
  assert.equal(accepted.readyState, 'open');
  assert.equal(accepted.remotePort, client.localPort);
  const cw = client.writable.getWriter();
  await cw.write(Buffer.from('question'));
  await cw.close(); // FIN
  const q = await readAll(accepted.readable);
  assert.equal(q.toString(), 'question');
  assert.equal(accepted.readyState, 'open');
  // The accepted side still writes after the peer's FIN.
  const aw = accepted.writable.getWriter();
  await aw.write(Buffer.from('answer'));
  await aw.close();
  const a = await readAll(client.readable);
  assert.equal(a.toString(), 'answer');
  await withTimeout(Promise.all([client.closed, accepted.closed]), 5000, 'both closed');
  server.close();
  await server.closed;
});

test('200 concurrent clients each echo their own data', { timeout: 90000 }, async () => {
  const server = echoServer({ backlog: 512 });
  const { localPort } = await server.opened;
  const N = 200;
  const one = async (i) => {
    const sock = new TCPSocket('127.0.0.1', localPort);
    const { readable, writable } = await sock.opened;
    const data = crypto.randomBytes(4096 + i * 37);
    const reading = readAll(readable, 60000);
    const w = writable.getWriter();
    await w.write(data);
    await w.close();
    const back = await reading;
    assert.equal(sha256(back), sha256(data), `client ${i}`);
    await sock.closed;
  };
  await withTimeout(Promise.all(Array.from({ length: N }, (_, i) => one(i))), 80000, '200 clients');
  server.close();
  await server.closed;
});

test('events interface: open, message, drain, close; send() hint and bufferedAmount', { timeout: 30000 }, async () => {
  const server = new TCPServerSocket({ localAddress: '127.0.0.1' });
  const { localPort } = await server.opened;
  // The server side in event mode: onconnection + onmessage echo.
  server.onconnection = (ev) => {
    const s = ev.socket;
    s.onmessage = (m) => { s.send(m.data); };
    s.addEventListener('end', () => s.close());
  };
  const seen = [];
  const sock = new TCPSocket('127.0.0.1', localPort, { sendHighWaterMark: 64 * 1024 });
  const opened = new Promise((r) => { sock.onopen = () => { seen.push('open'); r(); }; });
  let got = 0;
  const chunks = [];
  let want = Infinity; // set once everything is sent
  let echoedAll;
  const echoed = new Promise((r) => { echoedAll = r; });
  const ended = new Promise((r) => {
    sock.addEventListener('message', (ev) => {
      assert.ok(ev.data instanceof Uint8Array);
      chunks.push(ev.data);
      got += ev.data.length;
      if (got >= want) echoedAll();
    });
    sock.onclose = (ev) => { seen.push('close'); assert.equal(ev.hadError, false); r(); };
  });
  assert.equal(sock.onmessage, null);
  await withTimeout(opened, 5000, 'open event');
  // Fill far past the 64 KiB high-water mark (more than the kernel buffers
  // take at once): send() says stop, a drain event follows.
  const big = crypto.randomBytes(16 * 1024 * 1024);
  const drained = new Promise((r) => sock.addEventListener('drain', () => { seen.push('drain'); r(); }, { once: true }));
  const hint = sock.send(big);
  assert.equal(hint, false, 'send() past the high-water mark returns false');
  // 16 MiB cannot all be in the kernel yet: the rest is queued.
  assert.ok(sock.bufferedAmount >= 64 * 1024, `${sock.bufferedAmount} bytes buffered`);
  await withTimeout(drained, 10000, 'drain event');
  assert.equal(sock.bufferedAmount, 0, 'nothing buffered at drain');
  assert.equal(sock.send('tail'), true);
  const total = big.length + 4;
  // Wait until the echo came back completely, then close.
  want = total;
  if (got >= want) echoedAll();
  await withTimeout(echoed, 20000, 'the whole echo');
  assert.equal(got, total);
  assert.equal(sha256(Buffer.concat(chunks)), sha256(Buffer.concat([big, Buffer.from('tail')])));
  sock.close();
  await withTimeout(ended, 5000, 'close event');
  assert.deepEqual(seen, ['open', 'drain', 'close']);
  server.close();
  await server.closed;
});

test('suspend() holds the peer back; resume() lets it continue', { timeout: 30000 }, async () => {
  const server = new TCPServerSocket({ localAddress: '127.0.0.1' });
  const { localPort } = await server.opened;
  const sock = new TCPSocket('127.0.0.1', localPort);
  const peer = await server.listen();
  await sock.opened;
  const total = 64 * 1024 * 1024;
  let got = 0;
  let gotAll;
  const received = new Promise((r) => { gotAll = r; });
  sock.onmessage = (ev) => {
    got += ev.data.length;
    if (got >= total) gotAll();
  };
  sock.suspend();
  assert.equal(sock.getInfo().paused, true);
  // The peer writes far more than the kernel buffers hold: its writes block.
  const w = peer.writable.getWriter();
  let written = 0;
  let movedOn;
  const peerMovedOn = new Promise((r) => { movedOn = r; });
  const writing = (async () => {
    const chunk = Buffer.alloc(256 * 1024, 1);
    while (written < total) {
      await w.write(chunk);
      written += chunk.length;
      if (written >= 512 * 1024) movedOn();
    }
    await w.close();
  })();
  // The peer's first 512 KiB fit in its send queue and the kernel's
  // buffers whatever we do; by then they are here to be read.
  await withTimeout(peerMovedOn, 10000, 'the peer sent 512 KiB');
  assert.ok(written < total, `writer blocked (${written} of ${total})`);
  assert.equal(got, 0, 'no message while suspended');
  sock.resume();
  await withTimeout(writing, 20000, 'writer finished after resume');
  await withTimeout(received, 20000, 'everything received after resume');
  assert.equal(got, total);
  sock.close();
  await Promise.all([sock.closed, peer.closed]);
  server.close();
});

test('Readable.fromWeb / Writable.fromWeb interop with node:stream pipeline', { timeout: 30000 }, async () => {
  const server = echoServer();
  const { localPort } = await server.opened;
  const sock = new TCPSocket('127.0.0.1', localPort);
  await sock.opened;
  const data = crypto.randomBytes(3 * 1024 * 1024);
  const nodeReadable = Readable.fromWeb(sock.readable);
  const nodeWritable = Writable.fromWeb(sock.writable);
  const out = [];
  const collecting = (async () => {
    for await (const chunk of nodeReadable) out.push(chunk);
  })();
  await pipeline(Readable.from([data.subarray(0, 1000000), data.subarray(1000000)]), nodeWritable);
  await withTimeout(collecting, 20000, 'collect');
  assert.equal(sha256(Buffer.concat(out)), sha256(data));
  await sock.closed;
  server.close();
  await server.closed;
});

test('listen() gives one socket per call; a pending listen() rejects with AbortError on close', { timeout: 20000 }, async () => {
  const server = new TCPServerSocket({ localAddress: '127.0.0.1' });
  const { localPort } = await server.opened;
  const c1 = new TCPSocket('127.0.0.1', localPort);
  const c2 = new TCPSocket('127.0.0.1', localPort);
  const a1 = await withTimeout(server.listen(), 5000, 'listen 1');
  const a2 = await withTimeout(server.listen(), 5000, 'listen 2');
  assert.notEqual(a1, a2);
  const ports = new Set([a1.remotePort, a2.remotePort]);
  await Promise.all([c1.opened, c2.opened]);
  assert.deepEqual(ports, new Set([c1.localPort, c2.localPort]));
  const pending = server.listen();
  server.close();
  await assert.rejects(pending, (e) => e instanceof DOMException && e.name === 'AbortError');
  await server.closed;
  // The port is free again at once.
  const again = new TCPServerSocket({ localAddress: '127.0.0.1', localPort });
  await again.opened;
  assert.equal(again.localPort, localPort);
  again.close();
  for (const s of [c1, c2, a1, a2]) s.close();
  await Promise.all([c1.closed, c2.closed, a1.closed, a2.closed, again.closed]);
});

test('interop with node:net both ways', { timeout: 20000 }, async () => {
  // w3sock client -> net echo server
  const srv = net.createServer((c) => c.pipe(c));
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const sock = new TCPSocket('localhost', srv.address().port);
  const { readable, writable } = await sock.opened;
  const w = writable.getWriter();
  await w.write(new TextEncoder().encode('hello net'));
  const reader = readable.getReader();
  const got = await readN(reader, 9);
  assert.equal(got.toString(), 'hello net');
  reader.releaseLock();
  w.releaseLock(); // close() refuses while a writer holds the writable
  await sock.close();
  await new Promise((r) => srv.close(r));
  // net client -> w3sock echo server
  const server = echoServer();
  const { localPort } = await server.opened;
  const answer = await withTimeout(new Promise((resolve, reject) => {
    const c = net.connect(localPort, '127.0.0.1', () => c.end('ping from net'));
    let acc = '';
    c.on('data', (d) => { acc += d; });
    c.on('end', () => resolve(acc));
    c.on('error', reject);
  }), 5000, 'net client');
  assert.equal(answer, 'ping from net');
  server.close();
  await server.closed;
});

test('writable accepts strings, ArrayBuffers and typed arrays; rejects other values with TypeError', { timeout: 20000 }, async () => {
  const server = echoServer();
  const { localPort } = await server.opened;
  const sock = new TCPSocket('127.0.0.1', localPort);
  await sock.opened;
  const reading = readAll(sock.readable);
  const w = sock.writable.getWriter();
  await w.write('ab');
  await w.write(new Uint8Array([99, 100]).buffer);
  await w.write(new Uint16Array([0x6665]));
  await w.write(new DataView(new Uint8Array([103]).buffer));
  await assert.rejects(w.write(12345), TypeError);
  // The rejected write errored the writable stream (WHATWG semantics): end with halfClose().
  sock.halfClose();
  const all = await reading;
  assert.equal(all.toString(), 'abcdefg');
  await sock.closed;
  server.close();
  await server.closed;
});

// A failed test must not leave sockets that keep this file's process alive.
after(() => require('..').shutdown());
