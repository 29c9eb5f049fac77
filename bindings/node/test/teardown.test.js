'use strict';
// Tearing a runtime down with w3sock sockets open: a worker thread that is
// terminated, calls process.exit(), throws, or ends after closing its
// sockets, and a process that exits while sockets are open. Each case runs
// in a child process (fixtures/teardown-main.js) so that a hang is a
// timeout here, not a hung test runner. After each worker's 'exit' the
// library must hold nothing of it: no loop, no socket, no descriptor.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { runNode, makeCerts } = require('./helpers');

const MAIN = path.join(__dirname, 'fixtures', 'teardown-main.js');
const certs = makeCerts();
const CERT_ENV = JSON.stringify({ cert: certs.cert, key: certs.key, ca: certs.ca });

async function runScenario(args, env = {}) {
  const r = await runNode([MAIN, ...args], { timeout: 20000, env: { W3S_TEST_CERTS: CERT_ENV, ...env } });
  assert.equal(r.signal, null, `killed by ${r.signal}\n${r.stderr}`);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /\nEXIT 0\n$/);
  return r.stdout;
}

/**
 * Runs `rounds` workers torn down by `how`; every worker's exit code is
 * `code` and after each one the library has no loop and no socket left, and
 * the process as many descriptors as after the first (which also counts what
 * the first use of the library and of a worker keep for the process's life).
 */
async function checkRounds(how, rounds, code, env) {
  const out = await runScenario([how, String(rounds)], env);
  const lines = [...out.matchAll(/^ROUND (\d+) (-?\d+) (\{.*\})$/gm)];
  assert.equal(lines.length, rounds, out);
  const first = JSON.parse(lines[0][3]);
  for (const [, i, exitCode, json] of lines) {
    const stats = JSON.parse(json);
    assert.equal(Number(exitCode), code, `round ${i}: worker exit code`);
    assert.equal(stats.loops, 0, `round ${i}: the worker's loop is closed`);
    assert.equal(stats.sockets, 0, `round ${i}: the worker's sockets are closed`);
    assert.equal(stats.openFds, first.openFds, `round ${i}: descriptors back to the first round's`);
  }
}

test('worker.terminate() with TCP, UDP and TLS sockets open: exit fires, nothing left', { timeout: 30000 }, async () => {
  await checkRounds('terminate', 6, 1);
});

test('process.exit() inside a worker with sockets open', { timeout: 30000 }, async () => {
  await checkRounds('exit', 3, 3);
});

test('an uncaught exception inside a worker with sockets open', { timeout: 30000 }, async () => {
  await checkRounds('throw', 2, 1);
});

test('a worker that closed its sockets ends by itself and leaves no loop behind', { timeout: 30000 }, async () => {
  await checkRounds('close', 3, 0);
});

test('W3SOCK_WAKE=notify: worker.terminate() and process.exit() in a worker', { timeout: 30000 }, async () => {
  await checkRounds('terminate', 10, 1, { W3SOCK_WAKE: 'notify' });
  await checkRounds('exit', 2, 3, { W3SOCK_WAKE: 'notify' });
});

test('process.exit() while a worker has sockets open', { timeout: 30000 }, async () => {
  const out = await runScenario(['main-exit']);
  assert.match(out, /EXITING\n/);
});

test('process.exit() with sockets open on the main thread and in a worker', { timeout: 30000 }, async () => {
  for (const wake of ['fd', 'async']) {
    const out = await runScenario(['main-exit-open'], { W3SOCK_WAKE: wake });
    assert.match(out, /EXITING\n/);
  }
});
