'use strict';
// Events drained per second through the Node binding.
//
//   node drain.js [events]      (default 200000)
//
// Queues N 64-byte datagrams in the library while JavaScript keeps the
// thread (so the binding does not take them yet), then times their
// delivery to the receiving UDPSocket's onmessage: the library's poll, the
// binding's dispatch and the event, per datagram. Prints
// "drain: N events in T s = R events/s" like tests/bench/c/poll_rate.
const path = require('node:path');
const w3sock = require(path.join(__dirname, '..', '..', '..', 'bindings', 'node'));

async function main(n) {
  const rx = new w3sock.UDPSocket({
    localAddress: '127.0.0.1', receiveBufferSize: 64 << 20, receiveHighWaterMark: 2 ** 32,
  });
  const tx = new w3sock.UDPSocket({ localAddress: '127.0.0.1' });
  const { localPort } = await rx.opened;
  await tx.opened;
  const msg = Buffer.alloc(64, 0x2e);
  let sent = 0;
  let info = rx.getInfo();
  const deadline = Date.now() + 60000;
  while (sent < n && Date.now() < deadline) {
    for (let i = 0; i < 2000 && sent < n; i++, sent++) tx.send(msg, '127.0.0.1', localPort);
    while (Date.now() < deadline) {
      info = rx.getInfo();
      if (info.messagesReceived + info.messagesDropped >= sent) break;
    }
  }
  const queued = info.messagesReceived;
  let got = 0;
  const t0 = process.hrtime.bigint();
  await new Promise((resolve) => {
    const timer = setTimeout(resolve, 60000);
    rx.onmessage = () => { if (++got === queued) { clearTimeout(timer); resolve(); } };
  });
  const dt = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(`queued ${queued} datagrams (${info.messagesDropped} dropped), delivered ${got}`);
  console.log(`drain: ${got} events in ${dt.toFixed(4)} s = ${(got / dt).toFixed(0)} events/s`);
  rx.close();
  tx.close();
  process.exitCode = got === queued && got > 0 ? 0 : 1;
}

main(Number(process.argv[2] || 200000));
