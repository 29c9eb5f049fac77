'use strict';
const test = require('node:test');
const { after } = require('node:test');
const assert = require('node:assert/strict');
const dgram = require('node:dgram');
const { UDPSocket } = require('..');
const { withTimeout } = require('./helpers');

test('UDP stream mode: UDPMessage in, UDPMessage out, unconnected and connected', { timeout: 20000 }, async () => {
  const a = new UDPSocket({ localAddress: '127.0.0.1' });
  const b = new UDPSocket({ localAddress: '127.0.0.1' });
  const ia = await withTimeout(a.opened, 5000, 'a opened');
  await b.opened;
  assert.equal(a.readyState, 'open');
  assert.equal(ia.localAddress, '127.0.0.1');
  assert.equal(ia.localPort, a.localPort);
  assert.ok(a.localPort > 0);
  assert.equal(a.loopback, false);
  assert.equal(a.addressReuse, true);
  assert.equal(a.writeable, a.writable);
  const aw = a.writable.getWriter();
  const br = b.readable.getReader();
  for (let i = 0; i < 20; i++) {
    await aw.write({ data: Buffer.from(`datagram ${i}`), remoteAddress: '127.0.0.1', remotePort: b.localPort });
  }
  for (let i = 0; i < 20; i++) {
    const { value } = await withTimeout(br.read(), 5000, `message ${i}`);
    assert.equal(Buffer.from(value.data).toString(), `datagram ${i}`);
    assert.equal(value.remoteAddress, '127.0.0.1');
    assert.equal(value.remotePort, a.localPort);
  }
  // Connected mode: bare data goes to the default peer.
  const c = new UDPSocket({ localAddress: '127.0.0.1', remoteAddress: '127.0.0.1', remotePort: b.localPort });
  const ic = await c.opened;
  assert.equal(ic.remoteAddress, '127.0.0.1');
  assert.equal(ic.remotePort, b.localPort);
  const cw = c.writable.getWriter();
  await cw.write(new TextEncoder().encode('connected'));
  const { value } = await withTimeout(br.read(), 5000, 'connected message');
  assert.equal(Buffer.from(value.data).toString(), 'connected');
  assert.equal(value.remotePort, c.localPort);
  // setPeer changes the default peer.
  c.setPeer('127.0.0.1', a.localPort);
  assert.equal(c.remotePort, a.localPort);
  assert.equal(c.send('to a'), true);
  const ar = a.readable.getReader();
  const m = await withTimeout(ar.read(), 5000, 'after setPeer');
  assert.equal(Buffer.from(m.value.data).toString(), 'to a');
  const info = c.getInfo();
  assert.equal(info.kind, 'udp');
  assert.ok(info.messagesSent >= 2);
  // Readers and writers still hold the streams: close() would refuse, abort() closes.
  for (const s of [a, b, c]) s.abort();
  await withTimeout(Promise.all([a.closed, b.closed, c.closed]), 5000, 'closed');
  assert.equal(a.readyState, 'closed');
  // The readable ends when the socket closes.
  assert.equal((await br.read()).done, true);
});

test('UDP event mode: onmessage with remote address, send() hint; interop with node:dgram', { timeout: 20000 }, async () => {
  const sock = new UDPSocket({ localAddress: '127.0.0.1' });
  await sock.opened;
  const peer = dgram.createSocket('udp4');
  await new Promise((r) => peer.bind(0, '127.0.0.1', r));
  const fromPeer = [];
  const gotThree = new Promise((resolve) => {
    sock.onmessage = (ev) => {
      fromPeer.push([Buffer.from(ev.data).toString(), ev.remoteAddress, ev.remotePort]);
      // Answer each datagram to its sender.
      sock.send(Buffer.from(`re: ${Buffer.from(ev.data)}`), ev.remoteAddress, ev.remotePort);
      if (fromPeer.length === 3) resolve();
    };
  });
  const answers = [];
  const gotAnswers = new Promise((resolve) => {
    peer.on('message', (msg) => { answers.push(msg.toString()); if (answers.length === 3) resolve(); });
  });
  for (const w of ['one', 'two', 'three']) peer.send(w, sock.localPort, '127.0.0.1');
  await withTimeout(Promise.all([gotThree, gotAnswers]), 5000, 'datagrams');
  assert.deepEqual(fromPeer.map((x) => x[0]), ['one', 'two', 'three']);
  for (const [, addr, port] of fromPeer) {
    assert.equal(addr, '127.0.0.1');
    assert.equal(port, peer.address().port);
  }
  assert.deepEqual(answers.sort(), ['re: one', 're: three', 're: two']);
  peer.close();
  const closed = new Promise((r) => sock.addEventListener('close', r));
  sock.close();
  await withTimeout(closed, 5000, 'close event');
});

test('UDP argument errors', { timeout: 10000 }, async () => {
  const sock = new UDPSocket({ localAddress: '127.0.0.1' });
  await sock.opened;
  assert.throws(() => sock.send(Buffer.from('x'), '127.0.0.1', 70000), TypeError);
  assert.throws(() => sock.send(42, '127.0.0.1', 9), TypeError);
  assert.throws(() => new UDPSocket({ localPort: 'x' }), TypeError);
  assert.throws(() => new UDPSocket({ remoteAddress: '127.0.0.1' }), TypeError);
  assert.throws(() => new UDPSocket(5), TypeError);
  sock.close();
  await sock.closed;
});

// A failed test must not leave sockets that keep this file's process alive.
after(() => require('..').shutdown());
