'use strict';
// The interface as the W3C draft and Direct Sockets define it (issue 10):
// close() returns a promise, network failures reject `opened` instead of
// throwing, close() refuses while a stream is locked (abort() does not).

const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const { TCPSocket, TCPServerSocket, UDPSocket } = require('..');
const { withTimeout, rejectsWith, throwsWith, freePort, runNode } = require('./helpers');

/** A node:net server on loopback that accepts and keeps connections open. */
async function netServer() {
  const conns = [];
  const srv = net.createServer((c) => { conns.push(c); c.on('error', () => {}); });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  return {
    port: srv.address().port,
    stop: () => new Promise((r) => { for (const c of conns) c.destroy(); srv.close(r); }),
  };
}

// ------------------------------------------------------------ close() promise

test('close() returns a promise that settles as closed does (TCPSocket, TCPServerSocket, UDPSocket)', { timeout: 20000 }, async () => {
  const srv = await netServer();
  try {
    const sock = new TCPSocket('127.0.0.1', srv.port);
    await withTimeout(sock.opened, 5000, 'tcp opened');
    const p = sock.close();
    assert.ok(p instanceof Promise, 'TCPSocket.close() returns a Promise');
    assert.equal(await withTimeout(p, 5000, 'tcp close()'), undefined);
    assert.equal(sock.readyState, 'closed');
    assert.ok(sock.close() instanceof Promise, 'close() of a closed socket still returns a promise');
    await sock.close();

    const server = new TCPServerSocket({ localAddress: '127.0.0.1' });
    await server.opened;
    const sp = server.close();
    assert.ok(sp instanceof Promise, 'TCPServerSocket.close() returns a Promise');
    await withTimeout(sp, 5000, 'server close()');
    assert.equal(server.readyState, 'closed');

    const u = new UDPSocket({ localAddress: '127.0.0.1' });
    await u.opened;
    const up = u.close();
    assert.ok(up instanceof Promise, 'UDPSocket.close() returns a Promise');
    await withTimeout(up, 5000, 'udp close()');
    assert.equal(u.readyState, 'closed');
    // The W3C pattern from the issue: close().catch(...) must not throw.
    await u.close().catch(() => assert.fail('close() of a closed socket must not reject'));
  } finally {
    await srv.stop();
  }
});

test('close() of a socket whose connection failed rejects as closed does', { timeout: 20000 }, async () => {
  const port = await freePort();
  const sock = new TCPSocket('127.0.0.1', port);
  await rejectsWith(sock.opened, 'NetworkError', 'W3S_ECONNREFUSED');
  await rejectsWith(sock.close(), 'NetworkError', 'W3S_ECONNREFUSED');
});

test('a close() nobody awaits still closes, with no unhandled rejection', { timeout: 30000 }, async () => {
  // In a child process: an unhandled rejection would end it with code 1
  // (Node's default --unhandled-rejections=throw) and print the error.
  const script = `
    const { TCPSocket, UDPSocket } = require(${JSON.stringify(require.resolve('..'))});
    const net = require('node:net');
    const srv = net.createServer((c) => { c.resetAndDestroy(); });
    srv.listen(0, '127.0.0.1', async () => {
      const s = new TCPSocket('127.0.0.1', srv.address().port);
      s.onopen = () => s.close(); // not awaited; the peer resets meanwhile
      // A socket whose closed rejects: close() not awaited, not caught.
      const refused = new TCPSocket('127.0.0.1', 1);
      refused.close();
      refused.opened.catch(() => {});
      const u = new UDPSocket({ localAddress: '127.0.0.1' });
      u.close(); // while still opening
      await Promise.allSettled([s.closed, refused.closed, u.closed]);
      srv.close();
      console.log('states', s.readyState, refused.readyState, u.readyState);
    });
  `;
  const r = await runNode(['-e', script], { timeout: 20000 });
  assert.equal(r.code, 0, `child failed:\n${r.stderr}`);
  assert.match(r.stdout, /states closed closed closed/);
  assert.doesNotMatch(r.stderr, /Unhandled|unhandled/);
});

// ------------------------------------------- network failures reject `opened`

test('UDPSocket: bind failures reject opened and closed, the constructor does not throw', { timeout: 20000 }, async () => {
  // EADDRINUSE: a port another socket holds without address reuse.
  const holder = new UDPSocket({ localAddress: '127.0.0.1', addressReuse: false });
  await holder.opened;
  let u;
  assert.doesNotThrow(() => {
    u = new UDPSocket({ localAddress: '127.0.0.1', localPort: holder.localPort, addressReuse: false });
  });
  const events = [];
  u.onerror = (ev) => events.push(`error:${ev.error.code}`);
  u.onclose = () => events.push('close');
  await rejectsWith(u.opened, 'NetworkError', 'W3S_EADDRINUSE');
  await rejectsWith(u.closed, 'NetworkError', 'W3S_EADDRINUSE');
  assert.deepEqual(events, ['error:W3S_EADDRINUSE', 'close']);
  assert.equal(u.readyState, 'closed');
  assert.equal(u.localPort, null);
  throwsWith(() => u.getInfo(), 'InvalidStateError');
  await rejectsWith(u.close(), 'NetworkError', 'W3S_EADDRINUSE');
  await holder.close();

  // EADDRNOTAVAIL: an address no interface has (TEST-NET-1).
  const v = new UDPSocket({ localAddress: '192.0.2.1' });
  await rejectsWith(v.opened, 'NetworkError', 'W3S_EADDRNOTAVAIL');
  await rejectsWith(v.closed, 'NetworkError', 'W3S_EADDRNOTAVAIL');
});

test('TCPServerSocket: bind failures reject opened and closed, the constructor does not throw', { timeout: 20000 }, async () => {
  const srv = await netServer();
  try {
    let s;
    assert.doesNotThrow(() => {
      s = new TCPServerSocket({ localAddress: '127.0.0.1', localPort: srv.port });
    });
    await rejectsWith(s.opened, 'NetworkError', 'W3S_EADDRINUSE');
    await rejectsWith(s.closed, 'NetworkError', 'W3S_EADDRINUSE');
    await rejectsWith(s.listen(), 'InvalidStateError');
    await rejectsWith(s.close(), 'NetworkError', 'W3S_EADDRINUSE'); // settles as closed did
    await rejectsWith(s.abort(), 'NetworkError', 'W3S_EADDRINUSE');
    assert.equal(s.readyState, 'closed');
    const t = new TCPServerSocket({ localAddress: '192.0.2.1' });
    await rejectsWith(t.opened, 'NetworkError', 'W3S_EADDRNOTAVAIL');
  } finally {
    await srv.stop();
  }
});

test('permission denied (a port below 1024 for an unprivileged user) rejects opened', { timeout: 30000 }, async () => {
  // Root may bind low ports: drop to nobody in a child when we are root.
  const script = `
    const { UDPSocket, TCPServerSocket } = require(${JSON.stringify(require.resolve('..'))});
    const out = [];
    const u = new UDPSocket({ localAddress: '127.0.0.1', localPort: 7 });
    const t = new TCPServerSocket({ localAddress: '127.0.0.1', localPort: 7 });
    Promise.allSettled([u.opened, t.opened]).then((rs) => {
      console.log(rs.map((r) => r.status === 'rejected' ? r.reason.name + ':' + r.reason.code : 'open').join(' '));
    });
  `;
  const args = ['-e', script];
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const r = isRoot
    ? await runAsNobody(args)
    : await runNode(args, { timeout: 20000 });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'NetworkError:W3S_EACCES NetworkError:W3S_EACCES');
});

/**
 * Runs node with args as user nobody (we are root here), in a network
 * namespace of its own whose privileged ports are 1-1023 whatever the host
 * says (containers often set ip_unprivileged_port_start to 0, so that any
 * user may bind port 7).
 */
function runAsNobody(args) {
  const { spawn } = require('node:child_process');
  const ownNetns = ['-n', 'sh', '-c',
    'ip link set lo up && echo 1024 > /proc/sys/net/ipv4/ip_unprivileged_port_start && exec "$@"', 'sh'];
  return new Promise((resolve, reject) => {
    const child = spawn('unshare', [...ownNetns, 'setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups',
      '--inh-caps=-all', process.execPath, ...args],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HOME: '/tmp' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const t = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`timed out: ${stderr}`)); }, 20000);
    child.on('exit', (code) => { clearTimeout(t); resolve({ code, stdout, stderr }); });
  });
}

test('malformed arguments still throw synchronously', () => {
  throwsWith(() => new UDPSocket({ localPort: 70000 }), 'TypeError');
  throwsWith(() => new TCPServerSocket({ localAddress: 5 }), 'TypeError');
  throwsWith(() => new TCPSocket('127.0.0.1', 0), 'TypeError');
  throwsWith(() => new UDPSocket({ localAddress: 'not an address' }), 'InvalidAccessError');
});

// ------------------------------------------------- close() while locked

test('close() while a reader or writer holds a stream rejects with InvalidStateError; abort() closes', { timeout: 20000 }, async () => {
  const srv = await netServer();
  try {
    const sock = new TCPSocket('127.0.0.1', srv.port);
    await sock.opened;
    const reader = sock.readable.getReader();
    await rejectsWith(sock.close(), 'InvalidStateError');
    assert.equal(sock.readyState, 'open', 'a refused close() leaves the socket open');
    reader.releaseLock();
    const writer = sock.writable.getWriter();
    await rejectsWith(sock.close(), 'InvalidStateError');
    writer.releaseLock();
    await withTimeout(sock.close(), 5000, 'close() once unlocked');

    const held = new TCPSocket('127.0.0.1', srv.port);
    await held.opened;
    const r2 = held.readable.getReader();
    const w2 = held.writable.getWriter();
    const pending = r2.read();
    await withTimeout(held.abort(), 5000, 'abort() while locked');
    assert.equal(held.readyState, 'closed');
    assert.deepEqual(await withTimeout(pending, 5000, 'read after abort'), { value: undefined, done: true });
    await rejectsWith(w2.write(Buffer.from('x')), 'InvalidStateError');
  } finally {
    await srv.stop();
  }
});

test('UDPSocket and TCPServerSocket: close() refuses while locked, abort() closes', { timeout: 20000 }, async () => {
  const u = new UDPSocket({ localAddress: '127.0.0.1' });
  await u.opened;
  const ur = u.readable.getReader();
  await rejectsWith(u.close(), 'InvalidStateError');
  const uw = u.writable.getWriter();
  ur.releaseLock();
  await rejectsWith(u.close(), 'InvalidStateError');
  await withTimeout(u.abort(), 5000, 'udp abort()');
  assert.equal(u.readyState, 'closed');
  uw.releaseLock();

  const s = new TCPServerSocket({ localAddress: '127.0.0.1' });
  await s.opened;
  const cr = s.connections.getReader();
  const next = cr.read();
  await rejectsWith(s.close(), 'InvalidStateError');
  assert.equal(s.readyState, 'open');
  await withTimeout(s.abort(), 5000, 'server abort()');
  assert.deepEqual(await withTimeout(next, 5000, 'connections after abort'), { value: undefined, done: true });
});

// ------------------------------------------------ UDP argument errors

test('UDP: a datagram without a destination, or to another peer than the connected one, is a TypeError', { timeout: 20000 }, async () => {
  const peer = new UDPSocket({ localAddress: '127.0.0.1' });
  const other = new UDPSocket({ localAddress: '127.0.0.1' });
  await Promise.all([peer.opened, other.opened]);
  const unconnected = new UDPSocket({ localAddress: '127.0.0.1' });
  const connected = new UDPSocket({ localAddress: '127.0.0.1', remoteAddress: '127.0.0.1', remotePort: peer.localPort });
  await Promise.all([unconnected.opened, connected.opened]);
  try {
    // send(): thrown.
    const e1 = throwsWith(() => unconnected.send('x'), 'TypeError');
    assert.equal(e1.code, 'W3S_ENOTCONN');
    const e2 = throwsWith(() => connected.send('x', '127.0.0.1', other.localPort), 'TypeError');
    assert.equal(e2.code, 'W3S_EISCONN');
    // The writable: the write rejects.
    const w1 = unconnected.writable.getWriter();
    await assert.rejects(w1.write({ data: Buffer.from('no destination') }), (e) => e instanceof TypeError && e.code === 'W3S_ENOTCONN');
    w1.releaseLock();
    const w2 = connected.writable.getWriter();
    await assert.rejects(w2.write({ data: Buffer.from('elsewhere'), remoteAddress: '127.0.0.1', remotePort: other.localPort }),
      (e) => e instanceof TypeError && e.code === 'W3S_EISCONN');
    w2.releaseLock();
    // Naming the connected peer itself is fine.
    assert.equal(connected.send('to the peer', '127.0.0.1', peer.localPort), true);
    const r = peer.readable.getReader();
    const { value } = await withTimeout(r.read(), 5000, 'datagram to the connected peer');
    assert.equal(Buffer.from(value.data).toString(), 'to the peer');
    r.releaseLock();
  } finally {
    await Promise.all([peer, other, unconnected, connected].map((s) => s.abort()));
  }
});

// ------------------------------------------------ TLS material

test('TLS material: a path or other non-PEM text is a TypeError saying what was given and how to pass a file', () => {
  const fs = require('node:fs');
  const path = require('node:path');
  const os = require('node:os');
  const e1 = throwsWith(() => new TCPSocket('127.0.0.1', 9, { useSecureTransport: true, tls: { ca: '/etc/ssl/ca.pem' } }), 'TypeError');
  assert.match(e1.message, /tls\.ca/);
  assert.match(e1.message, /"\/etc\/ssl\/ca\.pem"/, 'the message shows what was given');
  assert.match(e1.message, /file path/);
  assert.match(e1.message, /fs\.readFileSync\(path\)/, 'the message says how to pass a file');
  const e2 = throwsWith(() => new TCPServerSocket({
    localAddress: '127.0.0.1', useSecureTransport: true, tls: { cert: 'server.crt', key: 'server.key' },
  }), 'TypeError');
  assert.match(e2.message, /"server\.crt"/);
  // Bytes with no PEM block (a DER file read as is) are named as such.
  const e3 = throwsWith(() => new TCPSocket('127.0.0.1', 9, {
    useSecureTransport: true, tls: { ca: Buffer.from([0x30, 0x82, 0x01, 0x0a, 0x02]) },
  }), 'TypeError');
  assert.match(e3.message, /no PEM block/);
  assert.match(e3.message, /DER must be converted/);
  // A path in a Buffer is shown as the path it is.
  const e5 = throwsWith(() => new TCPSocket('127.0.0.1', 9, {
    useSecureTransport: true, tls: { ca: Buffer.from('/etc/ssl/ca.pem') },
  }), 'TypeError');
  assert.match(e5.message, /"\/etc\/ssl\/ca\.pem" looks like a file path/);
  assert.doesNotMatch(e5.message, /DER/);
  // An empty string is named as given.
  const e6 = throwsWith(() => new TCPSocket('127.0.0.1', 9, { useSecureTransport: true, tls: { ca: '' } }), 'TypeError');
  assert.match(e6.message, /tls\.ca "" is not PEM text/);
  // Key material is not echoed back, the way to pass a file is.
  const e8 = throwsWith(() => new TCPSocket('127.0.0.1', 9, {
    useSecureTransport: true, tls: { key: Buffer.from('c2VjcmV0IGtleQ=='), cert: '-----BEGIN CERTIFICATE-----\n' },
  }), 'TypeError');
  assert.match(e8.message, /tls\.key holds 16 bytes/);
  assert.doesNotMatch(e8.message, /c2VjcmV0/);
  // An array entry is named by its index.
  const e4 = throwsWith(() => new TCPSocket('127.0.0.1', 9, { useSecureTransport: true, tls: { ca: ['C:\\certs\\ca.pem'] } }), 'TypeError');
  assert.match(e4.message, /tls\.ca\[0\]/);
  // The file's contents (what the message recommends) are accepted.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'w3sock-pem-'));
  const { makeCerts } = require('./helpers');
  fs.writeFileSync(path.join(dir, 'ca.pem'), makeCerts().ca);
  const ok = new TCPSocket('127.0.0.1', 9, { useSecureTransport: true, tls: { ca: fs.readFileSync(path.join(dir, 'ca.pem')) } });
  ok.abort();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('TLS material: startTls() rejects with the same TypeError', { timeout: 20000 }, async () => {
  const srv = await netServer();
  try {
    const sock = new TCPSocket('127.0.0.1', srv.port);
    await sock.opened;
    await assert.rejects(sock.startTls({ ca: '/etc/ssl/ca.pem' }), (e) => e instanceof TypeError && /fs\.readFileSync/.test(e.message));
    await sock.close();
  } finally {
    await srv.stop();
  }
});

// ------------------------------------------------ the readable is a byte stream

/** A node:net server that sends `data` to each client, then ends. */
async function sendingServer(data) {
  const srv = net.createServer((c) => { c.on('error', () => {}); c.end(data); });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  return { port: srv.address().port, stop: () => new Promise((r) => srv.close(r)) };
}

test('TCPSocket.readable is a byte stream: getReader({ mode: "byob" }) reads into the caller\'s views', { timeout: 20000 }, async () => {
  const crypto = require('node:crypto');
  const data = crypto.randomBytes(300 * 1024);
  const srv = await sendingServer(data);
  try {
    const sock = new TCPSocket('127.0.0.1', srv.port);
    await sock.opened;
    const reader = sock.readable.getReader({ mode: 'byob' });
    const parts = [];
    let view = new Uint8Array(10000);
    for (let i = 0; i < 1000; i++) {
      const { value, done } = await withTimeout(reader.read(view), 5000, 'byob read');
      if (done) break;
      assert.ok(value instanceof Uint8Array);
      assert.ok(value.byteLength > 0 && value.byteLength <= 10000);
      parts.push(Buffer.from(value)); // copy: the view's buffer is handed back below
      view = new Uint8Array(value.buffer, 0, 10000);
    }
    assert.ok(Buffer.concat(parts).equals(data), 'every byte, in order');
    reader.releaseLock();
    await withTimeout(sock.close(), 5000, 'closed'); // the peer ended; our side closes
  } finally {
    await srv.stop();
  }
});

test('BYOB reads into views much smaller than a chunk lose nothing (1- and 7-byte views)', { timeout: 20000 }, async () => {
  // A chunk larger than the view stays queued in the stream and fills the
  // next reads; the bytes come out whole and in order.
  const crypto = require('node:crypto');
  const data = crypto.randomBytes(20000);
  const srv = await sendingServer(data);
  try {
    const sock = new TCPSocket('127.0.0.1', srv.port);
    await sock.opened;
    const reader = sock.readable.getReader({ mode: 'byob' });
    const got = Buffer.alloc(data.length);
    let n = 0;
    for (let i = 0; n < data.length && i < data.length; i++) {
      const { value, done } = await withTimeout(reader.read(new Uint8Array(i % 2 ? 7 : 1)), 5000, 'small byob read');
      assert.equal(done, false, `ended early at ${n} bytes`);
      assert.ok(value.byteLength >= 1 && value.byteLength <= (i % 2 ? 7 : 1));
      got.set(value, n);
      n += value.byteLength;
    }
    assert.equal(n, data.length);
    assert.ok(got.equals(data), 'every byte, in order');
    const end = await withTimeout(reader.read(new Uint8Array(1)), 5000, 'end');
    assert.equal(end.done, true);
    reader.releaseLock();
    await withTimeout(sock.close(), 5000, 'closed');
  } finally {
    await srv.stop();
  }
});

test('a BYOB read larger than the receive high-water mark completes (min = the whole view)', { timeout: 30000 }, async () => {
  // 3 MiB asked for at once, with the readable's pause mark at 64 KiB and
  // the library's at 256 KiB: data must keep flowing while the read waits.
  const crypto = require('node:crypto');
  const size = 3 * 1024 * 1024;
  const data = crypto.randomBytes(size);
  const srv = await sendingServer(data);
  try {
    const sock = new TCPSocket('127.0.0.1', srv.port, {
      readableHighWaterMark: 64 * 1024, receiveHighWaterMark: 256 * 1024,
    });
    await sock.opened;
    const reader = sock.readable.getReader({ mode: 'byob' });
    const { value, done } = await withTimeout(reader.read(new Uint8Array(size), { min: size }), 20000, '3 MiB BYOB read');
    assert.equal(done, false);
    assert.equal(value.byteLength, size);
    assert.ok(Buffer.from(value.buffer, value.byteOffset, value.byteLength).equals(data));
    const end = await withTimeout(reader.read(new Uint8Array(16)), 5000, 'end');
    assert.equal(end.done, true);
    reader.releaseLock();
    await withTimeout(sock.close(), 5000, 'closed'); // the peer ended; our side closes
  } finally {
    await srv.stop();
  }
});

test('a pending BYOB read ends with done when the peer closes; default reads still see every byte', { timeout: 20000 }, async () => {
  const srv = await sendingServer(Buffer.from('abc'));
  try {
    const sock = new TCPSocket('127.0.0.1', srv.port);
    await sock.opened;
    const reader = sock.readable.getReader({ mode: 'byob' });
    // Asks for more than will ever come: the end settles it with what came.
    const r = await withTimeout(reader.read(new Uint8Array(64), { min: 64 }), 5000, 'short read');
    assert.equal(Buffer.from(r.value).toString(), 'abc');
    assert.equal(r.done, true);
    reader.releaseLock();
    await sock.close();
  } finally {
    await srv.stop();
  }
  // Default reads of many small and large chunks, data intact (the chunks
  // a byte stream takes over never alias the binding's shared buffers).
  const crypto = require('node:crypto');
  const data = crypto.randomBytes(2 * 1024 * 1024);
  const srv2 = net.createServer((c) => {
    c.on('error', () => {});
    let off = 0;
    const pump = () => {
      while (off < data.length) {
        const n = Math.min(data.length - off, 1 + Math.floor(Math.random() * 70000));
        const ok = c.write(data.subarray(off, off + n));
        off += n;
        if (!ok) { c.once('drain', pump); return; }
      }
      c.end();
    };
    pump();
  });
  await new Promise((r) => srv2.listen(0, '127.0.0.1', r));
  try {
    const sock = new TCPSocket('127.0.0.1', srv2.address().port);
    await sock.opened;
    const reader = sock.readable.getReader();
    const chunks = [];
    for (;;) {
      const { value, done } = await withTimeout(reader.read(), 5000, 'default read');
      if (done) break;
      chunks.push(value); // kept, not copied: later reads must not overwrite them
    }
    assert.ok(Buffer.concat(chunks).equals(data));
    reader.releaseLock();
    await sock.close();
  } finally {
    await new Promise((r) => srv2.close(r));
  }
});

test('connect failures (address not available, refused) reject opened; the constructor returns', { timeout: 20000 }, async () => {
  const port = await freePort();
  const cases = [
    [() => new TCPSocket('127.0.0.1', port, { localAddress: '192.0.2.1' }), 'W3S_EADDRNOTAVAIL'],
    [() => new TCPSocket('127.0.0.1', port), 'W3S_ECONNREFUSED'],
  ];
  for (const [make, code] of cases) {
    let s;
    assert.doesNotThrow(() => { s = make(); });
    await rejectsWith(s.opened, 'NetworkError', code);
    await rejectsWith(s.closed, 'NetworkError', code);
  }
});
