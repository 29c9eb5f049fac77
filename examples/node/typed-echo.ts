// TypeScript example, checked with `tsc --noEmit`: a typed echo round trip
// through the stream interface and the events interface.
import { TCPServerSocket, TCPSocket, UDPSocket, type TCPSocketOpenInfo, type W3SockError } from 'w3sock';

async function echoOnce(message: string): Promise<string> {
  const server = new TCPServerSocket({ localAddress: '127.0.0.1', backlog: 16 });
  const { localPort } = await server.opened;
  server.onconnection = (ev) => {
    const s: TCPSocket = ev.socket;
    s.onmessage = (m) => { s.send(m.data); };
    s.onend = () => s.close();
  };
  const sock = new TCPSocket('127.0.0.1', localPort, { noDelay: true, connectTimeout: 5000 });
  const info: TCPSocketOpenInfo = await sock.opened;
  const writer = info.writable.getWriter();
  await writer.write(new TextEncoder().encode(message));
  await writer.close();
  // The readable is a byte stream: a BYOB reader reads into our own buffer.
  let out = '';
  const reader = info.readable.getReader({ mode: 'byob' });
  let view = new Uint8Array(4096);
  for (;;) {
    const { value, done } = await reader.read(view);
    if (done || value === undefined) break;
    out += new TextDecoder().decode(value);
    view = new Uint8Array(value.buffer); // the read hands the buffer back
  }
  reader.releaseLock();
  await server.close();
  return out;
}

async function datagram(): Promise<void> {
  const u = new UDPSocket({ localAddress: '127.0.0.1', loopback: false });
  await u.opened;
  const ok: boolean = u.send('ping', '127.0.0.1', u.localPort);
  const reader = u.readable.getReader();
  const { value } = await reader.read();
  console.log(ok, value?.remoteAddress, value?.remotePort, value?.data.byteLength);
  reader.releaseLock(); // close() refuses while a reader holds the readable
  await u.close();
}

echoOnce('typed hello').then(datagram).catch((e: W3SockError) => {
  console.error(e.name, e.code, e.errno, e.detail);
});
