'use strict';
// TLS and STARTTLS against Node's own tls module (an independent TLS stack).
const test = require('node:test');
const { after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const net = require('node:net');
const tls = require('node:tls');
const { TCPSocket, TCPServerSocket } = require('..');
const { makeCerts, withTimeout, readAll, readN, sha256, rejectsWith } = require('./helpers');

const certs = makeCerts();

function listen(server) {
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r(server.address().port)));
}

/** Reads one line (up to \n) from a node socket. */
function readLine(sock) {
  return new Promise((resolve, reject) => {
    let acc = '';
    const onData = (d) => {
      acc += d.toString('latin1');
      const i = acc.indexOf('\n');
      if (i >= 0) {
        sock.off('data', onData);
        sock.off('error', reject);
        const rest = acc.slice(i + 1);
        if (rest.length) sock.unshift(Buffer.from(rest, 'latin1'));
        resolve(acc.slice(0, i));
      }
    };
    sock.on('data', onData);
    sock.on('error', reject);
  });
}

test('TLS client (useSecureTransport) against a node:tls echo server, with ALPN', { timeout: 30000 }, async () => {
  const srv = tls.createServer({ cert: certs.cert, key: certs.key, ALPNProtocols: ['w3s/1', 'other'] }, (c) => c.pipe(c));
  const port = await listen(srv);
  const sock = new TCPSocket('localhost', port, {
    useSecureTransport: true,
    tls: { ca: certs.ca, alpn: ['w3s/1'], minVersion: 'tls1.2' },
  });
  assert.equal(sock.useSecureTransport, true);
  const info = await withTimeout(sock.opened, 10000, 'TLS opened');
  assert.equal(info.alpn, 'w3s/1');
  assert.equal(sock.ssl, true);
  const details = sock.getInfo();
  assert.equal(details.secure, true);
  assert.match(details.tlsVersion, /^tls1\.[23]$/);
  assert.ok(details.cipher);
  assert.match(details.peerSubject, /CN=localhost/);
  const data = crypto.randomBytes(1024 * 1024);
  const reader = sock.readable.getReader();
  const w = sock.writable.getWriter();
  await w.write(data);
  const back = await readN(reader, data.length, 20000);
  assert.equal(sha256(back), sha256(data));
  reader.releaseLock(); // close() refuses while a stream is locked
  w.releaseLock();
  await withTimeout(sock.close(), 5000, 'closed');
  srv.close();
});

test('TLS server (useSecureTransport) with a node:tls client, TLS 1.2 and 1.3', { timeout: 30000 }, async () => {
  const server = new TCPServerSocket({
    localAddress: '127.0.0.1', useSecureTransport: true,
    tls: { cert: certs.cert, key: certs.key, alpn: ['w3s/1'] },
  });
  const { localPort } = await server.opened;
  server.onconnection = (ev) => {
    const s = ev.socket;
    s.readable.pipeTo(s.writable).catch(() => {});
  };
  for (const maxVersion of ['TLSv1.2', 'TLSv1.3']) {
    const got = await withTimeout(new Promise((resolve, reject) => {
      const c = tls.connect({
        port: localPort, host: '127.0.0.1', servername: 'localhost', ca: certs.ca, ALPNProtocols: ['w3s/1'], maxVersion,
      }, () => {
        assert.equal(c.alpnProtocol, 'w3s/1');
        assert.equal(c.getProtocol(), maxVersion);
        c.end(`hello over ${maxVersion}`);
      });
      let acc = '';
      c.on('data', (d) => { acc += d; });
      c.on('end', () => resolve(acc));
      c.on('error', reject);
    }), 10000, `node tls client ${maxVersion}`);
    assert.equal(got, `hello over ${maxVersion}`);
  }
  server.close();
  await server.closed;
});

test('w3sock TLS client and w3sock TLS server with a client certificate', { timeout: 30000 }, async () => {
  const server = new TCPServerSocket({
    localAddress: '127.0.0.1', useSecureTransport: true,
    tls: { cert: certs.cert, key: certs.key, ca: certs.ca, requireCert: true },
  });
  const { localPort } = await server.opened;
  const sock = new TCPSocket('127.0.0.1', localPort, {
    useSecureTransport: true,
    tls: { ca: certs.ca, serverName: 'localhost', cert: certs.clientCert, key: certs.clientKey },
  });
  const accepted = await withTimeout(server.listen(), 10000, 'accept');
  await withTimeout(Promise.all([sock.opened, accepted.opened]), 10000, 'both secure');
  assert.match(accepted.getInfo().peerSubject, /w3sock client/);
  sock.send('mutual');
  const r = accepted.readable.getReader();
  assert.equal((await readN(r, 6)).toString(), 'mutual');
  r.releaseLock(); // close() refuses while a stream is locked
  await Promise.all([sock.close(), accepted.close()]);
  server.close();
  await server.closed;
});

test('TLS failures are NetworkError with the TLS code', { timeout: 30000 }, async () => {
  const rogue = tls.createServer({ cert: certs.rogueCert, key: certs.rogueKey }, (c) => c.end());
  const rport = await listen(rogue);
  const s1 = new TCPSocket('localhost', rport, { useSecureTransport: true, tls: { ca: certs.ca } });
  await rejectsWith(s1.opened, 'NetworkError', 'W3S_ETLS_UNKNOWN_CA');
  const good = tls.createServer({ cert: certs.cert, key: certs.key }, (c) => c.end());
  const gport = await listen(good);
  const s2 = new TCPSocket('127.0.0.1', gport, { useSecureTransport: true, tls: { ca: certs.ca, serverName: 'wrong.example' } });
  await rejectsWith(s2.opened, 'NetworkError', 'W3S_ETLS_HOSTNAME');
  // A plaintext server: the handshake fails.
  const plain = net.createServer((c) => c.end('220 plain text here\r\n'));
  const pport = await listen(plain);
  const s3 = new TCPSocket('127.0.0.1', pport, { useSecureTransport: true, tls: { ca: certs.ca, serverName: 'localhost' } });
  const e3 = await rejectsWith(s3.opened, 'NetworkError');
  assert.match(e3.code, /^W3S_E(TLS|TLS_NOT_TLS|CONNRESET|IO)$/);
  // rejectUnauthorized: false accepts the rogue certificate.
  const s4 = new TCPSocket('localhost', rport, { useSecureTransport: true, tls: { rejectUnauthorized: false } });
  await withTimeout(s4.opened, 10000, 'insecure opened');
  s4.close();
  await s4.closed.catch(() => {});
  for (const s of [rogue, good, plain]) s.close();
});

test('STARTTLS client: w3sock upgrades against a node tls.TLSSocket({isServer}) server', { timeout: 30000 }, async () => {
  const ctx = tls.createSecureContext({ cert: certs.cert, key: certs.key });
  const srv = net.createServer(async (raw) => {
    raw.write('220 ready\r\n');
    const line = await readLine(raw);
    if (line.trim() !== 'STARTTLS') { raw.end('500 no\r\n'); return; }
    raw.write('220 go ahead\r\n');
    const secure = new tls.TLSSocket(raw, { isServer: true, secureContext: ctx });
    secure.on('data', (d) => secure.write(Buffer.from(d.toString().toUpperCase())));
    secure.on('end', () => secure.end());
    secure.on('error', () => {});
  });
  const port = await listen(srv);
  const sock = new TCPSocket('127.0.0.1', port);
  await sock.opened;
  const reader = sock.readable.getReader();
  const greet = await readN(reader, 11);
  assert.equal(greet.toString(), '220 ready\r\n');
  sock.send('STARTTLS\r\n');
  const go = await readN(reader, 14);
  assert.equal(go.toString(), '220 go ahead\r\n');
  assert.equal(sock.ssl, false);
  const tlsInfo = await withTimeout(sock.startTls({ ca: certs.ca, serverName: 'localhost' }), 10000, 'startTls');
  assert.equal(sock.ssl, true);
  assert.match(tlsInfo.tlsVersion, /^tls1\.[23]$/);
  sock.send('secret payload');
  const up = await readN(reader, 14);
  assert.equal(up.toString(), 'SECRET PAYLOAD');
  reader.releaseLock();
  sock.close();
  await sock.closed;
  srv.close();
});

test('STARTTLS server: a w3sock server upgrades, node tls.connect({socket}) is the client', { timeout: 30000 }, async () => {
  const server = new TCPServerSocket({ localAddress: '127.0.0.1' });
  const { localPort } = await server.opened;
  const serving = (async () => {
    const s = await server.listen();
    const reader = s.readable.getReader();
    s.send('220 w3sock ready\r\n');
    const cmd = await readN(reader, 10);
    assert.equal(cmd.toString(), 'STARTTLS\r\n');
    s.send('220 go ahead\r\n');
    await s.startTls({ cert: certs.cert, key: certs.key });
    assert.equal(s.ssl, true);
    const msg = await readN(reader, 5);
    s.send(`echo:${msg}`);
    reader.releaseLock();
    const rest = await readAll(s.readable);
    assert.equal(rest.length, 0);
    s.close();
    await s.closed;
  })();
  const raw = net.connect(localPort, '127.0.0.1');
  assert.equal(await withTimeout(readLine(raw), 5000, 'greeting'), '220 w3sock ready\r');
  raw.write('STARTTLS\r\n');
  assert.equal(await withTimeout(readLine(raw), 5000, 'go ahead'), '220 go ahead\r');
  raw.removeAllListeners('data');
  raw.pause();
  const answer = await withTimeout(new Promise((resolve, reject) => {
    const c = tls.connect({ socket: raw, servername: 'localhost', ca: certs.ca }, () => c.write('hello'));
    let acc = '';
    c.on('data', (d) => {
      acc += d;
      if (acc === 'echo:hello') { resolve(acc); c.end(); }
    });
    c.on('error', reject);
  }), 10000, 'tls over the upgraded socket');
  assert.equal(answer, 'echo:hello');
  await withTimeout(serving, 10000, 'server side');
  server.close();
  await server.closed;
});

// A failed test must not leave sockets that keep this file's process alive.
after(() => require('..').shutdown());
