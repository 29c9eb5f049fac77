'use strict';
// JS option dictionaries -> the C option structs of w3sock.h, built in
// Buffers. Each builder returns { buf, keep } where keep holds the string
// Buffers whose addresses are stored in buf (they must stay alive until the
// native call returns; the library copies them).

const native = require('./native');
const { api, koffi, SIZES, cstr, CLIENT_AUTH } = native;
const { typeError } = require('./errors');

function isObject(v) {
  return v !== null && typeof v === 'object';
}

function optObject(v, what) {
  if (v === undefined || v === null) return {};
  if (!isObject(v)) throw typeError(`${what} must be an object`);
  return v;
}

function optBool(o, key, what) {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw typeError(`${what}.${key} must be a boolean`);
  return v;
}

function optInt(o, key, what, min, max) {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw typeError(`${what}.${key} must be an integer in ${min}..${max}`);
  }
  return v;
}

function optString(o, key, what) {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw typeError(`${what}.${key} must be a string`);
  if (v.includes('\0')) throw typeError(`${what}.${key} must not contain NUL`);
  return v;
}

/** PEM material: a string, a Buffer/Uint8Array, or an array of those. */
function optPem(o, key, what) {
  let v = o[key];
  if (v === undefined || v === null) return undefined;
  if (Array.isArray(v)) return v.map((x, i) => pemText(x, `${what}.${key}[${i}]`)).join('\n');
  return pemText(v, `${what}.${key}`);
}

const PEM_MARKER = '-----BEGIN ';

/**
 * PEM text of v. Material is contents, as in node:tls; text with no PEM
 * block at all (a file path, DER bytes, a typo) is refused here with a
 * TypeError that says what was given, instead of reaching the library as
 * "PEM" and failing there with a bare W3S_ETLS_BAD_PEM. Text that has a
 * PEM block but does not parse still gets the library's error.
 */
function pemText(v, what) {
  let text;
  if (typeof v === 'string') text = v;
  else if (v instanceof Uint8Array) text = Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('latin1');
  else throw typeError(`${what} must be PEM text (a string or Buffer), got ${describe(v)}`);
  if (!text.includes(PEM_MARKER)) throw notPem(text, typeof v === 'string', what);
  return typeof v === 'string' ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('utf8');
}

function describe(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? `a ${v.constructor ? v.constructor.name : 'object'}` : `a ${typeof v}`;
}

function notPem(text, isString, what) {
  const hint = 'pass the PEM contents, e.g. fs.readFileSync(path), as node:tls does';
  // A Buffer of printable text (Buffer.from(path), a path read from a
  // config file) is shown like a string; other bytes are only counted.
  // Key material is never echoed back.
  const printable = text.length <= 200 && /^[\x20-\x7e]*$/.test(text);
  if (/\.key(\[\d+\])?$/.test(what)) {
    return typeError(`${what} holds ${text.length} ${isString ? 'characters' : 'bytes'} with no PEM block ("${PEM_MARKER}..."): ${hint}`);
  }
  if (!isString && !printable) {
    const der = text.charCodeAt(0) === 0x30 ? '; DER must be converted to PEM' : '';
    return typeError(`${what} holds ${text.length} bytes with no PEM block ("${PEM_MARKER}..."${der}): ${hint}`);
  }
  const shown = (isString ? '' : 'a Buffer holding ') +
    JSON.stringify(text.length > 80 ? `${text.slice(0, 77)}...` : text);
  const pathLike = text !== '' && !/[\r\n]/.test(text) && /[/\\.]/.test(text);
  const verdict = pathLike ? 'looks like a file path, not PEM text' : 'is not PEM text (no "-----BEGIN ...-----" block)';
  return typeError(`${what} ${shown} ${verdict}: ${hint}`);
}

function setPtr(buf, off, str, keep) {
  if (str === undefined) return;
  const b = cstr(str);
  keep.push(b);
  buf.writeBigUInt64LE(koffi.address(b), off);
}

const TLS_VERSIONS = {
  'tls1.2': 'tls1.2', 'tls1.3': 'tls1.3', 'TLSv1.2': 'tls1.2', 'TLSv1.3': 'tls1.3',
};

function tlsVersion(o, key, what) {
  const v = optString(o, key, what);
  if (v === undefined) return undefined;
  const t = TLS_VERSIONS[v];
  if (t === undefined) throw typeError(`${what}.${key} must be "tls1.2" or "tls1.3"`);
  return t;
}

/**
 * TLSOptions -> w3s_tls_options. Keys: serverName, ca, cert, key, alpn
 * (array or comma-separated string), minVersion, maxVersion,
 * rejectUnauthorized (default true), caReplaceSystem, requestCert, requireCert.
 */
function tlsOptions(tls, keep, what = 'tls') {
  const o = optObject(tls, what);
  const buf = Buffer.alloc(SIZES.tls);
  if (api.tls_options_init(buf) < 0) throw new Error('w3s_tls_options_init failed');
  const serverName = optString(o, 'serverName', what) ?? optString(o, 'servername', what);
  setPtr(buf, 8, serverName, keep);
  const ca = optPem(o, 'ca', what);
  setPtr(buf, 16, ca, keep);
  setPtr(buf, 24, optPem(o, 'cert', what), keep);
  setPtr(buf, 32, optPem(o, 'key', what), keep);
  let alpn = o.alpn ?? o.ALPNProtocols;
  if (alpn !== undefined && alpn !== null) {
    if (typeof alpn === 'string') alpn = alpn.split(',');
    if (!Array.isArray(alpn) || alpn.some((p) => typeof p !== 'string' || p === '' || p.includes(',') || p.includes('\0'))) {
      throw typeError(`${what}.alpn must be an array of non-empty strings`);
    }
    if (alpn.length) setPtr(buf, 40, alpn.join(','), keep);
  }
  setPtr(buf, 48, tlsVersion(o, 'minVersion', what), keep);
  setPtr(buf, 56, tlsVersion(o, 'maxVersion', what), keep);
  const reject = optBool(o, 'rejectUnauthorized', what);
  if (reject === false) buf.writeInt32LE(1, 4);
  const replace = optBool(o, 'caReplaceSystem', what);
  if (replace !== undefined) buf.writeInt32LE(replace ? 1 : 0, 64);
  else if (ca !== undefined) buf.writeInt32LE(1, 64);
  const requireCert = optBool(o, 'requireCert', what);
  const requestCert = optBool(o, 'requestCert', what);
  if (requireCert) buf.writeInt32LE(CLIENT_AUTH.REQUIRE, 68);
  else if (requestCert) buf.writeInt32LE(CLIENT_AUTH.REQUEST, 68);
  return buf;
}

function highWater(o, key, what) {
  return optInt(o, key, what, 1, Number.MAX_SAFE_INTEGER);
}

/**
 * TCPOptions / TCPServerOptions -> w3s_tcp_options.
 * Returns { buf, keep, secure, highWaterSend }.
 */
function tcpOptions(options, what, server) {
  const o = optObject(options, what);
  const keep = [];
  const buf = Buffer.alloc(SIZES.tcp);
  if (api.tcp_options_init(buf) < 0) throw new Error('w3s_tcp_options_init failed');
  const localPort = optInt(o, 'localPort', what, 0, 65535);
  if (localPort !== undefined) buf.writeInt32LE(localPort, 4);
  setPtr(buf, 8, optString(o, 'localAddress', what), keep);
  const noDelay = optBool(o, 'noDelay', what);
  if (noDelay !== undefined) buf.writeInt32LE(noDelay ? 1 : 0, 16);
  // keepAliveDelay (ms, as in Direct Sockets): present and > 0 turns keep-alive on.
  const keepAlive = optBool(o, 'keepAlive', what);
  const kad = optInt(o, 'keepAliveDelay', what, 0, 0x7fffffff);
  if (keepAlive !== undefined) buf.writeInt32LE(keepAlive ? 1 : 0, 20);
  if (kad !== undefined) {
    if (keepAlive === undefined) buf.writeInt32LE(kad > 0 ? 1 : 0, 20);
    buf.writeInt32LE(kad, 24);
  }
  const ct = optInt(o, 'connectTimeout', what, 0, 0x7fffffff);
  if (ct !== undefined) buf.writeInt32LE(ct, 28);
  const sbs = optInt(o, 'sendBufferSize', what, 0, 0x7fffffff);
  if (sbs !== undefined) buf.writeInt32LE(sbs, 32);
  const rbs = optInt(o, 'receiveBufferSize', what, 0, 0x7fffffff);
  if (rbs !== undefined) buf.writeInt32LE(rbs, 36);
  const reuse = optBool(o, 'addressReuse', what);
  if (reuse !== undefined) buf.writeInt32LE(reuse ? 1 : 0, 40);
  const reusePort = optBool(o, 'reusePort', what);
  if (reusePort !== undefined) buf.writeInt32LE(reusePort ? 1 : 0, 44);
  if (server) {
    const backlog = optInt(o, 'backlog', what, 0, 0x7fffffff);
    if (backlog !== undefined) buf.writeInt32LE(backlog, 48);
  }
  const secure = optBool(o, 'useSecureTransport', what) || false;
  buf.writeInt32LE(secure ? 1 : 0, 52);
  const hws = highWater(o, 'sendHighWaterMark', what);
  if (hws !== undefined) buf.writeBigInt64LE(BigInt(hws), 56);
  const hwr = highWater(o, 'receiveHighWaterMark', what);
  if (hwr !== undefined) buf.writeBigInt64LE(BigInt(hwr), 64);
  if (o.tls !== undefined && o.tls !== null) {
    const t = tlsOptions(o.tls, keep, `${what}.tls`);
    keep.push(t);
    buf.writeBigUInt64LE(koffi.address(t), 72);
  }
  return { buf, keep, secure, highWaterSend: hws ?? native.DEFAULT_HIGH_WATER_SEND };
}

/** UDPOptions -> w3s_udp_options. Returns { buf, keep, highWaterSend }. */
function udpOptions(options, what) {
  const o = optObject(options, what);
  const keep = [];
  const buf = Buffer.alloc(SIZES.udp);
  if (api.udp_options_init(buf) < 0) throw new Error('w3s_udp_options_init failed');
  const localPort = optInt(o, 'localPort', what, 0, 65535);
  if (localPort !== undefined) buf.writeInt32LE(localPort, 4);
  setPtr(buf, 8, optString(o, 'localAddress', what), keep);
  const ra = optString(o, 'remoteAddress', what);
  const rp = optInt(o, 'remotePort', what, 1, 65535);
  if ((ra === undefined) !== (rp === undefined)) {
    throw typeError(`${what}.remoteAddress and ${what}.remotePort go together`);
  }
  if (ra !== undefined) {
    setPtr(buf, 16, ra, keep);
    buf.writeInt32LE(rp, 24);
  }
  const reuse = optBool(o, 'addressReuse', what);
  if (reuse !== undefined) buf.writeInt32LE(reuse ? 1 : 0, 28);
  const reusePort = optBool(o, 'reusePort', what);
  if (reusePort !== undefined) buf.writeInt32LE(reusePort ? 1 : 0, 32);
  const broadcast = optBool(o, 'broadcast', what);
  if (broadcast !== undefined) buf.writeInt32LE(broadcast ? 1 : 0, 36);
  const ttl = optInt(o, 'ttl', what, 0, 255);
  if (ttl !== undefined) buf.writeInt32LE(ttl, 40);
  const mttl = optInt(o, 'multicastTimeToLive', what, 0, 255);
  if (mttl !== undefined) buf.writeInt32LE(mttl, 44);
  const loop = optBool(o, 'loopback', what) ?? optBool(o, 'multicastLoopback', what);
  if (loop !== undefined) buf.writeInt32LE(loop ? 1 : 0, 48);
  const sbs = optInt(o, 'sendBufferSize', what, 0, 0x7fffffff);
  if (sbs !== undefined) buf.writeInt32LE(sbs, 52);
  const rbs = optInt(o, 'receiveBufferSize', what, 0, 0x7fffffff);
  if (rbs !== undefined) buf.writeInt32LE(rbs, 56);
  let mif = o.multicastInterface;
  if (typeof mif === 'number' && Number.isInteger(mif) && mif >= 0) mif = String(mif);
  if (mif !== undefined && mif !== null) {
    if (typeof mif !== 'string') throw typeError(`${what}.multicastInterface must be a string or an index`);
    setPtr(buf, 64, mif, keep);
  }
  const hws = highWater(o, 'sendHighWaterMark', what);
  if (hws !== undefined) buf.writeBigInt64LE(BigInt(hws), 72);
  const hwr = highWater(o, 'receiveHighWaterMark', what);
  if (hwr !== undefined) buf.writeBigInt64LE(BigInt(hwr), 80);
  return { buf, keep, highWaterSend: hws ?? native.DEFAULT_HIGH_WATER_SEND };
}

module.exports = { tcpOptions, udpOptions, tlsOptions, optObject, optString, optInt, optBool, typeError };
