'use strict';
// The behavioural net through the binding (public API only): DRAIN in every
// wake mode, UDP pause/resume and receive-high-water drops, large
// checksummed TLS and STARTTLS streams with pause, backpressure and
// half-close, and descriptor and socket counts back to their baseline after
// close- and abort-heavy rounds.
const test = require('node:test');
const { after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const dgram = require('node:dgram');
const fs = require('node:fs');
const path = require('node:path');
const tls = require('node:tls');
const { spawn } = require('node:child_process');
const w3 = require('..');
const { TCPSocket, TCPServerSocket, UDPSocket } = w3;
const { PKG, withTimeout, makeCerts, sha256 } = require('./helpers');

const certs = makeCerts();
const MiB = 1024 * 1024;
const nodeServers = []; // node:tls/dgram servers and sockets, closed after the tests (a failure must not hang the file)

/** The socket descriptors this process holds right now (from /proc/self/fd). */
function socketFds() {
  const fds = new Set();
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      if (fs.readlinkSync(`/proc/self/fd/${fd}`).startsWith('socket:')) fds.add(Number(fd));
    } catch { /* the directory's own descriptor, gone already */ }
  }
  return fds;
}

// ------------------------------------------------------------ wake modes
function runDrainSuite(env) {
  const childEnv = { ...process.env, ...env };
  delete childEnv.NODE_TEST_CONTEXT;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--test', '--test-reporter=tap', path.join(__dirname, 'drain.test.js')],
      { cwd: PKG, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    const t = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`timed out:\n${out}`)); }, 100000);
    child.on('exit', (code) => { clearTimeout(t); resolve({ code, out }); });
  });
}

for (const env of [{ W3SOCK_WAKE: 'async' }, { W3SOCK_WAKE: 'notify' }, { W3SOCK_DRAIN: 'immediate' }]) {
  const name = Object.entries(env).map(([k, v]) => `${k}=${v}`).join(' ');
  test(`DRAIN properties (drain.test.js) with ${name}`, { timeout: 110000 }, async () => {
    const r = await runDrainSuite(env);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /# pass 3\b/);
    assert.match(r.out, /# fail 0\b/);
  });
}

// ------------------------------------------------------------ UDP
function datagram(i, size) {
  const b = crypto.randomBytes(size);
  b.writeUInt32BE(i, 0);
  return b;
}

test('UDP suspend(): nothing is delivered while paused, everything after resume(), in order, none dropped', { timeout: 20000 }, async () => {
  const rx = new UDPSocket({ localAddress: '127.0.0.1' });
  const witness = new UDPSocket({ localAddress: '127.0.0.1' });
  await rx.opened;
  await witness.opened;
  const peer = dgram.createSocket('udp4');
  nodeServers.push(peer);
  await new Promise((r) => peer.bind(0, '127.0.0.1', r));
  const send = (b, port) => new Promise((resolve, reject) => peer.send(b, port, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
  const reader = rx.readable.getReader();
  const witnessReader = witness.readable.getReader();
  // Traffic first, so the socket's reading is under way when it is paused.
  const warm = datagram(0, 100);
  await send(warm, rx.localPort);
  const first = await withTimeout(reader.read(), 5000, 'first datagram');
  assert.equal(sha256(Buffer.from(first.value.data)), sha256(warm));

  rx.suspend();
  const sent = [];
  for (let i = 1; i <= 40; i++) {
    sent.push(datagram(i, 1000));
    await send(sent[i - 1], rx.localPort);
  }
  // Sent after the 40: once the other socket of the same loop has it, the
  // 40 had their chance to be read.
  await send(Buffer.from('barrier'), witness.localPort);
  await withTimeout(witnessReader.read(), 5000, 'barrier datagram');
  const paused = rx.getInfo();
  assert.equal(paused.paused, true);
  assert.equal(paused.messagesReceived, 1, 'no datagram was read while paused');

  rx.resume();
  for (let i = 0; i < sent.length; i++) {
    const { value } = await withTimeout(reader.read(), 5000, `datagram ${i + 1} after resume`);
    assert.equal(sha256(Buffer.from(value.data)), sha256(sent[i]), `datagram ${i + 1} intact and in order`);
    assert.equal(value.remotePort, peer.address().port);
  }
  const info = rx.getInfo();
  assert.equal(info.messagesReceived, 41);
  assert.equal(info.messagesDropped, 0);
  peer.close();
  reader.releaseLock(); // close() refuses locked streams (Direct Sockets)
  witnessReader.releaseLock();
  rx.close();
  witness.close();
  await withTimeout(Promise.all([rx.closed, witness.closed]), 5000, 'closed');
});

test('UDP receive high-water mark: datagrams over it are dropped and counted, the rest delivered intact', { timeout: 20000 }, async () => {
  const HWM = 4 * 1024;
  const SIZE = 500;
  // 30 KB: far under the kernel's send and receive buffers, so the kernel
  // neither refuses nor drops any while this thread does not poll.
  const N = 60;
  const rx = new UDPSocket({ localAddress: '127.0.0.1', receiveHighWaterMark: HWM });
  const tx = new UDPSocket({ localAddress: '127.0.0.1' });
  await rx.opened;
  await tx.opened;
  const sent = [];
  for (let i = 0; i < N; i++) {
    sent.push(datagram(i, SIZE));
    tx.send(sent[i], '127.0.0.1', rx.localPort);
  }
  // This thread does not poll now, so nothing is delivered and the library
  // queues up to the mark. Wait (synchronously, bounded) until it has seen
  // every datagram.
  const deadline = Date.now() + 10000;
  let info = rx.getInfo();
  while (info.messagesReceived + info.messagesDropped < N && Date.now() < deadline) info = rx.getInfo();
  assert.equal(info.messagesReceived + info.messagesDropped, N, 'every datagram counted as received or dropped');
  assert.ok(info.messagesDropped > 0, 'datagrams over the mark were dropped');
  // Within the mark, plus (W3SOCK_WAKE=async, as in a worker) what the one
  // poll in flight on libuv's thread pool took from the queue meanwhile.
  const bound = process.env.W3SOCK_WAKE === 'async' ? 2 * HWM : HWM;
  assert.ok(info.messagesReceived * SIZE <= bound, `${info.messagesReceived} datagrams queued within the mark`);
  assert.ok(info.messagesReceived > 0);
  // The queued ones are delivered, intact, in the order sent.
  const reader = rx.readable.getReader();
  for (let i = 0; i < info.messagesReceived; i++) {
    const { value } = await withTimeout(reader.read(), 5000, `queued datagram ${i}`);
    assert.equal(sha256(Buffer.from(value.data)), sha256(sent[i]));
  }
  // And after them, the socket takes datagrams again.
  const later = datagram(N, SIZE);
  tx.send(later, '127.0.0.1', rx.localPort);
  const { value } = await withTimeout(reader.read(), 5000, 'a datagram after the drops');
  assert.equal(sha256(Buffer.from(value.data)), sha256(later));
  const end = rx.getInfo();
  assert.equal(end.messagesReceived, info.messagesReceived + 1);
  assert.equal(end.messagesDropped, info.messagesDropped);
  reader.releaseLock();
  rx.close();
  tx.close();
  await withTimeout(Promise.all([rx.closed, tx.closed]), 5000, 'closed');
});

// ------------------------------------------------------------ large TLS streams
const BIG = 32 * MiB;
const PAUSE_EVERY = 8 * MiB;

/**
 * Reads `readable` to its end through suspend()/resume() cycles: at every
 * PAUSE_EVERY bytes (short of the total) the socket is suspended until
 * inFlight(n) says the sender has written n = 1 MiB more than was read (it
 * did not stop, the buffers took it), then resumed. Returns { bytes, hash }.
 */
async function readWithPauses(sock, readable, total, inFlight) {
  const reader = readable.getReader();
  const hash = crypto.createHash('sha256');
  let bytes = 0;
  let nextPause = PAUSE_EVERY;
  for (;;) {
    const { value, done } = await withTimeout(reader.read(), 20000, `read at ${bytes}`);
    if (done) break;
    hash.update(value);
    bytes += value.byteLength;
    if (bytes >= nextPause && bytes + MiB <= total) {
      nextPause += PAUSE_EVERY;
      sock.suspend();
      assert.equal(sock.getInfo().paused, true);
      await withTimeout(inFlight(bytes + MiB), 20000, `sender moves on while paused at ${bytes}`);
      sock.resume();
    }
  }
  reader.releaseLock();
  return { bytes, hash: hash.digest('hex') };
}

/** Resolves once count() reaches n; notify() re-checks (call it whenever count grows). */
function progress(count) {
  let waiters = [];
  return {
    until(n) {
      return new Promise((resolve) => {
        if (count() >= n) resolve(); else waiters.push({ n, resolve });
      });
    },
    notify() {
      waiters = waiters.filter((w) => (count() >= w.n ? (w.resolve(), false) : true));
    },
  };
}

test('32 MB over TLS from a node:tls server: pauses, backpressure, half-close, checksum both ways', { timeout: 60000 }, async () => {
  const data = crypto.randomBytes(BIG);
  let written = 0;
  const moved = progress(() => written);
  let answer = '';
  let answered;
  const gotAnswer = new Promise((r) => { answered = r; });
  const srv = tls.createServer({ cert: certs.cert, key: certs.key, allowHalfOpen: true }, (s) => {
    nodeServers.push(s);
    s.on('error', () => {});
    s.on('data', (d) => { answer += d; });
    s.on('end', () => { answered(answer); s.end(); });
    // Written in 256 KiB pieces, respecting node's own backpressure.
    const writeMore = () => {
      while (written < BIG) {
        const piece = data.subarray(written, written + 256 * 1024);
        written += piece.length;
        moved.notify();
        if (!s.write(piece)) { s.once('drain', writeMore); return; }
      }
      s.end(); // half-close: our side still reads the answer
    };
    writeMore();
  });
  nodeServers.push(srv);
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const sock = new TCPSocket('localhost', srv.address().port, { useSecureTransport: true, tls: { ca: certs.ca } });
  await withTimeout(sock.opened, 10000, 'opened');
  const got = await readWithPauses(sock, sock.readable, BIG, (n) => moved.until(n));
  assert.equal(got.bytes, BIG);
  assert.equal(got.hash, sha256(data));
  // The peer half-closed; our write side still works.
  const writer = sock.writable.getWriter();
  await writer.write(Buffer.from(got.hash));
  await writer.close();
  assert.equal(await withTimeout(gotAnswer, 10000, 'checksum at the peer'), sha256(data));
  await withTimeout(sock.closed, 10000, 'closed');
  srv.close();
});

/** Reads `reader` until `n` bytes came; returns them. */
async function readExactly(reader, n, what) {
  let got = Buffer.alloc(0);
  while (got.length < n) {
    const { value, done } = await withTimeout(reader.read(), 10000, what);
    assert.equal(done, false, `${what}: the stream ended early`);
    got = Buffer.concat([got, value]);
  }
  return got;
}

test('32 MB over STARTTLS between two w3sock sockets: pauses, backpressure, half-close, checksum', { timeout: 60000 }, async () => {
  const data = crypto.randomBytes(BIG);
  const server = new TCPServerSocket({ localAddress: '127.0.0.1' });
  const { localPort } = await server.opened;
  let written = 0;
  const moved = progress(() => written);
  const serving = (async () => {
    const s = await server.listen();
    const reader = s.readable.getReader();
    // The client sends nothing more until it has our answer: the reader
    // cannot take handshake bytes.
    assert.equal((await readExactly(reader, 10, 'STARTTLS command')).toString(), 'STARTTLS\r\n');
    s.send('GO\r\n');
    await withTimeout(s.startTls({ cert: certs.cert, key: certs.key }), 10000, 'server startTls');
    const writer = s.writable.getWriter();
    for (let off = 0; off < BIG; off += 256 * 1024) {
      await withTimeout(writer.write(data.subarray(off, off + 256 * 1024)), 20000, `write at ${off}`);
      written = off + 256 * 1024;
      moved.notify();
    }
    await writer.close(); // half-close over TLS: the client still answers
    const back = await readExactly(reader, 64, 'checksum from the client');
    const { done } = await withTimeout(reader.read(), 10000, 'client end');
    assert.equal(done, true);
    reader.releaseLock(); // close() refuses locked streams (Direct Sockets)
    writer.releaseLock();
    s.close();
    await withTimeout(s.closed, 10000, 'server side closed');
    return back.toString();
  })();
  const sock = new TCPSocket('127.0.0.1', localPort);
  await sock.opened;
  sock.send('STARTTLS\r\n');
  const reader = sock.readable.getReader();
  assert.equal((await readExactly(reader, 4, 'go ahead')).toString(), 'GO\r\n');
  reader.releaseLock();
  await withTimeout(sock.startTls({ ca: certs.ca, serverName: 'localhost' }), 10000, 'client startTls');
  assert.equal(sock.ssl, true);
  const got = await readWithPauses(sock, sock.readable, BIG, (n) => moved.until(n));
  assert.equal(got.bytes, BIG);
  assert.equal(got.hash, sha256(data));
  const writer = sock.writable.getWriter();
  await writer.write(Buffer.from(got.hash));
  await writer.close();
  assert.equal(await withTimeout(serving, 20000, 'server'), sha256(data));
  await withTimeout(sock.closed, 10000, 'client closed');
  server.close();
  await withTimeout(server.closed, 5000, 'listener closed');
});

// ------------------------------------------------------------ counts
/** One round: `pairs` connections, each closed or aborted from either end. */
async function churnRound(server, localPort, pairs) {
  const accepted = [];
  const accepting = (async () => {
    for (let i = 0; i < pairs; i++) accepted.push(await server.listen());
  })();
  const clients = [];
  for (let i = 0; i < pairs; i++) clients.push(new TCPSocket('127.0.0.1', localPort));
  await withTimeout(Promise.all(clients.map((c) => c.opened)), 20000, 'clients open');
  await withTimeout(accepting, 20000, 'all accepted');
  const all = [...clients, ...accepted];
  for (const s of all) s.closed.catch(() => {}); // aborts reject closed
  for (let i = 0; i < pairs; i++) {
    switch (i % 4) {
      case 0: clients[i].abort(); break; // RST from the client
      case 1: accepted[i].abort(); break; // RST from the server side
      case 2: clients[i].send('bye'); clients[i].close(); break; // graceful, with data queued
      default: accepted[i].close(); break;
    }
  }
  // The other ends close once they see the RST or the FIN.
  for (let i = 0; i < pairs; i++) {
    const other = i % 4 === 0 || i % 4 === 2 ? accepted[i] : clients[i];
    other.readable.cancel().catch(() => {});
    other.close();
  }
  await withTimeout(Promise.allSettled(all.map((s) => s.closed)), 20000, 'every socket closed');
  for (const s of all) assert.equal(s.readyState, 'closed');
}

test('200 sockets per round closed and aborted from both ends: socket and descriptor counts back to baseline', { timeout: 60000 }, async () => {
  const server = new TCPServerSocket({ localAddress: '127.0.0.1', backlog: 256 });
  const { localPort } = await server.opened;
  await churnRound(server, localPort, 8); // warm-up: whatever the first use keeps for good
  const base = w3.stats();
  const baseFds = socketFds();
  for (let round = 0; round < 4; round++) {
    await churnRound(server, localPort, 100);
    const now = w3.stats();
    assert.equal(now.sockets, base.sockets, `round ${round}: library sockets`);
    assert.equal(now.loops, base.loops, `round ${round}: loops`);
    assert.equal(now.openFds, base.openFds, `round ${round}: process descriptors`);
    assert.deepEqual([...socketFds()].sort(), [...baseFds].sort(), `round ${round}: socket descriptors`);
  }
  server.close();
  await withTimeout(server.closed, 5000, 'listener closed');
});

test('abort() closes the descriptor before closed settles; the peer sees a reset', { timeout: 20000 }, async () => {
  const server = new TCPServerSocket({ localAddress: '127.0.0.1' });
  const { localPort } = await server.opened;
  for (const secure of [false, true]) {
    const before = socketFds();
    const opts = secure ? { useSecureTransport: true, tls: { cert: certs.cert, key: certs.key } } : {};
    const srv = secure ? new TCPServerSocket({ localAddress: '127.0.0.1', ...opts }) : server;
    const port = secure ? (await srv.opened).localPort : localPort;
    const client = new TCPSocket(secure ? 'localhost' : '127.0.0.1', port,
      secure ? { useSecureTransport: true, tls: { ca: certs.ca } } : {});
    const peer = await withTimeout(srv.listen(), 10000, 'accept');
    await withTimeout(Promise.all([client.opened, peer.opened]), 10000, 'opened');
    const open = socketFds();
    const mine = [...open].filter((fd) => !before.has(fd));
    assert.equal(mine.length, secure ? 3 : 2, 'the listener (TLS), the client and the accepted socket');
    client.send(Buffer.alloc(64 * 1024, 1)); // queued data is dropped by the abort
    client.abort();
    await withTimeout(client.closed.catch(() => {}), 5000, 'client closed');
    const peerClosed = peer.closed.then(() => null, (e) => e);
    const peerErr = await withTimeout(peerClosed, 5000, 'peer closed');
    // The client's descriptor is gone; so is the peer's once it closed.
    const afterAbort = socketFds();
    for (const fd of mine) {
      if (secure && fd === Math.min(...mine)) continue; // the TLS listener, still open
      assert.equal(afterAbort.has(fd), false, `descriptor ${fd} closed`);
    }
    assert.ok(peerErr === null || peerErr.name === 'NetworkError', `peer: ${peerErr && peerErr.name}`);
    if (secure) {
      srv.close();
      await withTimeout(srv.closed, 5000, 'TLS listener closed');
    }
    assert.deepEqual([...socketFds()].sort(), [...before].sort());
  }
  server.close();
  await withTimeout(server.closed, 5000, 'listener closed');
});

after(() => {
  w3.shutdown();
  for (const s of nodeServers) {
    try {
      if (typeof s.destroy === 'function') s.destroy(); else s.close();
    } catch { /* closed already */ }
  }
});
