#!/usr/bin/env node
'use strict';
// A line-based chat server in the event style of the superset proposal:
// every line a client sends goes to all the others. "/quit" leaves.
// Usage: node chat-server.js [port]   (prints "chat on ADDR:PORT")
const { TCPServerSocket } = require('../../bindings/node');

const clients = new Set();
const server = new TCPServerSocket({ localAddress: '127.0.0.1', localPort: Number(process.argv[2] || 0) });

function broadcast(from, text) {
  for (const c of clients) if (c !== from) c.send(text);
}

server.onopen = () => console.log(`chat on ${server.localAddress}:${server.localPort}`);
server.onconnection = ({ socket }) => {
  const name = `${socket.remoteAddress}:${socket.remotePort}`;
  let partial = '';
  clients.add(socket);
  socket.send(`welcome ${name}, ${clients.size - 1} other(s) here\n`);
  broadcast(socket, `* ${name} joined\n`);
  socket.onmessage = (ev) => {
    partial += Buffer.from(ev.data).toString('utf8');
    let i;
    while ((i = partial.indexOf('\n')) >= 0) {
      const line = partial.slice(0, i).replace(/\r$/, '');
      partial = partial.slice(i + 1);
      if (line === '/quit') { socket.close(); return; }
      broadcast(socket, `<${name}> ${line}\n`);
    }
  };
  socket.onend = () => socket.close();
  socket.onclose = () => {
    clients.delete(socket);
    broadcast(socket, `* ${name} left\n`);
  };
};
process.on('SIGTERM', () => { for (const c of clients) c.close(); server.close(); });
process.on('SIGINT', () => { for (const c of clients) c.close(); server.close(); });
