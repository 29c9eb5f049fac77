'use strict';
// The binding's one Node internal (process._tickCallback, DEP0134) sits
// behind lib/runtime.js with a public-API fallback: W3SOCK_NO_INTERNALS=1
// forces the fallback (run-tests.sh runs the whole suite that way too).

// Counts the suite process's own calls of process._tickCallback: installed
// before the binding is loaded, so lib/runtime.js captures the counter.
let tickCalls = 0;
if (typeof process._tickCallback === 'function') {
  const real = process._tickCallback;
  process._tickCallback = function countedTick() { tickCalls++; return real.apply(this, arguments); };
}

const test = require('node:test');
const assert = require('node:assert/strict');
const { runNode, PKG, withTimeout } = require('./helpers');

// A child that counts calls of process._tickCallback (or removes it), then
// completes a TCP echo through the streams and prints the count.
function echoScript({ remove }) {
  return `
    let calls = 0;
    if (${remove}) delete process._tickCallback;
    else {
      const real = process._tickCallback;
      process._tickCallback = function () { calls++; return real.apply(this, arguments); };
    }
    const { TCPSocket, TCPServerSocket } = require(${JSON.stringify(PKG)});
    const runtime = require(${JSON.stringify(PKG + '/lib/runtime')});
    (async () => {
      const server = new TCPServerSocket({ localAddress: '127.0.0.1' });
      const { localPort } = await server.opened;
      server.listen().then((s) => s.readable.pipeTo(s.writable).catch(() => {}));
      const sock = new TCPSocket('127.0.0.1', localPort);
      const { readable, writable } = await sock.opened;
      const w = writable.getWriter();
      const r = readable.getReader();
      let got = '';
      for (let i = 0; i < 50; i++) {
        await w.write(Buffer.from('ping ' + i + ';'));
        while (!got.endsWith('ping ' + i + ';')) {
          const { value, done } = await r.read();
          if (done) throw new Error('ended early');
          got += Buffer.from(value).toString();
        }
      }
      r.releaseLock();
      w.releaseLock();
      await sock.abort();
      await server.close();
      console.log(runtime.tickPath, calls, got.split(';').length - 1);
    })().catch((e) => { console.error(e); process.exitCode = 1; });`;
}

test('W3SOCK_NO_INTERNALS=1: process._tickCallback is never called, and streams work', { timeout: 30000 }, async () => {
  const r = await runNode(['-e', echoScript({ remove: false })], { env: { W3SOCK_NO_INTERNALS: '1' } });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'public 0 50');
});

test('by default the internal is used (the fast path)', { timeout: 30000 }, async () => {
  const env = { W3SOCK_NO_INTERNALS: '', W3SOCK_DRAIN: '', W3SOCK_WAKE: '', NODE_OPTIONS: '' };
  const r = await runNode(['-e', echoScript({ remove: false })], { env });
  assert.equal(r.code, 0, r.stderr);
  const [path, calls, echoed] = r.stdout.trim().split(' ');
  assert.equal(path, 'internal');
  assert.ok(Number(calls) > 0, 'the internal path calls process._tickCallback');
  assert.equal(echoed, '50');
});

test('a runtime without process._tickCallback falls back to the public path', { timeout: 30000 }, async () => {
  const env = { W3SOCK_NO_INTERNALS: '', W3SOCK_DRAIN: '', W3SOCK_WAKE: '', NODE_OPTIONS: '' };
  const r = await runNode(['-e', echoScript({ remove: true })], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'public 0 50');
});

// The two passes of run-tests.sh: the assertions above run children with an
// environment of their own; this one checks the suite's own process, so the
// W3SOCK_NO_INTERNALS=1 pass is known to have run on the public path (and
// the default pass on the internal one) with real I/O.
test('this suite process drains on the path its environment asks for', { timeout: 30000 }, async () => {
  const runtime = require('../lib/runtime');
  const { TCPSocket, TCPServerSocket } = require('..');
  const server = new TCPServerSocket({ localAddress: '127.0.0.1' });
  const { localPort } = await server.opened;
  server.listen().then((s) => s.readable.pipeTo(s.writable).catch(() => {}));
  const sock = new TCPSocket('127.0.0.1', localPort);
  const { readable, writable } = await sock.opened;
  const w = writable.getWriter();
  const r = readable.getReader();
  const before = tickCalls;
  for (let i = 0; i < 20; i++) {
    await w.write(Buffer.from([i]));
    const { value, done } = await withTimeout(r.read(), 10000, 'echo ' + i);
    assert.equal(done, false);
    assert.equal(value[0], i);
  }
  const calls = tickCalls - before;
  r.releaseLock();
  w.releaseLock();
  await sock.abort();
  await server.close();
  if (process.env.W3SOCK_NO_INTERNALS === '1') {
    assert.equal(runtime.tickPath, 'public');
    assert.equal(calls, 0, 'the forced fallback never calls process._tickCallback');
  } else if (!process.env.W3SOCK_DRAIN && !process.env.W3SOCK_WAKE && !/pending-deprecation/.test(
    [...process.execArgv, process.env.NODE_OPTIONS || '', process.env.NODE_PENDING_DEPRECATION === '1' ? 'pending-deprecation' : ''].join(' '))) {
    assert.equal(runtime.tickPath, 'internal');
    assert.ok(calls > 0, 'the default path runs the ticks with process._tickCallback');
  }
});
