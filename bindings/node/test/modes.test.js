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

test('W3SOCK_WAKE=async passes the TCP and UDP suites', { timeout: 120000 }, async () => {
  const env = { ...process.env, W3SOCK_WAKE: 'async' };
  delete env.NODE_TEST_CONTEXT;
  const r = await new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--test', '--test-reporter=tap',
      path.join(__dirname, 'tcp.test.js'), path.join(__dirname, 'udp.test.js')],
    { cwd: PKG, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    const t = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`timed out:\n${out}`)); }, 110000);
    child.on('exit', (code) => { clearTimeout(t); resolve({ code, out }); });
  });
  if (r.code !== 0) console.log(r.out);
  assert.equal(r.code, 0);
  assert.match(r.out, /# pass [1-9]\d*/);
  assert.match(r.out, /# fail 0/);
});
