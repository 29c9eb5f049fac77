import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const w3sock = require('./index.js');

export const {
  TCPSocket,
  TCPServerSocket,
  UDPSocket,
  SocketMessageEvent,
  SocketErrorEvent,
  SocketCloseEvent,
  ConnectionEvent,
  networkInterfaces,
  version,
  stats,
  shutdown,
  libraryPath,
  errorName,
} = w3sock;
export default w3sock;
