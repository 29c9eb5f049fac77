'use strict';
// Every error path with its W3C DOMException name and native code.
const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const { spawnSync } = require('node:child_process');
const { TCPSocket, TCPServerSocket, UDPSocket, errorName } = require('..');
const { freePort, rejectsWith, throwsWith, withTimeout, runNode, PKG } = require('./helpers');

test('the native code -> DOMException name table', () => {
  const table = {
    InvalidStateError: [-2, -4, -5, -6],
    InvalidAccessError: [-1, -7, -21, -19, -62, -60, -61, -63, -64, -48],
    AbortError: [-23],
    NetworkError: [-8, -9, -10, -11, -12, -13, -14, -15, -16, -17, -18, -20, -22, -24, -40, -41, -42, -43, -44, -45, -46, -47],
  };
  for (const [name, codes] of Object.entries(table)) {
    for (const c of codes) assert.equal(errorName(c), name, `code ${c}`);
  }
});

test('bad arguments throw TypeError', () => {
  throwsWith(() => new TCPSocket(), 'TypeError');
  throwsWith(() => new TCPSocket('', 80), 'TypeError');
  throwsWith(() => new TCPSocket(42, 80), 'TypeError');
  throwsWith(() => new TCPSocket('127.0.0.1'), 'TypeError');
  throwsWith(() => new TCPSocket('127.0.0.1', 0), 'TypeError');
  throwsWith(() => new TCPSocket('127.0.0.1', 65536), 'TypeError');
  throwsWith(() => new TCPSocket('127.0.0.1', 1.5), 'TypeError');
  throwsWith(() => new TCPSocket('127.0.0.1', '80'), 'TypeError');
  throwsWith(() => new TCPSocket('127.0.0.1', 80, 'opts'), 'TypeError');
  throwsWith(() => new TCPSocket('127.0.0.1', 80, { noDelay: 'yes' }), 'TypeError');
  throwsWith(() => new TCPSocket('127.0.0.1', 80, { localPort: -1 }), 'TypeError');
  throwsWith(() => new TCPSocket('127.0.0.1', 80, { tls: { alpn: [1] } }), 'TypeError');
  throwsWith(() => new TCPSocket('127.0.0.1', 80, { tls: { minVersion: 'ssl3' } }), 'TypeError');
  throwsWith(() => new TCPSocket('a\0b', 80), 'TypeError');
  throwsWith(() => new TCPServerSocket({ backlog: 'many' }), 'TypeError');
});

test('connection refused -> NetworkError W3S_ECONNREFUSED (ERROR + CLOSE without OPEN)', { timeout: 15000 }, async () => {
  const port = await freePort();
  const sock = new TCPSocket('127.0.0.1', port);
  const events = [];
  sock.onopen = () => events.push('open');
  sock.onerror = (ev) => events.push(`error:${ev.error.name}`);
  sock.onclose = () => events.push('close');
  const err = await rejectsWith(sock.opened, 'NetworkError', 'W3S_ECONNREFUSED');
  assert.equal(err.errno, -9);
  assert.equal(typeof err.detail, 'string');
  await rejectsWith(sock.closed, 'NetworkError', 'W3S_ECONNREFUSED');
  assert.equal(sock.readyState, 'closed');
  assert.deepEqual(events, ['error:NetworkError', 'close']);
  // The streams error too.
  await rejectsWith(sock.readable.getReader().read(), 'NetworkError', 'W3S_ECONNREFUSED');
});

test('local address that does not parse -> InvalidAccessError W3S_EADDR', () => {
  throwsWith(() => new TCPServerSocket({ localAddress: 'not an address' }), 'InvalidAccessError', 'W3S_EADDR');
});

test('address in use -> opened rejects with NetworkError W3S_EADDRINUSE', { timeout: 10000 }, async () => {
  const a = new TCPServerSocket({ localAddress: '127.0.0.1' });
  await a.opened;
  try {
    const b = new TCPServerSocket({ localAddress: '127.0.0.1', localPort: a.localPort });
    await rejectsWith(b.opened, 'NetworkError', 'W3S_EADDRINUSE');
  } finally {
    await a.close();
  }
});

test('connection reset by the peer -> NetworkError W3S_ECONNRESET', { timeout: 15000 }, async () => {
  const srv = net.createServer((c) => { c.on('data', () => c.resetAndDestroy()); });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const sock = new TCPSocket('127.0.0.1', srv.address().port);
  await sock.opened;
  sock.send('trigger');
  const reader = sock.readable.getReader();
  await rejectsWith(reader.read(), 'NetworkError', 'W3S_ECONNRESET');
  await rejectsWith(sock.closed, 'NetworkError', 'W3S_ECONNRESET');
  await new Promise((r) => srv.close(r));
});

test('write after the write side closed -> InvalidStateError (native W3S_ESTATE)', { timeout: 15000 }, async () => {
  const srv = net.createServer({ allowHalfOpen: true }, () => {});
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const sock = new TCPSocket('127.0.0.1', srv.address().port);
  await sock.opened;
  sock.halfClose();
  throwsWith(() => sock.send('late'), 'InvalidStateError', 'W3S_ESTATE');
  throwsWith(() => sock.setOption('noDelay', 'x'), 'TypeError');
  throwsWith(() => sock.setOption('bogus', 1), 'TypeError');
  sock.close();
  await sock.closed;
  throwsWith(() => sock.send('closed'), 'InvalidStateError');
  throwsWith(() => sock.getInfo(), 'InvalidStateError');
  await rejectsWith(sock.startTls(), 'InvalidStateError');
  srv.close();
});

test('abort before open -> opened rejects with AbortError', { timeout: 10000 }, async () => {
  const srv = net.createServer((c) => { c.on('error', () => {}); });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const sock = new TCPSocket('127.0.0.1', srv.address().port);
  sock.abort();
  await rejectsWith(sock.opened, 'AbortError');
  await sock.closed; // an abort is not an error: closed resolves
  srv.close();
});

test('multicast membership errors -> InvalidAccessError with the native code', { timeout: 10000 }, async () => {
  const u = new UDPSocket({ localAddress: '0.0.0.0' });
  await u.opened;
  throwsWith(() => u.joinMulticast('127.0.0.1'), 'InvalidAccessError', 'W3S_ENOTMULTICAST');
  throwsWith(() => u.leaveMulticast('239.9.9.9'), 'InvalidAccessError', 'W3S_ENOTJOINED');
  throwsWith(() => u.joinMulticast('not-an-address'), 'InvalidAccessError', ['W3S_EADDR', 'W3S_EINVAL']);
  throwsWith(() => u.joinMulticast('239.9.9.9', { interface: 'nosuchif0' }), 'InvalidAccessError', 'W3S_ENOIFACE');
  throwsWith(() => u.joinMulticast(42), 'TypeError');
  u.close();
  await u.closed;
});

test('unconnected UDP send without a destination -> TypeError (code W3S_ENOTCONN)', { timeout: 10000 }, async () => {
  const u = new UDPSocket({ localAddress: '127.0.0.1' });
  await u.opened;
  const e = throwsWith(() => u.send('x'), 'TypeError');
  assert.equal(e.code, 'W3S_ENOTCONN');
  assert.equal(e.errno, -26);
  u.close();
  await u.closed;
});

test('bad PEM -> InvalidAccessError W3S_ETLS_BAD_PEM', () => {
  // PEM blocks that do not parse (text with no PEM block at all is a TypeError: conformance.test.js).
  const bad = (label) => `-----BEGIN ${label}-----\ngarbage!\n-----END ${label}-----\n`;
  throwsWith(() => new TCPServerSocket({
    localAddress: '127.0.0.1', useSecureTransport: true, tls: { cert: bad('CERTIFICATE'), key: bad('PRIVATE KEY') },
  }), 'InvalidAccessError', 'W3S_ETLS_BAD_PEM');
  throwsWith(() => new TCPSocket('127.0.0.1', 9, { useSecureTransport: true, tls: { ca: bad('CERTIFICATE') } }),
    'InvalidAccessError', 'W3S_ETLS_BAD_PEM');
});

test('after shutdown() every call fails with InvalidStateError W3S_ESHUTDOWN', { timeout: 20000 }, async () => {
  const script = `
    const w = require(${JSON.stringify(PKG)});
    const s = new w.TCPServerSocket({ localAddress: '127.0.0.1' });
    s.opened.then(() => {
      w.shutdown();
      try { new w.TCPSocket('127.0.0.1', s.localPort); console.log('no error'); }
      catch (e) { console.log(e.name, e.code); }
      try { new w.UDPSocket(); console.log('no error'); }
      catch (e) { console.log(e.name, e.code); }
    });`;
  const r = await runNode(['-e', script], { timeout: 15000 });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n'), [
    'InvalidStateError W3S_ESHUTDOWN', 'InvalidStateError W3S_ESHUTDOWN',
  ]);
});

test('descriptor exhaustion -> opened rejects with NetworkError W3S_EMFILE', { timeout: 30000 }, async () => {
  // An OS failure is no argument error: the constructor returns and opened rejects.
  const script = `
    const w = require(${JSON.stringify(PKG)});
    const socks = [];
    let err = null;
    for (let i = 0; i < 200 && !err; i++) {
      const s = new w.UDPSocket({ localAddress: '127.0.0.1' });
      socks.push(s);
      if (s.readyState === 'closed') err = s.opened.catch((e) => e);
    }
    Promise.resolve(err).then((e) => {
      console.log(e ? e.name + ' ' + e.code : 'no error');
      for (const s of socks) s.close();
    });`;
  // The Go runtime raises the soft limit to the hard one: lower the hard limit.
  const r = spawnSync('prlimit', ['--nofile=64:64', process.execPath, '-e', script],
    { cwd: PKG, timeout: 25000, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'NetworkError W3S_EMFILE');
});
