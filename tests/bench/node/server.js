'use strict';
// Benchmark peer process. Usage: node server.js net|w3sock|w3sock-streams echo|sink BYTES
// Prints "PORT n"; echo: sends every byte back; sink: counts BYTES then answers "k".
const impl = process.argv[2];
const mode = process.argv[3];
const total = Number(process.argv[4] || 0);

if (impl === 'net') {
  const net = require('node:net');
  const srv = net.createServer({ noDelay: true }, (c) => {
    c.setNoDelay(true);
    if (mode === 'echo') {
      c.on('data', (d) => c.write(d));
    } else {
      let got = 0;
      c.on('data', (d) => { got += d.length; if (got >= total) c.write('k'); });
    }
    c.on('error', () => {});
    c.on('close', () => srv.close());
  });
  srv.listen(0, '127.0.0.1', () => console.log(`PORT ${srv.address().port}`));
} else {
  const { TCPServerSocket } = require('../../../bindings/node');
  const server = new TCPServerSocket({ localAddress: '127.0.0.1' });
  server.opened.then(({ localPort }) => console.log(`PORT ${localPort}`));
  server.listen().then(async (s) => {
    server.close();
    if (impl === 'w3sock') {
      if (mode === 'echo') {
        s.onmessage = (ev) => { s.send(ev.data); };
      } else {
        let got = 0;
        s.onmessage = (ev) => { got += ev.data.length; if (got >= total) s.send('k'); };
      }
      s.onend = () => s.close();
    } else {
      const reader = s.readable.getReader();
      const writer = s.writable.getWriter();
      let got = 0;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        if (mode === 'echo') writer.write(value);
        else { got += value.byteLength; if (got >= total) writer.write(Buffer.from('k')); }
      }
      reader.releaseLock(); // close() refuses while a stream is locked
      writer.releaseLock();
      s.close();
    }
  });
}
