"""Runs inside tests/netns.sh (its own network namespace): multicast checks."""

import asyncio
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
import w3sock  # noqa: E402

PORT = 45454


async def next_msg(sock, timeout=10):
    return await asyncio.wait_for(sock.readable.read(), timeout)


async def v4():
    r1 = w3sock.UDPSocket(local_address="0.0.0.0", local_port=PORT)
    r2 = w3sock.UDPSocket(local_address="0.0.0.0", local_port=PORT)
    tx = w3sock.UDPSocket(local_address="127.0.0.1", loopback=True, multicast_ttl=1,
                          multicast_interface="lo")
    for s in (r1, r2, tx):
        await s.opened
    assert tx.get_option("multicast_loopback") is True
    assert tx.get_option("multicast_ttl") == 1
    r1.join_multicast("239.1.2.3")
    r2.join_multicast("239.1.2.4", "lo")
    groups = r1.joined_groups
    assert [g["group"] for g in groups] == ["239.1.2.3"], groups
    try:
        r1.join_multicast("239.1.2.3")
        raise AssertionError("double join accepted")
    except w3sock.InvalidAccessError as e:
        assert e.code_name == "W3S_EALREADY", e
    try:
        r1.leave_multicast("239.9.9.9")
        raise AssertionError("leave of a group never joined accepted")
    except w3sock.InvalidAccessError as e:
        assert e.code_name == "W3S_ENOTJOINED", e
    tx.send(b"to .3", "239.1.2.3", PORT)
    tx.send(b"to .4", "239.1.2.4", PORT)
    m = await next_msg(r1)
    assert m.data == b"to .3" and m.remote_port == tx.local_port, m
    m = await next_msg(r2)
    assert m.data == b"to .4", m  # r2 never saw the .3 datagram
    # after leaving, r1 gets nothing for .3: its next message is for .5
    r1.leave_multicast("239.1.2.3")
    r1.join_multicast("239.1.2.5")
    tx.send(b"to .3 again", "239.1.2.3", PORT)
    tx.send(b"to .5", "239.1.2.5", PORT)
    m = await next_msg(r1)
    assert m.data == b"to .5", m
    # discovery: a query to the group, unicast answers
    r2.send(b"here", m.remote_address, m.remote_port)
    ans = await next_msg(tx)
    assert ans.data == b"here" and ans.remote_port == PORT
    for s in (r1, r2, tx):
        s.close()
        await s.closed


async def v6():
    rx = w3sock.UDPSocket(local_address="::", local_port=PORT + 1)
    tx = w3sock.UDPSocket(local_address="fd00::1", multicast_interface="veth0",
                          loopback=True)
    await rx.opened
    await tx.opened
    rx.join_multicast("ff12::1234", "veth1")
    tx.send(b"v6 multicast", "ff12::1234", PORT + 1)
    m = await next_msg(rx)
    assert m.data == b"v6 multicast", m
    rx.close()
    tx.close()


async def main():
    await v4()
    await v6()
    print("MULTICAST OK", flush=True)


asyncio.run(asyncio.wait_for(main(), 60))
