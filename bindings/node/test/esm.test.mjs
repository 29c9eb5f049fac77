import test, { after } from 'node:test';
import assert from 'node:assert/strict';
import w3sock, { shutdown, TCPSocket, TCPServerSocket, UDPSocket, version } from '../index.mjs';

test('ESM entry point exports the same classes', async () => {
  assert.equal(TCPSocket, w3sock.TCPSocket);
  assert.equal(typeof TCPServerSocket, 'function');
  assert.equal(typeof UDPSocket, 'function');
  assert.match(version(), /^\d+\.\d+\.\d+/);
  const server = new TCPServerSocket({ localAddress: '127.0.0.1' });
  const { localPort } = await server.opened;
  const s = new TCPSocket('127.0.0.1', localPort);
  await s.opened;
  s.close();
  await s.closed;
  server.close();
  await server.closed;
});

// A failed test must not leave sockets that keep this file's process alive.
after(() => shutdown());
