// Type definitions for w3sock: the W3C TCP and UDP Socket API (WD 2014-12-02)
// with WHATWG streams, plus the superset proposal's events.

/// <reference types="node" />

export type ReadyState = 'opening' | 'open' | 'closing' | 'closed' | 'halfclosed';
export type TLSVersion = 'tls1.2' | 'tls1.3' | 'TLSv1.2' | 'TLSv1.3';
/**
 * PEM contents (not a file name), as node:tls takes them: pass a file as
 * `fs.readFileSync(path)`. Text with no "-----BEGIN" block (a path, DER bytes)
 * throws TypeError; a PEM block that does not parse throws InvalidAccessError
 * (W3S_ETLS_BAD_PEM).
 */
export type PEM = string | Uint8Array | Array<string | Uint8Array>;
export type BufferSourceLike = ArrayBufferView | ArrayBuffer | string;

export interface TLSOptions {
  /** SNI and the name the certificate is verified against (default: the host). */
  serverName?: string;
  /** CA certificates to trust (replace the system roots unless caReplaceSystem is false). */
  ca?: PEM;
  caReplaceSystem?: boolean;
  /** Certificate chain (a server's, or a client certificate). */
  cert?: PEM;
  key?: PEM;
  /** ALPN protocols in preference order. */
  alpn?: string[];
  minVersion?: TLSVersion;
  maxVersion?: TLSVersion;
  /** Verify the peer (default true). */
  rejectUnauthorized?: boolean;
  /** Server: ask for a client certificate, verify if given. */
  requestCert?: boolean;
  /** Server: require and verify a client certificate. */
  requireCert?: boolean;
}

export interface TCPOptions {
  localAddress?: string;
  localPort?: number;
  /** Default true. */
  addressReuse?: boolean;
  /** Default true. */
  noDelay?: boolean;
  /** TLS from the first byte (default false). */
  useSecureTransport?: boolean;
  /** Keep-alive idle delay in milliseconds (> 0 turns keep-alive on). */
  keepAliveDelay?: number;
  keepAlive?: boolean;
  /** Connect timeout in milliseconds (0: none of our own). */
  connectTimeout?: number;
  tls?: TLSOptions;
  sendBufferSize?: number;
  receiveBufferSize?: number;
  /** Bytes queued for sending before writes wait for 'drain' (default 1 MiB). */
  sendHighWaterMark?: number;
  /** Bytes undelivered inside the library before it stops reading (default 1 MiB). */
  receiveHighWaterMark?: number;
  /** Bytes queued in the readable stream before the socket is paused (default 512 KiB). */
  readableHighWaterMark?: number;
}

export interface TCPServerOptions {
  localAddress?: string;
  localPort?: number;
  addressReuse?: boolean;
  reusePort?: boolean;
  useSecureTransport?: boolean;
  tls?: TLSOptions;
  backlog?: number;
  noDelay?: boolean;
  keepAliveDelay?: number;
  sendHighWaterMark?: number;
  receiveHighWaterMark?: number;
  readableHighWaterMark?: number;
}

export interface UDPOptions {
  localAddress?: string;
  localPort?: number;
  remoteAddress?: string;
  remotePort?: number;
  /** Default true. */
  addressReuse?: boolean;
  reusePort?: boolean;
  /** Multicast loopback (default false). */
  loopback?: boolean;
  multicastTimeToLive?: number;
  broadcast?: boolean;
  ttl?: number;
  /** Interface name, index or address for outgoing multicast. */
  multicastInterface?: string | number;
  sendBufferSize?: number;
  receiveBufferSize?: number;
  sendHighWaterMark?: number;
  receiveHighWaterMark?: number;
  /** Messages queued in the readable stream before the socket is paused (default 256). */
  readableHighWaterMark?: number;
}

export interface UDPMessage {
  data: Uint8Array;
  remoteAddress?: string;
  remotePort?: number;
}

export interface ReceivedUDPMessage {
  data: Buffer;
  remoteAddress: string;
  remotePort: number;
}

export interface TCPSocketOpenInfo {
  readable: ReadableStream<Uint8Array>;
  writable: WritableStream<BufferSourceLike>;
  remoteAddress: string;
  remotePort: number;
  localAddress: string | null;
  localPort: number | null;
  alpn: string | null;
}

export interface TCPServerSocketOpenInfo {
  readable: ReadableStream<TCPSocket>;
  connections: ReadableStream<TCPSocket>;
  localAddress: string;
  localPort: number;
}

export interface UDPSocketOpenInfo {
  readable: ReadableStream<ReceivedUDPMessage>;
  writable: WritableStream<UDPMessage | BufferSourceLike>;
  localAddress: string;
  localPort: number;
  remoteAddress: string | null;
  remotePort: number | null;
}

export interface SecureInfo {
  alpn: string | null;
  tlsVersion: string | null;
  cipher: string | null;
  peerSubject: string | null;
}

export interface SocketInfo {
  kind: 'tcp' | 'tcp-server' | 'udp' | 'unknown';
  readyState: ReadyState;
  family: number;
  localAddress: string | null;
  localPort: number | null;
  remoteAddress: string | null;
  remotePort: number | null;
  bufferedAmount: number;
  bytesReceived: number;
  bytesSent: number;
  messagesReceived: number;
  messagesSent: number;
  messagesDropped: number;
  paused: boolean;
  peerEnded: boolean;
  rttUs: number;
  secure: boolean;
  tlsVersion: string | null;
  cipher: string | null;
  alpn: string | null;
  serverName: string | null;
  peerSubject: string | null;
  peerIssuer: string | null;
}

export type OptionName =
  | 'noDelay' | 'keepAlive' | 'keepAliveDelay' | 'sendBufferSize' | 'receiveBufferSize'
  | 'ttl' | 'multicastTimeToLive' | 'multicastLoopback' | 'loopback' | 'broadcast'
  | 'sendHighWaterMark' | 'receiveHighWaterMark' | 'addressReuse' | 'reusePort'
  | 'multicastInterface';

/** The DOMExceptions thrown and rejected by w3sock carry the native error. */
export interface W3SockError extends DOMException {
  /** The native error name, e.g. "W3S_ECONNREFUSED". */
  readonly code: any;
  /** The native error number, e.g. -9. */
  readonly errno: number;
  /** The library's detail message. */
  readonly detail: string;
}

export declare class SocketMessageEvent extends Event {
  constructor(type: string, init?: { data?: Uint8Array; remoteAddress?: string; remotePort?: number });
  readonly data: Buffer;
  readonly remoteAddress: string | null;
  readonly remotePort: number | null;
}

export declare class SocketErrorEvent extends Event {
  constructor(type: string, init?: { error?: W3SockError });
  readonly error: W3SockError | null;
  readonly message: string;
  readonly code: string | undefined;
}

export declare class SocketCloseEvent extends Event {
  constructor(type: string, init?: { hadError?: boolean });
  readonly hadError: boolean;
}

export declare class ConnectionEvent extends Event {
  constructor(type: string, init?: { socket?: TCPSocket });
  readonly socket: TCPSocket;
}

type Handler<E extends Event> = ((this: any, ev: E) => any) | null;

declare abstract class SocketCommon extends EventTarget {
  getInfo(): SocketInfo;
  setOption(name: OptionName, value: boolean | number): void;
  getOption(name: OptionName): boolean | number;
  onopen: Handler<Event>;
  onerror: Handler<SocketErrorEvent>;
  onclose: Handler<SocketCloseEvent>;
}

export declare class TCPSocket extends SocketCommon {
  constructor(remoteAddress: string, remotePort: number, options?: TCPOptions);
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string | null;
  readonly localPort: number | null;
  readonly addressReuse: boolean;
  readonly noDelay: boolean;
  readonly useSecureTransport: boolean;
  readonly readyState: ReadyState;
  /** Resolves once connected (and secure); rejects with the NetworkError of a failed connect. */
  readonly opened: Promise<TCPSocketOpenInfo>;
  readonly closed: Promise<void>;
  /**
   * A byte stream (`type: 'bytes'`): `getReader({ mode: 'byob' })` reads into
   * the caller's buffer (`read(view, { min })` waits for at least min elements,
   * however large); default reads give Uint8Array chunks.
   */
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<BufferSourceLike>;
  /** The draft's spelling of writable. */
  readonly writeable: WritableStream<BufferSourceLike>;
  readonly ssl: boolean;
  readonly isHalfClosed: boolean;
  readonly alpn: string | null;
  readonly bufferedAmount: number;
  /**
   * Graceful close (queued data is sent first); settles as `closed` does.
   * Rejects with InvalidStateError, closing nothing, while a reader or writer
   * holds one of the socket's streams (Direct Sockets); use abort() then.
   * Not awaiting it is safe: a rejection of `closed` is never reported as unhandled.
   */
  close(): Promise<void>;
  /** Immediate close (a TCP connection is reset), even while a stream is locked; settles as `closed` does. */
  abort(): Promise<void>;
  halfClose(): void;
  send(data: BufferSourceLike): boolean;
  sendFile(path: string, offset?: number, length?: number): boolean;
  suspend(): void;
  resume(): void;
  startTls(options?: TLSOptions): Promise<SecureInfo>;
  onmessage: Handler<SocketMessageEvent>;
  ondrain: Handler<Event>;
  onend: Handler<Event>;
  onsecure: Handler<Event>;
}

export declare class TCPServerSocket extends SocketCommon {
  constructor(options?: TCPServerOptions);
  readonly localAddress: string;
  readonly localPort: number;
  readonly addressReuse: boolean;
  readonly useSecureTransport: boolean;
  readonly readyState: ReadyState;
  /**
   * Resolves once listening; rejects (NetworkError) when the network or the OS
   * refuses, e.g. W3S_EADDRINUSE, W3S_EADDRNOTAVAIL, W3S_EACCES: the
   * constructor throws only for malformed arguments.
   */
  readonly opened: Promise<TCPServerSocketOpenInfo>;
  readonly closed: Promise<void>;
  readonly connections: ReadableStream<TCPSocket>;
  readonly readable: ReadableStream<TCPSocket>;
  listen(): Promise<TCPSocket>;
  /**
   * Graceful close (queued data is sent first); settles as `closed` does.
   * Rejects with InvalidStateError, closing nothing, while a reader or writer
   * holds one of the socket's streams (Direct Sockets); use abort() then.
   * Not awaiting it is safe: a rejection of `closed` is never reported as unhandled.
   */
  close(): Promise<void>;
  /** Immediate close (a TCP connection is reset), even while a stream is locked; settles as `closed` does. */
  abort(): Promise<void>;
  onconnection: Handler<ConnectionEvent>;
}

export interface MulticastOptions {
  /** Source-specific membership. */
  source?: string;
  /** Interface name, index or address. */
  interface?: string | number;
}

export interface JoinedGroup {
  group: string;
  source: string | null;
  interface: number;
}

export declare class UDPSocket extends SocketCommon {
  constructor(options?: UDPOptions);
  readonly localAddress: string;
  readonly localPort: number;
  readonly remoteAddress: string | null;
  readonly remotePort: number | null;
  readonly addressReuse: boolean;
  readonly loopback: boolean;
  readonly readyState: ReadyState;
  /**
   * Resolves once bound; rejects (NetworkError) when the network or the OS
   * refuses, e.g. W3S_EADDRINUSE, W3S_EADDRNOTAVAIL, W3S_EACCES: the
   * constructor throws only for malformed arguments.
   */
  readonly opened: Promise<UDPSocketOpenInfo>;
  readonly closed: Promise<void>;
  readonly readable: ReadableStream<ReceivedUDPMessage>;
  readonly writable: WritableStream<UDPMessage | BufferSourceLike>;
  readonly writeable: WritableStream<UDPMessage | BufferSourceLike>;
  readonly bufferedAmount: number;
  readonly joinedGroups: JoinedGroup[];
  /**
   * Graceful close (queued data is sent first); settles as `closed` does.
   * Rejects with InvalidStateError, closing nothing, while a reader or writer
   * holds one of the socket's streams (Direct Sockets); use abort() then.
   * Not awaiting it is safe: a rejection of `closed` is never reported as unhandled.
   */
  close(): Promise<void>;
  /** Immediate close (a TCP connection is reset), even while a stream is locked; settles as `closed` does. */
  abort(): Promise<void>;
  /**
   * One datagram; false once the send queue is at its high-water mark. Throws
   * TypeError (code W3S_ENOTCONN) without a destination on an unconnected
   * socket, TypeError (code W3S_EISCONN) naming another peer than the connected one.
   */
  send(data: BufferSourceLike, remoteAddress?: string, remotePort?: number): boolean;
  setPeer(address: string | null, port?: number): void;
  joinMulticast(group: string, options?: MulticastOptions): void;
  leaveMulticast(group: string, options?: MulticastOptions): void;
  suspend(): void;
  resume(): void;
  onmessage: Handler<SocketMessageEvent>;
  ondrain: Handler<Event>;
}

export interface NetworkInterface {
  name: string;
  address: string | null;
  index: number;
  prefixLength: number;
  family: number;
  up: boolean;
  loopback: boolean;
  multicast: boolean;
  broadcast: boolean;
}

export declare function networkInterfaces(): NetworkInterface[];
export declare function version(): string;
export declare function stats(): {
  loops: number; sockets: number; goroutines: number; openFds: number; eventsQueued: number;
} | null;
export declare function shutdown(): void;
export declare const libraryPath: string;
/** The DOMException name for a native error number. */
export declare function errorName(code: number): 'InvalidStateError' | 'InvalidAccessError' | 'AbortError' | 'NetworkError';
