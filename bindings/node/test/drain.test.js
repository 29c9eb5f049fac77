'use strict';
// DRAIN through the binding, against independent peers (node:net, node:tls):
// at every 'drain' nothing is buffered any more and every byte sent before it
// reaches the peer without anything more being sent or done; exactly one
// 'drain' per crossing of the send high-water mark (counted when the socket
// closes: a spurious DRAIN would be delivered before its CLOSE); and a stream
// write over the mark waits for that DRAIN. reliability.test.js runs this
// file again in every wake mode (W3SOCK_WAKE, W3SOCK_DRAIN).
const test = require('node:test');
const { after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const net = require('node:net');
const tls = require('node:tls');
const { TCPSocket } = require('..');
const { withTimeout, makeCerts } = require('./helpers');

const HWM = 64 * 1024;
const CHUNK = 48 * 1024; // two chunks cross the mark
const MAX_PER_ROUND = 64 * 1024 * 1024; // the kernel's buffers are far smaller

/**
 * A peer that counts and hashes what it receives and can be held paused;
 * until(n) resolves once n bytes arrived, ended once the peer saw the end.
 */
const peers = []; // closed after the tests, so that a failure cannot hang the file

function countingPeer(secure) {
  const certs = secure ? makeCerts() : null;
  const peer = { socket: null, received: 0, hash: crypto.createHash('sha256'), waiters: [] };
  let connected;
  peer.connected = new Promise((r) => { connected = r; });
  peer.ended = new Promise((resolve) => { peer.onEnd = resolve; });
  const onSocket = (s) => {
    peer.socket = s;
    s.on('data', (d) => {
      peer.received += d.length;
      peer.hash.update(d);
      peer.waiters = peer.waiters.filter((w) => (peer.received >= w.n ? (w.resolve(), false) : true));
    });
    s.on('end', () => { peer.onEnd(); s.end(); });
    s.on('error', () => {});
    connected(s);
  };
  peer.server = secure
    ? tls.createServer({ cert: certs.cert, key: certs.key }, onSocket)
    : net.createServer(onSocket);
  peer.listening = new Promise((r) => peer.server.listen(0, '127.0.0.1', () => r(peer.server.address().port)));
  peer.until = (n, what) => withTimeout(new Promise((resolve) => {
    if (peer.received >= n) resolve(); else peer.waiters.push({ n, resolve });
  }), 20000, what);
  peer.ca = certs && certs.ca;
  peers.push(peer);
  return peer;
}

async function connect(peer, secure) {
  const port = await peer.listening;
  const sock = new TCPSocket(secure ? 'localhost' : '127.0.0.1', port, {
    sendHighWaterMark: HWM, sendBufferSize: 32 * 1024,
    ...(secure ? { useSecureTransport: true, tls: { ca: peer.ca } } : {}),
  });
  await withTimeout(sock.opened, 10000, 'opened');
  await withTimeout(peer.connected, 10000, 'peer connected');
  return sock;
}

async function drainRounds(secure, rounds) {
  const peer = countingPeer(secure);
  const sock = await connect(peer, secure);
  const sentHash = crypto.createHash('sha256');
  let sent = 0;
  let crossings = 0;
  let drains = 0;
  const problems = [];
  let onDrain = null;
  sock.addEventListener('drain', () => {
    drains++;
    const buffered = sock.bufferedAmount;
    if (buffered !== 0) problems.push(`drain ${drains}: bufferedAmount ${buffered}`);
    if (!secure) {
      const { bytesSent } = sock.getInfo();
      if (bytesSent !== sent) problems.push(`drain ${drains}: bytesSent ${bytesSent} of ${sent}`);
    }
    if (onDrain !== null) onDrain();
  });
  const closed = new Promise((resolve) => sock.addEventListener('close', resolve));
  for (let round = 0; round < rounds; round++) {
    peer.socket.pause(); // the kernel's buffers fill, ours crosses the mark
    const drained = withTimeout(new Promise((r) => { onDrain = r; }), 20000, `drain of round ${round}`);
    const start = sent;
    let crossed = false;
    while (!crossed && sent - start < MAX_PER_ROUND) {
      const chunk = crypto.randomBytes(CHUNK);
      sentHash.update(chunk);
      crossed = !sock.send(chunk);
      sent += CHUNK;
    }
    assert.ok(crossed, `round ${round}: the send buffer reached the mark`);
    crossings++;
    // No more sends in this round: once the buffer may drain on a library
    // thread (TLS, notify mode), a later send over the mark can be a
    // crossing of its own, which JavaScript cannot tell apart.
    peer.socket.resume();
    await drained;
    assert.deepEqual(problems, []);
    assert.equal(drains, crossings, `round ${round}: one drain for the crossing`);
    // Everything sent before DRAIN reaches the peer with nothing more sent.
    await peer.until(sent, `round ${round}: the peer receives all ${sent} bytes`);
    // A small send under the mark, once drained, is no crossing.
    const small = Buffer.from(`under the mark ${round}\n`);
    sentHash.update(small);
    assert.equal(sock.send(small), true);
    sent += small.length;
    await peer.until(sent, `round ${round}: small send`);
  }
  sock.close();
  await withTimeout(closed, 10000, 'close event');
  await withTimeout(peer.ended, 10000, 'peer sees the end');
  assert.equal(drains, crossings, 'no DRAIN without a crossing');
  assert.deepEqual(problems, []);
  assert.equal(peer.received, sent);
  assert.equal(peer.hash.digest('hex'), sentHash.digest('hex'));
  peer.server.close();
}

test('send(): one drain per high-water crossing, nothing buffered at drain, all bytes reach the peer', { timeout: 60000 }, async () => {
  await drainRounds(false, 6);
});

test('TLS send(): the same drain properties', { timeout: 60000 }, async () => {
  await drainRounds(true, 4);
});

test('writable stream: a write over the mark resolves at drain; the peer gets every byte', { timeout: 60000 }, async () => {
  for (const secure of [false, true]) {
    const peer = countingPeer(secure);
    const sock = await connect(peer, secure);
    peer.socket.pause();
    const writer = sock.writable.getWriter();
    const sentHash = crypto.createHash('sha256');
    let sent = 0;
    let drains = 0;
    let waits = 0;
    sock.addEventListener('drain', () => { drains++; });
    for (let i = 0; i < 120; i++) {
      const chunk = crypto.randomBytes(CHUNK);
      sentHash.update(chunk);
      const drainsBefore = drains;
      let bufferedAtResolve = -1;
      let drainsAtResolve = -1;
      const write = writer.write(chunk).then(() => {
        bufferedAtResolve = sock.bufferedAmount;
        drainsAtResolve = drains;
      });
      // A write the sink did not accept at once waits for DRAIN: let the
      // peer read until it comes, then hold the peer again.
      await new Promise((r) => setImmediate(r));
      const pending = drainsAtResolve < 0;
      if (pending) peer.socket.resume();
      await withTimeout(write, 20000, `write ${i}`);
      if (pending) peer.socket.pause();
      sent += CHUNK;
      // Only a write that waited sees a DRAIN (one), and then nothing is
      // buffered; after any write the buffer is under the mark.
      assert.ok(bufferedAtResolve < HWM, `write ${i}: ${bufferedAtResolve} bytes buffered after the write`);
      if (drainsAtResolve > drainsBefore) {
        waits++;
        assert.equal(drainsAtResolve - drainsBefore, 1, `write ${i}: one drain`);
        assert.equal(bufferedAtResolve, 0, `write ${i} resolved at drain`);
      }
    }
    peer.socket.resume();
    assert.ok(waits > 0, 'the paused peer made writes wait for drain');
    assert.equal(drains, waits, 'every drain came while a write waited for it');
    await withTimeout(writer.close(), 20000, 'writer.close');
    await withTimeout(peer.ended, 20000, 'peer sees the end');
    assert.equal(peer.received, sent);
    assert.equal(peer.hash.digest('hex'), sentHash.digest('hex'));
    writer.releaseLock(); // close() refuses a locked stream (Direct Sockets)
    sock.close();
    await withTimeout(sock.closed, 10000, 'closed');
    peer.server.close();
  }
});

after(() => {
  require('..').shutdown();
  for (const p of peers) {
    if (p.socket) p.socket.destroy();
    p.server.close();
  }
});
