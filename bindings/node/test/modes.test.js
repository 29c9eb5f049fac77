'use strict';
// The other wake-up path: a blocking w3s_loop_poll as a koffi async call,
// used by worker threads (their libuv loop is not the default one) and
// forced with W3SOCK_WAKE=async.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { runNode, PKG } = require('./helpers');

test('sockets inside a worker thread; the process exits by itself afterwards', { timeout: 30000 }, async () => {
  const fixture = path.join(__dirname, 'fixtures', 'echo-and-exit.js');
  const script = `
    const { Worker } = require('node:worker_threads');
    const w = new Worker(${JSON.stringify(fixture)});
    w.on('exit', (code) => console.log('WORKER EXIT ' + code));`;
  const r = await runNode(['-e', script], { timeout: 20000 });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /ECHO round trip\n/);
  assert.match(r.stdout, /WORKER EXIT 0\n/);
});

function runSuites(extraEnv, files) {
  const env = { ...process.env, ...extraEnv };
  delete env.NODE_TEST_CONTEXT;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--test', '--test-reporter=tap',
      ...files.map((f) => path.join(__dirname, f))],
    { cwd: PKG, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    const t = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`timed out:\n${out}`)); }, 110000);
    child.on('exit', (code) => { clearTimeout(t); resolve({ code, out }); });
  });
}

// W3SOCK_WAKE=notify: the library's notify callback (one koffi callback per
// batch, sockets read by library threads); not a default anywhere, but it
// must work.
for (const wake of ['async', 'notify']) {
  test(`W3SOCK_WAKE=${wake} passes the TCP and UDP suites`, { timeout: 120000 }, async () => {
    const r = await runSuites({ W3SOCK_WAKE: wake }, ['tcp.test.js', 'udp.test.js']);
    if (r.code !== 0) console.log(r.out);
    assert.equal(r.code, 0);
    assert.match(r.out, /# pass [1-9]\d*/);
    assert.match(r.out, /# fail 0/);
  });
}

// The main thread normally drains inside the uv_poll callback and then runs
// the tick and microtask queues itself; the setImmediate drain stays as the
// fallback (--pending-deprecation) and must keep passing too.
test('W3SOCK_DRAIN=immediate passes the TCP suite', { timeout: 120000 }, async () => {
  const r = await runSuites({ W3SOCK_DRAIN: 'immediate' }, ['tcp.test.js']);
  if (r.code !== 0) console.log(r.out);
  assert.equal(r.code, 0);
  assert.match(r.out, /# pass [1-9]\d*/);
  assert.match(r.out, /# fail 0/);
});
