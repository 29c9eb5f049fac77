'use strict';
// Loads libw3sock with koffi and declares the C ABI of include/w3sock.h.
// Structs are laid out by hand in Buffers (offsets checked against the header
// by test/layout.test.js), so the hot path never goes through koffi's struct
// encoder.

const fs = require('node:fs');
const path = require('node:path');

const PKG_DIR = path.resolve(__dirname, '..');

// The platforms the npm package carries a library for, in native/<key>/
// (packaging/npm-pack.sh puts them there; package.json's os/cpu say the same).
const SUPPORTED = ['linux-x64', 'linux-arm64'];
const PLATFORM = `${process.platform}-${process.arch}`;

function candidates() {
  const list = [];
  if (process.env.W3SOCK_LIBRARY) list.push(['W3SOCK_LIBRARY', process.env.W3SOCK_LIBRARY]);
  // a development build (`make lib` copies it here) wins over the packaged ones
  list.push(['package', path.join(PKG_DIR, 'libw3sock.so')]);
  if (SUPPORTED.includes(PLATFORM)) {
    list.push([`package, ${PLATFORM}`, path.join(PKG_DIR, 'native', PLATFORM, 'libw3sock.so')]);
  }
  list.push(['repository build/', path.resolve(PKG_DIR, '..', '..', 'build', 'libw3sock.so')]);
  return list;
}

function findLibrary() {
  const tried = [];
  for (const [where, file] of candidates()) {
    if (where === 'W3SOCK_LIBRARY') {
      // An explicit choice is never silently skipped.
      if (!fs.existsSync(file)) {
        throw new Error(`w3sock: W3SOCK_LIBRARY points at ${file}, which does not exist`);
      }
      return file;
    }
    if (fs.existsSync(file)) return file;
    tried.push(`${file} (${where})`);
  }
  if (!SUPPORTED.includes(PLATFORM)) {
    throw new Error(`w3sock: no native library for ${PLATFORM}; the package supports ` +
      `${SUPPORTED.join(' and ')} (glibc 2.17 or newer). Elsewhere build libw3sock.so ` +
      'from source (`make lib`, needs Go) and set W3SOCK_LIBRARY to it.');
  }
  throw new Error('w3sock: libw3sock.so not found; tried ' + tried.join(', ') +
    '. Set W3SOCK_LIBRARY or build it with `make lib`.');
}

function loadLibrary(file) {
  try {
    return koffi.load(file);
  } catch (err) {
    // The packaged libraries link against glibc; on musl (Alpine) the loader's
    // own message names a missing symbol, so say what is really wrong.
    const glibc = process.report && process.report.getReport().header.glibcVersionRuntime;
    if (process.platform === 'linux' && !glibc) {
      throw new Error(`w3sock: cannot load ${file}: this Linux has no glibc (musl?); the ` +
        `package's libraries need glibc 2.17 or newer (${err.message})`);
    }
    throw err;
  }
}

// Found before koffi loads: on a platform w3sock has no library for, its
// error (naming what is supported) comes first, not koffi's own.
const libraryPath = findLibrary();
const koffi = require('koffi');
const lib = loadLibrary(libraryPath);

const NotifyCb = koffi.proto('void w3s_notify_cb(void *user)');

const f = (sig) => lib.func(sig);
const api = {
  version: f('uint32_t w3s_version(void)'),
  version_string: f('const char *w3s_version_string(void)'),
  strerror: f('const char *w3s_strerror(int code)'),
  err_name: f('const char *w3s_err_name(int code)'),
  last_error_message: f('const char *w3s_last_error_message(void)'),
  shutdown: f('int w3s_shutdown(void)'),
  stats: f('int w3s_stats(void *out)'),
  loop_new_sized: f('int64_t w3s_loop_new_sized(size_t event_size)'),
  loop_close: f('int w3s_loop_close(int64_t loop)'),
  loop_fd: f('int w3s_loop_fd(int64_t loop)'),
  loop_poll: f('int w3s_loop_poll(int64_t loop, void *events, int max, int timeout_ms)'),
  loop_poll_into: f('int w3s_loop_poll_into(int64_t loop, void *events, int max, int timeout_ms, uintptr_t buf, size_t cap)'),
  loop_wake: f('int w3s_loop_wake(int64_t loop)'),
  loop_set_notify: f('int w3s_loop_set_notify(int64_t loop, w3s_notify_cb *fn, void *user)'),
  tls_options_init: f('int w3s_tls_options_init(void *o)'),
  tcp_options_init: f('int w3s_tcp_options_init(void *o)'),
  udp_options_init: f('int w3s_udp_options_init(void *o)'),
  tcp_connect: f('int64_t w3s_tcp_connect(int64_t loop, const char *host, int port, void *opts, uint64_t user_data)'),
  tcp_listen: f('int64_t w3s_tcp_listen(int64_t loop, void *opts, uint64_t user_data)'),
  udp_open: f('int64_t w3s_udp_open(int64_t loop, void *opts, uint64_t user_data)'),
  set_user_data: f('int w3s_set_user_data(int64_t h, uint64_t user_data)'),
  send: f('int64_t w3s_send(int64_t h, const void *data, size_t len)'),
  send_to: f('int64_t w3s_send_to(int64_t h, const void *data, size_t len, const char *address, int port)'),
  send_file: f('int64_t w3s_send_file(int64_t h, const char *path, int64_t offset, int64_t len)'),
  pause: f('int w3s_pause(int64_t h)'),
  resume: f('int w3s_resume(int64_t h)'),
  half_close: f('int w3s_half_close(int64_t h)'),
  close: f('int w3s_close(int64_t h)'),
  abort: f('int w3s_abort(int64_t h)'),
  start_tls: f('int w3s_start_tls(int64_t h, void *opts)'),
  start_tls_with: f('int w3s_start_tls_with(int64_t h, void *opts, const void *unread, size_t len)'),
  udp_set_peer: f('int w3s_udp_set_peer(int64_t h, const char *address, int port)'),
  join_group: f('int w3s_join_group(int64_t h, const char *group, const char *iface)'),
  leave_group: f('int w3s_leave_group(int64_t h, const char *group, const char *iface)'),
  join_source_group: f('int w3s_join_source_group(int64_t h, const char *source, const char *group, const char *iface)'),
  leave_source_group: f('int w3s_leave_source_group(int64_t h, const char *source, const char *group, const char *iface)'),
  get_joined_groups_sized: f('int w3s_get_joined_groups_sized(int64_t h, void *out, int max, size_t elem_size)'),
  set_option: f('int w3s_set_option(int64_t h, int opt, int64_t value)'),
  get_option: f('int w3s_get_option(int64_t h, int opt, void *value)'),
  get_info: f('int w3s_get_info(int64_t h, void *info)'),
  network_list_sized: f('int w3s_network_list_sized(void *out, int max, size_t elem_size)'),
};
// The library writes exactly our element sizes into the arrays it fills
// (include/w3sock.h, "sized" calls); these keep the call sites short.
api.loop_new = () => api.loop_new_sized(EVENT_SIZE);
api.get_joined_groups = (h, out, max) => api.get_joined_groups_sized(h, out, max, SIZES.group);
api.network_list = (out, max) => api.network_list_sized(out, max, SIZES.iface);

// libc, for copying event payloads out of library memory in one call.
const libc = koffi.load('libc.so.6');
const memcpy = libc.func('void *memcpy(void *dst, uintptr_t src, size_t n)');

// ---------------------------------------------------------------- constants
const EV = Object.freeze({
  OPEN: 1, DATA: 2, MESSAGE: 3, CONNECTION: 4, DRAIN: 5, END: 6, SECURE: 7, ERROR: 8, CLOSE: 9,
});
const EVENT_SIZE = 104;
const EVENT_OFF = Object.freeze({
  handle: 0, user_data: 8, type: 16, error: 20, data: 24, len: 32, accepted: 40,
  port: 48, family: 50, address: 56, addressLen: 48,
});

/** The event's payload length (a uint64 that fits in a double). */
function eventLen(buf, off) {
  return buf.readUInt32LE(off + EVENT_OFF.len) + buf.readUInt32LE(off + EVENT_OFF.len + 4) * 0x100000000;
}

// The error codes by name without the W3S_ prefix (ERR.EABORTED === -23),
// read from the library itself: core/errors.go is their one source, and
// tests/abi/check_tables.py checks the header against it.
const CODE_SPAN = 128; // codes are -1 .. -127
const ERR = (() => {
  const out = {};
  for (let code = -1; code > -CODE_SPAN; code--) {
    const name = api.err_name(code);
    if (name && name !== 'W3S_UNKNOWN') out[name.slice(4)] = code;
  }
  return Object.freeze(out);
})();

const SIZES = Object.freeze({
  tls: 72, tcp: 80, udp: 88, info: 1232, stats: 48, group: 104, iface: 128,
});

const OPT = Object.freeze({
  NO_DELAY: 1, KEEP_ALIVE: 2, KEEP_ALIVE_DELAY_MS: 3, SEND_BUFFER_SIZE: 4,
  RECEIVE_BUFFER_SIZE: 5, TTL: 6, MULTICAST_TTL: 7, MULTICAST_LOOPBACK: 8,
  BROADCAST: 9, HIGH_WATER_SEND: 10, HIGH_WATER_RECEIVE: 11, ADDRESS_REUSE: 12,
  REUSE_PORT: 13, MULTICAST_INTERFACE: 14,
});

const KIND = Object.freeze({ TCP: 1, TCP_SERVER: 2, UDP: 3 });
const READY_STATES = Object.freeze(['opening', 'open', 'closing', 'closed', 'halfclosed']);
const CLIENT_AUTH = Object.freeze({ NONE: 0, REQUEST: 1, REQUIRE: 2 });
const DEFAULT_HIGH_WATER_SEND = 1024 * 1024;

// ------------------------------------------------------------------ helpers
/** A NUL-terminated UTF-8 copy of s in its own (unpooled) Buffer. */
function cstr(s) {
  const n = Buffer.byteLength(s);
  const b = Buffer.alloc(n + 1);
  b.write(s, 0, n, 'utf8');
  return b;
}

/** Reads a NUL-terminated string from a fixed char[] field of buf. */
function fixedString(buf, off, size) {
  let end = buf.indexOf(0, off);
  if (end < 0 || end > off + size) end = off + size;
  return buf.toString('utf8', off, end);
}

/** A handle read from 8 bytes of memory: a Number when safe, else a BigInt. */
function readHandle(buf, off) {
  const lo = buf.readUInt32LE(off);
  const hi = buf.readInt32LE(off + 4);
  if (hi >= 0 && hi < 0x200000) return hi * 0x100000000 + lo;
  return buf.readBigInt64LE(off);
}

/** Normalizes a handle returned by koffi (Number or BigInt) to readHandle's form. */
function normHandle(h) {
  if (typeof h === 'bigint' && h >= -9007199254740991n && h <= 9007199254740991n) return Number(h);
  return h;
}

function isNeg(v) {
  return typeof v === 'bigint' ? v < 0n : v < 0;
}

function copyOut(ptr, len) {
  const b = Buffer.allocUnsafeSlow(len);
  if (len > 0) memcpy(b, ptr, len);
  return b;
}

// ------------------------------------------------------------- payloads
// Event payloads live in library memory (valid until the next poll). We
// copy them out through one external view of that memory instead of a
// koffi memcpy call per event (~3 us for a small payload against ~0.3 us):
// the view starts at the first payload of a batch and is made again only
// when that address moves (the library keeps one arena per loop, so rarely;
// making a view costs ~13 us). Only each event's own [data, data + len) is
// ever read; an event outside the view falls back to memcpy.
const SMALL_PAYLOAD = 4096; // below this, copies come from Buffer's pool
const MAX_VIEW = 256 * 1024 * 1024; // a larger span is not one arena: no view
let viewBase = -1;
let viewLen = 0;
let view = null;
let batchBuf = null;
let batchN = 0;

function ptrAt(buf, off) {
  return buf.readUInt32LE(off + 4) * 0x100000000 + buf.readUInt32LE(off);
}

/** A new batch of n events in buf (the poll buffer): views are checked lazily. */
function newBatch(buf, n) {
  batchBuf = buf;
  batchN = n;
}

function mapBatch() {
  const buf = batchBuf;
  const n = batchN;
  batchN = 0;
  // The view covers library memory only: payloads in the slab (see below)
  // are read from there.
  const inSlab = (p) => slab !== null && p >= slabAddr && p < slabAddr + SLAB_SIZE;
  let base = 0;
  let end = 0;
  for (let i = 0, off = 0; i < n; i++, off += EVENT_SIZE) {
    const p = ptrAt(buf, off + EVENT_OFF.data);
    const len = eventLen(buf, off);
    if (p === 0 || len === 0 || inSlab(p)) continue;
    if (base === 0) base = end = p;
    if (p >= base && p + len > end) end = p + len;
  }
  // Payloads of one poll share one arena; anything else is copied singly.
  if (base === 0 || end - base > MAX_VIEW) return;
  if (view !== null && base === viewBase && end - base <= viewLen) return;
  const len = Math.max(end - base, base === viewBase ? viewLen : 0, 1);
  try {
    view = Buffer.from(koffi.view(BigInt(base), len));
    viewBase = base;
    viewLen = len;
  } catch {
    view = null; // a runtime without external buffers: memcpy it is
    viewBase = -1;
    viewLen = 0;
  }
}

// ------------------------------------------------------------- the slab
// w3s_loop_poll_into reads socket data straight into memory we own: a
// slab that successive polls fill from the front. A large payload is
// handed to JavaScript as a view of the slab (no copy, as node:net hands
// out the buffer it read into); a small one is copied out, so a retained
// small message never pins the slab. The slab is replaced once too little
// of it is left for another read.
const SLAB_SIZE = 256 * 1024;
const SLAB_MIN = 16 * 1024 + 1; // the library reads into the slab while this much is left
const VIEW_MIN = 8 * 1024; // payloads at least this large become views
let slab = null;
let slabAddr = 0;
let slabOff = 0; // [0, slabOff) belongs to views already handed out

/** Polls loop into events (max, no wait) with the free part of the slab. */
function pollIntoSlab(loop, events, max) {
  if (slab === null || SLAB_SIZE - slabOff < SLAB_MIN) {
    slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
    slabAddr = Number(koffi.address(slab));
    slabOff = 0;
  }
  return api.loop_poll_into(loop, events, max, 0, slabAddr + slabOff, SLAB_SIZE - slabOff);
}

/**
 * The payload of the event at off in buf: a view of the slab or a copy.
 * own: a copy that owns its whole ArrayBuffer (for a byte stream, which
 * transfers the buffer of what it is given), leaving the slab reusable.
 */
function payload(buf, off, own = false) {
  const len = eventLen(buf, off);
  if (len === 0) return Buffer.alloc(0);
  const at = ptrAt(buf, off + EVENT_OFF.data) - slabAddr;
  if (slab !== null && at >= slabOff && at + len <= SLAB_SIZE) {
    if (len >= VIEW_MIN && !own) {
      slabOff = at + len + 1;
      return slab.subarray(at, at + len);
    }
    const out = own ? Buffer.allocUnsafeSlow(len) : Buffer.allocUnsafe(len);
    slab.copy(out, 0, at, at + len);
    return out;
  }
  if (batchN > 0 && buf === batchBuf) mapBatch();
  const s = ptrAt(buf, off + EVENT_OFF.data) - viewBase;
  if (view === null || s < 0 || s + len > viewLen) return copyOut(buf.readBigUInt64LE(off + EVENT_OFF.data), len);
  const out = len < SMALL_PAYLOAD && !own ? Buffer.allocUnsafe(len) : Buffer.allocUnsafeSlow(len);
  view.copy(out, 0, s, s + len);
  return out;
}

// Buffers whose raw addresses sit inside an option struct are invisible to
// the GC: hold them in a place it sees until the native call returned.
let held = null;
function hold(v) {
  held = v;
}

function stats() {
  const b = Buffer.alloc(SIZES.stats);
  b.writeUInt32LE(SIZES.stats, 0);
  const rc = api.stats(b);
  if (rc < 0) return null;
  const n = (o) => Number(b.readBigInt64LE(o));
  return {
    loops: n(8), sockets: n(16), goroutines: n(24), openFds: n(32), eventsQueued: n(40),
  };
}

module.exports = {
  koffi, lib, api, libraryPath, NotifyCb, memcpy, copyOut, payload, newBatch, pollIntoSlab,
  EV, ERR, EVENT_SIZE, EVENT_OFF, SIZES, OPT, KIND, READY_STATES, CLIENT_AUTH,
  DEFAULT_HIGH_WATER_SEND,
  cstr, fixedString, readHandle, normHandle, isNeg, stats, hold,
  get held() { return held; },
};
