'use strict';
// Multicast never touches the machine's interfaces: outside a namespace this
// file re-runs itself under tests/netns.sh (a fresh network namespace with
// lo carrying 224.0.0.0/4 and a veth pair for IPv6) and checks the result.
const test = require('node:test');
const { after } = require('node:test');
const assert = require('node:assert/strict');
const { inNetns, runInNetns, withTimeout, rejectsWith } = require('./helpers');

if (!inNetns) {
  test('multicast suite inside its own network namespace', { timeout: 120000 }, async () => {
    const r = await runInNetns(__filename, 110000);
    if (r.code !== 0) console.log(r.out);
    assert.equal(r.code, 0, 'the multicast suite failed inside the namespace (output above)');
    assert.match(r.out, /# pass [1-9]/);
    assert.match(r.out, /# fail 0/);
  });
} else {
  const { UDPSocket, TCPSocket, networkInterfaces } = require('..');

  async function next(reader, what) {
    const { value, done } = await withTimeout(reader.read(), 5000, what);
    assert.equal(done, false, what);
    return value;
  }

  test('IPv4: join, receive on the group, leave stops delivery; joinedGroups', { timeout: 30000 }, async () => {
    const group = '239.1.2.3';
    const marker = '239.1.2.9';
    const rx = new UDPSocket({ localAddress: '0.0.0.0', localPort: 0 });
    await rx.opened;
    const port = rx.localPort;
    rx.joinMulticast(group);
    assert.deepEqual(rx.joinedGroups.map((g) => g.group), [group]);
    // A second socket on the same port that joined nothing hears no group traffic.
    const other = new UDPSocket({ localAddress: '0.0.0.0', localPort: port });
    await other.opened;
    let otherGot = 0;
    other.onmessage = () => { otherGot++; };
    const tx = new UDPSocket({ localAddress: '127.0.0.1', loopback: true, multicastTimeToLive: 1 });
    await tx.opened;
    assert.equal(tx.getOption('multicastLoopback'), true);
    const reader = rx.readable.getReader();
    tx.send('m1', group, port);
    const m1 = await next(reader, 'first multicast datagram');
    assert.equal(Buffer.from(m1.data).toString(), 'm1');
    assert.equal(m1.remoteAddress, '127.0.0.1');
    assert.equal(m1.remotePort, tx.localPort);
    // Joining twice is an error; after leaving, nothing more arrives from the group.
    assert.throws(() => rx.joinMulticast(group), (e) => e.name === 'InvalidAccessError' && e.code === 'W3S_EALREADY');
    rx.leaveMulticast(group);
    rx.joinMulticast(marker);
    assert.deepEqual(rx.joinedGroups.map((g) => g.group), [marker]);
    tx.send('m2', group, port);
    tx.send('marker', marker, port); // sent after m2 on the same path
    const m = await next(reader, 'marker');
    assert.equal(Buffer.from(m.data).toString(), 'marker', 'no datagram of a group we left');
    assert.equal(otherGot, 0, 'a socket that did not join receives no group traffic');
    // The wrong family is refused.
    assert.throws(() => rx.joinMulticast('ff02::1:3'), (e) => e.name === 'InvalidAccessError');
    reader.releaseLock(); // close() refuses while a reader holds the readable
    for (const x of [rx, other, tx]) x.close();
    await Promise.all([rx.closed, other.closed, tx.closed]);
  });

  test('loopback option: false (the default) keeps our own group datagrams from local members', { timeout: 20000 }, async () => {
    // On veth0 the looped-back copy is the only way a member joined on veth0
    // can hear a datagram sent out of veth0 (the wire copy arrives on veth1).
    const group = 'ff12::4321';
    const rx = new UDPSocket({ localAddress: '::' });
    await rx.opened;
    rx.joinMulticast(group, { interface: 'veth0' });
    const quiet = new UDPSocket({ localAddress: 'fd00::1', multicastInterface: 'veth0' });
    const loud = new UDPSocket({ localAddress: 'fd00::1', multicastInterface: 'veth0', loopback: true });
    await Promise.all([quiet.opened, loud.opened]);
    assert.equal(quiet.loopback, false);
    assert.equal(quiet.getOption('multicastLoopback'), false);
    const reader = rx.readable.getReader();
    quiet.send('quiet', group, rx.localPort);
    loud.send('loud', group, rx.localPort);
    const m = await next(reader, 'looped datagram');
    assert.equal(Buffer.from(m.data).toString(), 'loud');
    reader.releaseLock(); // close() refuses while a reader holds the readable
    for (const x of [rx, quiet, loud]) x.close();
    await Promise.all([rx.closed, quiet.closed, loud.closed]);
  });

  test('source-specific membership delivers only the chosen source', { timeout: 20000 }, async () => {
    const group = '232.1.1.1';
    const rx = new UDPSocket({ localAddress: '0.0.0.0' });
    await rx.opened;
    rx.joinMulticast(group, { source: '127.0.0.2' });
    assert.deepEqual(rx.joinedGroups.map((g) => [g.group, g.source]), [[group, '127.0.0.2']]);
    const good = new UDPSocket({ localAddress: '127.0.0.2', loopback: true });
    const bad = new UDPSocket({ localAddress: '127.0.0.1', loopback: true });
    await Promise.all([good.opened, bad.opened]);
    const reader = rx.readable.getReader();
    bad.send('from .1', group, rx.localPort);
    good.send('from .2', group, rx.localPort);
    const m = await next(reader, 'ssm datagram');
    assert.equal(Buffer.from(m.data).toString(), 'from .2');
    assert.equal(m.remoteAddress, '127.0.0.2');
    rx.leaveMulticast(group, { source: '127.0.0.2' });
    reader.releaseLock(); // close() refuses while a reader holds the readable
    for (const x of [rx, good, bad]) x.close();
    await Promise.all([rx.closed, good.closed, bad.closed]);
  });

  test('IPv6 multicast over the namespace veth pair', { timeout: 20000 }, async () => {
    const group = 'ff12::1234';
    const rx = new UDPSocket({ localAddress: '::' });
    await rx.opened;
    rx.joinMulticast(group, { interface: 'veth1' });
    const tx = new UDPSocket({ localAddress: 'fd00::1', multicastInterface: 'veth0', loopback: true });
    await tx.opened;
    const reader = rx.readable.getReader();
    tx.send('v6', group, rx.localPort);
    const m = await next(reader, 'IPv6 multicast datagram');
    assert.equal(Buffer.from(m.data).toString(), 'v6');
    assert.equal(m.remoteAddress, 'fd00::1');
    reader.releaseLock(); // close() refuses while a reader holds the readable
    rx.close();
    tx.close();
    await Promise.all([rx.closed, tx.closed]);
  });

  test('networkInterfaces() lists the namespace interfaces', () => {
    const list = networkInterfaces();
    const lo = list.find((i) => i.name === 'lo' && i.address === '127.0.0.1');
    assert.ok(lo, JSON.stringify(list));
    assert.equal(lo.loopback, true);
    assert.equal(lo.prefixLength, 8);
    assert.equal(lo.family, 4);
    assert.ok(list.find((i) => i.name === 'veth0' && i.address === 'fd00::1'));
  });

  test('ENETUNREACH and connect timeout inside the namespace are NetworkError', { timeout: 30000 }, async () => {
    // No route to this address in the namespace.
    const s1 = new TCPSocket('198.51.100.7', 80);
    await rejectsWith(s1.opened, 'NetworkError', ['W3S_ENETUNREACH', 'W3S_EHOSTUNREACH']);
    // Nobody answers for fd00::99 on the namespace's veth link (neighbour
    // discovery takes seconds to give up): our connect timeout fires first.
    const s2 = new TCPSocket('fd00::99', 80, { connectTimeout: 300 });
    await rejectsWith(s2.opened, 'NetworkError', 'W3S_ETIMEDOUT');
    // A name that cannot resolve (no resolver is reachable in the namespace).
    const s3 = new TCPSocket('no-such-host.invalid', 80);
    await rejectsWith(s3.opened, 'NetworkError');
  });
}

// A failed test must not leave sockets that keep this file's process alive.
after(() => require('..').shutdown());
