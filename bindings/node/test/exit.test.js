'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const path = require('node:path');
const { runNode, withTimeout } = require('./helpers');

test('the process exits by itself once everything is closed', { timeout: 30000 }, async () => {
  const r = await runNode([path.join(__dirname, 'fixtures', 'echo-and-exit.js')], { timeout: 20000 });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'ECHO round trip\nEXIT 0\n');
});

test('an open socket keeps the process alive until it is closed', { timeout: 30000 }, async () => {
  let connected = null;
  const r = await runNode([path.join(__dirname, 'fixtures', 'stay-alive.js')], {
    timeout: 20000,
    onStdout: (out) => {
      const m = /PORT (\d+)/.exec(out);
      if (m && connected === null) {
        // Wait a moment of idleness first: nothing but the server is pending in the child.
        connected = new Promise((resolve) => setTimeout(() => {
          const c = net.connect(Number(m[1]), '127.0.0.1', () => c.write('bye'));
          c.on('close', resolve);
          c.on('error', resolve);
        }, 300));
      }
    },
  });
  assert.ok(connected, 'the child printed its port');
  await withTimeout(connected, 5000, 'client');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /PORT \d+\nGOT BYE\nEXIT 0\n/);
});
