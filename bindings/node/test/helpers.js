'use strict';
// Shared helpers for the node --test suite. Every wait has a timeout.

const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync, spawn } = require('node:child_process');

const PKG = path.resolve(__dirname, '..');
const REPO = path.resolve(PKG, '..', '..');

/** Rejects with a clear message if p does not settle within ms. */
function withTimeout(p, ms, what) {
  let t;
  const timeout = new Promise((_, reject) => {
    t = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(t));
}

/** Reads a ReadableStream of Uint8Array to the end; returns a Buffer. */
async function readAll(readable, ms = 20000) {
  const reader = readable.getReader();
  const chunks = [];
  const work = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      chunks.push(value);
    }
    reader.releaseLock();
    return Buffer.concat(chunks);
  })();
  return withTimeout(work, ms, 'readAll');
}

/** Reads exactly n bytes (or until the end) from a reader. */
async function readN(reader, n, ms = 10000) {
  const chunks = [];
  let got = 0;
  const work = (async () => {
    while (got < n) {
      const { value, done } = await reader.read();
      if (done) break;
      chunks.push(value);
      got += value.byteLength;
    }
    return Buffer.concat(chunks);
  })();
  return withTimeout(work, ms, `readN(${n})`);
}

function sha256(buf) {
  return crypto.createHash('sha256').update(buf).digest('hex');
}

/** A throwaway CA and a localhost server certificate made by openssl. */
let certCache = null;
function makeCerts() {
  if (certCache) return certCache;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'w3sock-node-certs-'));
  const run = (args) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=w3sock test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  const leaf = (name, cn, san) => {
    run(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
      '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`]);
    fs.writeFileSync(path.join(dir, `${name}.ext`),
      `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n`);
    run(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
      '-out', `${name}.pem`, '-days', '1', '-extfile', `${name}.ext`]);
  };
  leaf('server', 'localhost', 'DNS:localhost,IP:127.0.0.1');
  leaf('client', 'w3sock client', 'DNS:client.test');
  // A self-signed certificate nobody trusts.
  run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', 'rogue.key', '-out', 'rogue.pem', '-days', '1', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1']);
  const read = (f) => fs.readFileSync(path.join(dir, f), 'utf8');
  certCache = {
    dir,
    ca: read('ca.pem'),
    cert: read('server.pem'),
    key: read('server.key'),
    clientCert: read('client.pem'),
    clientKey: read('client.key'),
    rogueCert: read('rogue.pem'),
    rogueKey: read('rogue.key'),
  };
  return certCache;
}

/** Runs a node script (file) as a child; resolves {code, signal, stdout, stderr}. */
function runNode(args, { timeout = 30000, env = {}, cwd = PKG, onStdout } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; if (onStdout) onStdout(stdout, child); });
    child.stderr.on('data', (d) => { stderr += d; });
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`child timed out after ${timeout} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeout);
    child.on('error', (e) => { clearTimeout(t); reject(e); });
    child.on('exit', (code, signal) => {
      clearTimeout(t);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** A TCP port nobody listens on (bound then released by the kernel). */
function freePort() {
  const net = require('node:net');
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Expects promise p to reject with a DOMException named name (and native code if given). */
async function rejectsWith(p, name, code) {
  let err;
  try {
    await withTimeout(p, 15000, `expected ${name}`);
  } catch (e) {
    err = e;
  }
  if (err === undefined) throw new Error(`expected a rejection with ${name}, got a fulfilment`);
  checkError(err, name, code);
  return err;
}

function throwsWith(fn, name, code) {
  let err;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  if (err === undefined) throw new Error(`expected ${name} to be thrown`);
  checkError(err, name, code);
  return err;
}

function checkError(err, name, code) {
  if (name === 'TypeError') {
    if (!(err instanceof TypeError)) throw new Error(`expected TypeError, got ${err && err.name}: ${err && err.message}`);
    return;
  }
  if (!(err instanceof DOMException)) throw new Error(`expected DOMException ${name}, got ${err && err.name}: ${err && err.message}`);
  if (err.name !== name) throw new Error(`expected ${name}, got ${err.name} (${err.code}): ${err.message}`);
  if (code !== undefined) {
    const codes = Array.isArray(code) ? code : [code];
    if (!codes.includes(err.code)) throw new Error(`expected code ${codes.join('|')}, got ${err.code}: ${err.message}`);
  }
}

const inNetns = process.env.W3S_IN_NETNS === '1';

/** The environment for a child node --test run (not a subtest of ours). */
function childEnv() {
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  return env;
}

/** Runs `node --test file` inside tests/netns.sh (a fresh network namespace). */
function runInNetns(file, timeout = 90000) {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [path.join(REPO, 'tests', 'netns.sh'), process.execPath, '--test',
      '--test-reporter=tap', file], { cwd: PKG, env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    const t = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`netns run timed out:\n${out}`)); }, timeout);
    child.on('exit', (code) => { clearTimeout(t); resolve({ code, out }); });
  });
}

module.exports = {
  PKG, REPO, withTimeout, readAll, readN, sha256, makeCerts, runNode, freePort,
  rejectsWith, throwsWith, checkError, inNetns, runInNetns,
};
