'use strict';
// w3sock Node binding vs node:net on the same machine, in the same run:
// ping-pong round trips/s and bulk MB/s (client here, server in a child
// process), the cost of one koffi call into the library next to a koffi
// call into libc, and what a message costs outside the library (a koffi
// callback, an EventTarget dispatch, a WHATWG stream read and write).
// Prints figures and ratios; asserts nothing about speed.
const { spawn } = require('node:child_process');
const path = require('node:path');
const net = require('node:net');

const w3sock = require('../../../bindings/node');
const native = w3sock._native;
const koffi = native.koffi;

const ROUNDS = Number(process.env.BENCH_ROUNDS || 20000);
const BULK = Number(process.env.BENCH_BULK_MB || 512) * 1024 * 1024;
const CHUNK = 64 * 1024;

function startServer(impl, mode, bytes = 0) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(__dirname, 'server.js'), impl, mode, String(bytes)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    const t = setTimeout(() => { child.kill('SIGKILL'); reject(new Error('server did not start')); }, 10000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = /PORT (\d+)/.exec(out);
      if (m) { clearTimeout(t); resolve({ port: Number(m[1]), child }); }
    });
    child.on('error', reject);
  });
}

function waitExit(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null) { resolve(); return; }
    const t = setTimeout(() => { child.kill('SIGKILL'); }, 10000);
    child.on('exit', () => { clearTimeout(t); resolve(); });
  });
}

const msg = Buffer.alloc(64, 0x61);

async function pingpongNet(server = 'net') {
  const { port, child } = await startServer(server, 'echo');
  const sock = net.connect({ port, host: '127.0.0.1', noDelay: true });
  await new Promise((r) => sock.once('connect', r));
  const t0 = process.hrtime.bigint();
  await new Promise((resolve) => {
    let n = 0;
    let got = 0;
    sock.on('data', (d) => {
      got += d.length;
      while (got >= 64) {
        got -= 64;
        if (++n === ROUNDS) { resolve(); return; }
        sock.write(msg);
      }
    });
    sock.write(msg);
  });
  const dt = Number(process.hrtime.bigint() - t0) / 1e9;
  sock.destroy();
  await waitExit(child);
  return ROUNDS / dt;
}

async function pingpongW3sock(streams, server = streams ? 'w3sock-streams' : 'w3sock') {
  const { port, child } = await startServer(server, 'echo');
  const sock = new w3sock.TCPSocket('127.0.0.1', port);
  await sock.opened;
  const t0 = process.hrtime.bigint();
  if (!streams) {
    await new Promise((resolve) => {
      let n = 0;
      let got = 0;
      sock.onmessage = (ev) => {
        got += ev.data.length;
        while (got >= 64) {
          got -= 64;
          if (++n === ROUNDS) { resolve(); return; }
          sock.send(msg);
        }
      };
      sock.send(msg);
    });
  } else {
    const reader = sock.readable.getReader();
    const writer = sock.writable.getWriter();
    let n = 0;
    let got = 0;
    writer.write(msg);
    while (n < ROUNDS) {
      const { value } = await reader.read();
      got += value.byteLength;
      while (got >= 64 && n < ROUNDS) {
        got -= 64;
        if (++n < ROUNDS) writer.write(msg);
      }
    }
    reader.releaseLock();
    writer.releaseLock();
  }
  const dt = Number(process.hrtime.bigint() - t0) / 1e9;
  sock.close();
  await sock.closed;
  await waitExit(child);
  return ROUNDS / dt;
}

async function bulkNet() {
  const { port, child } = await startServer('net', 'sink', BULK);
  const sock = net.connect({ port, host: '127.0.0.1' });
  await new Promise((r) => sock.once('connect', r));
  const chunk = Buffer.alloc(CHUNK, 1);
  const done = new Promise((r) => sock.once('data', r));
  const t0 = process.hrtime.bigint();
  let sent = 0;
  await new Promise((resolve) => {
    const pump = () => {
      while (sent < BULK) {
        sent += CHUNK;
        if (!sock.write(chunk)) { sock.once('drain', pump); return; }
      }
      resolve();
    };
    pump();
  });
  await done;
  const dt = Number(process.hrtime.bigint() - t0) / 1e9;
  sock.destroy();
  await waitExit(child);
  return BULK / 1e6 / dt;
}

async function bulkW3sock(streams) {
  const { port, child } = await startServer(streams ? 'w3sock-streams' : 'w3sock', 'sink', BULK);
  const sock = new w3sock.TCPSocket('127.0.0.1', port);
  await sock.opened;
  const chunk = Buffer.alloc(CHUNK, 1);
  const done = new Promise((r) => { sock.onmessage = r; });
  const t0 = process.hrtime.bigint();
  if (streams) {
    const writer = sock.writable.getWriter();
    for (let sent = 0; sent < BULK; sent += CHUNK) {
      await writer.ready;
      writer.write(chunk);
    }
    writer.releaseLock();
  } else {
    let sent = 0;
    await new Promise((resolve) => {
      const pump = () => {
        while (sent < BULK) {
          sent += CHUNK;
          if (!sock.send(chunk)) { sock.addEventListener('drain', pump, { once: true }); return; }
        }
        resolve();
      };
      pump();
    });
  }
  await done;
  const dt = Number(process.hrtime.bigint() - t0) / 1e9;
  sock.close();
  await sock.closed;
  await waitExit(child);
  return BULK / 1e6 / dt;
}

function callCost() {
  const libc = koffi.load('libc.so.6');
  const abs = libc.func('int abs(int)');
  const api = native.api;
  const loop = require('../../../bindings/node/lib/loop').getLoop();
  const buf = Buffer.alloc(104 * 16);
  const ptr = koffi.address(buf);
  const time = (fn, n) => {
    for (let i = 0; i < 1000; i++) fn();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) fn();
    return Number(process.hrtime.bigint() - t0) / 1e3 / n;
  };
  // Keep the count modest: a regression (the slow stack-bounds path) costs ~150 µs a call.
  const probe = time(() => api.version(), 200);
  const n = probe > 20 ? 2000 : 200000;
  return {
    libc: time(() => abs(-5), 200000),
    version: time(() => api.version(), n),
    poll: time(() => api.loop_poll(loop.handle, ptr, 16, 0), n),
  };
}

/**
 * What a message costs in JavaScript and at the koffi boundary, outside
 * the library: a koffi callback (libc qsort calling a JS comparator, as
 * libuv calls our uv_poll callback), an EventTarget dispatch next to an
 * EventEmitter emit, and a WHATWG stream read and write with no I/O.
 */
async function crossingCosts() {
  const libc = koffi.load('libc.so.6');
  const Cmp = koffi.proto('int w3s_bench_cmp(const void *a, const void *b)');
  const qsort = libc.func('void qsort(_Inout_ uint8_t *base, size_t n, size_t sz, w3s_bench_cmp *cmp)');
  const arr = Buffer.alloc(50000);
  for (let i = 0; i < arr.length; i++) arr[i] = (i * 7919) & 255;
  let calls = 0;
  const cb = koffi.register(() => { calls++; return 0; }, koffi.pointer(Cmp));
  let t0 = process.hrtime.bigint();
  qsort(arr, arr.length, 1, cb);
  const callback = Number(process.hrtime.bigint() - t0) / calls;
  koffi.unregister(cb);

  const { SocketMessageEvent } = require('../../../bindings/node/lib/base');
  const N = 200000;
  const data = Buffer.alloc(64);
  let sum = 0;
  const et = new EventTarget();
  et.addEventListener('message', (ev) => { sum += ev.data.length; });
  t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) et.dispatchEvent(new SocketMessageEvent('message', { data }));
  const dispatch = Number(process.hrtime.bigint() - t0) / N;
  const ee = new (require('node:events'))();
  ee.on('data', (d) => { sum += d.length; });
  t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) ee.emit('data', data);
  const emit = Number(process.hrtime.bigint() - t0) / N;

  let ctrl;
  const reader = new ReadableStream({ start(c) { ctrl = c; } }, { highWaterMark: 0 }).getReader();
  t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) { const p = reader.read(); ctrl.enqueue(data); await p; }
  const read = Number(process.hrtime.bigint() - t0) / N;
  const writer = new WritableStream({ write() {} }, { highWaterMark: 1 }).getWriter();
  t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) { await writer.ready; writer.write(data); }
  const write = Number(process.hrtime.bigint() - t0) / N;
  return { callback, dispatch, emit, read, write, sum };
}

const REPEAT = Math.max(1, Number(process.env.BENCH_REPEAT || 3));

function median(xs) {
  const v = [...xs].sort((a, b) => a - b);
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/**
 * Runs the kinds interleaved REPEAT times (so a noisy neighbour hits all
 * of them alike) and prints each kind's median with its ratio to the
 * first kind's median, plus the ratio of each round.
 */
async function compare(title, unit, kinds) {
  const runs = kinds.map(() => []);
  for (let r = 0; r < REPEAT; r++) {
    for (let k = 0; k < kinds.length; k++) runs[k].push(await kinds[k][1]());
  }
  console.log(`${title} (median of ${REPEAT} interleaved runs; both ends of the kind unless named):`);
  const base = median(runs[0]);
  kinds.forEach(([name], k) => {
    const m = median(runs[k]);
    const ratio = k === 0 ? '' : `  ratio ${(m / base).toFixed(2)} (rounds: ${
      runs[k].map((v, i) => (v / runs[0][i]).toFixed(2)).join(' ')})`;
    console.log(`  ${name.padEnd(24)} ${m.toFixed(0)} ${unit}${ratio}`);
  });
}

(async () => {
  console.log(`w3sock ${w3sock.version()} (${w3sock.libraryPath}), node ${process.version}`);
  const c = callCost();
  console.log(`koffi call: libc abs ${c.libc.toFixed(3)} us | w3s_version ${c.version.toFixed(3)} us | ` +
    `w3s_loop_poll (empty) ${c.poll.toFixed(3)} us | export/libc ratio ${(c.version / c.libc).toFixed(1)}x`);
  const x = await crossingCosts();
  console.log(`per message outside the library: koffi callback ${(x.callback / 1000).toFixed(2)} us | ` +
    `EventTarget dispatch ${(x.dispatch / 1000).toFixed(2)} us (EventEmitter emit ${(x.emit / 1000).toFixed(2)} us) | ` +
    `WHATWG read ${(x.read / 1000).toFixed(2)} us, write ${(x.write / 1000).toFixed(2)} us`);
  await compare(`ping-pong (64 B, ${ROUNDS} round trips, server in a child process)`, 'round trips/s', [
    ['node:net', pingpongNet],
    ['w3sock events', () => pingpongW3sock(false)],
    ['w3sock streams', () => pingpongW3sock(true)],
    // One side each, so the ratio shows what one end costs.
    ['w3sock events client', () => pingpongW3sock(false, 'net')],
    ['w3sock events server', () => pingpongNet('w3sock')],
  ]);
  await compare(`bulk (${BULK / 1048576} MiB in 64 KiB writes, client -> child)`, 'MB/s', [
    ['node:net', bulkNet],
    ['w3sock events', () => bulkW3sock(false)],
    ['w3sock streams', () => bulkW3sock(true)],
  ]);
})().catch((e) => { console.error(e); process.exitCode = 1; });
