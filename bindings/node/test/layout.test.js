'use strict';
// The offsets the binding reads and writes by hand, checked against the
// header with a C compiler.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { REPO } = require('./helpers');
const native = require('../lib/native');

const FIELDS = {
  'w3s_event': { handle: 0, user_data: 8, type: 16, error: 20, data: 24, len: 32, accepted: 40, port: 48, family: 50, address: 56 },
  'w3s_tls_options': { size: 0, insecure_skip_verify: 4, server_name: 8, ca_pem: 16, cert_pem: 24, key_pem: 32, alpn: 40, min_version: 48, max_version: 56, ca_replace_system: 64, client_auth: 68 },
  'w3s_tcp_options': { size: 0, local_port: 4, local_address: 8, no_delay: 16, keep_alive: 20, keep_alive_delay_ms: 24, connect_timeout_ms: 28, send_buffer_size: 32, receive_buffer_size: 36, address_reuse: 40, reuse_port: 44, backlog: 48, use_secure_transport: 52, high_water_send: 56, high_water_receive: 64, tls: 72 },
  'w3s_udp_options': { size: 0, local_port: 4, local_address: 8, remote_address: 16, remote_port: 24, address_reuse: 28, reuse_port: 32, broadcast: 36, ttl: 40, multicast_ttl: 44, multicast_loopback: 48, send_buffer_size: 52, receive_buffer_size: 56, multicast_interface: 64, high_water_send: 72, high_water_receive: 80 },
  'w3s_info': { size: 0, kind: 4, ready_state: 8, family: 12, local_address: 16, local_port: 128, remote_port: 132, remote_address: 136, buffered_amount: 248, bytes_received: 256, bytes_sent: 264, messages_received: 272, messages_sent: 280, messages_dropped: 288, paused: 296, peer_ended: 300, rtt_us: 304, secure: 312, tls_version: 320, tls_cipher: 336, alpn: 400, server_name: 464, peer_subject: 720, peer_issuer: 976 },
  'w3s_stats_t': { size: 0, loops: 8, sockets: 16, goroutines: 24, open_fds: 32, events_queued: 40 },
  'w3s_group': { group: 0, source: 48, iface: 96 },
  'w3s_interface': { name: 0, address: 64, index: 112, flags: 116, prefix_length: 120, family: 124 },
};
const SIZE = {
  'w3s_event': native.EVENT_SIZE, 'w3s_tls_options': native.SIZES.tls, 'w3s_tcp_options': native.SIZES.tcp,
  'w3s_udp_options': native.SIZES.udp, 'w3s_info': native.SIZES.info, 'w3s_stats_t': native.SIZES.stats,
  'w3s_group': native.SIZES.group, 'w3s_interface': native.SIZES.iface,
};

test('struct sizes and field offsets match include/w3sock.h', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'w3sock-layout-'));
  let src = '#include <stdio.h>\n#include <stddef.h>\n#include "w3sock.h"\nint main(void){\n';
  for (const [s, fields] of Object.entries(FIELDS)) {
    src += `printf("${s} sizeof %zu\\n", sizeof(${s}));\n`;
    for (const f of Object.keys(fields)) src += `printf("${s} ${f} %zu\\n", offsetof(${s}, ${f}));\n`;
  }
  src += 'return 0;}\n';
  fs.writeFileSync(path.join(dir, 'layout.c'), src);
  execFileSync('cc', ['-I', path.join(REPO, 'include'), '-o', path.join(dir, 'layout'), path.join(dir, 'layout.c')]);
  const out = execFileSync(path.join(dir, 'layout'), { encoding: 'utf8' });
  fs.rmSync(dir, { recursive: true, force: true });
  for (const line of out.trim().split('\n')) {
    const [s, f, v] = line.split(' ');
    const expected = f === 'sizeof' ? SIZE[s] : FIELDS[s][f];
    assert.equal(Number(v), expected, `${s}.${f}`);
  }
  assert.deepEqual(native.EVENT_OFF.address, 56);
});
