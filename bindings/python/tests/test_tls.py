"""TLS and STARTTLS against Python's own ssl, smtplib and aiosmtpd."""

from __future__ import annotations

import asyncio
import smtplib
import ssl

import pytest

import w3sock


def _server_ctx(certs, alpn=None, require_client=False):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certs.server_cert, certs.server_key)
    if alpn:
        ctx.set_alpn_protocols(alpn)
    if require_client:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(certs.ca)
    return ctx


def _client_ctx(certs, client_cert=False):
    ctx = ssl.create_default_context(cafile=str(certs.ca))
    if client_cert:
        ctx.load_cert_chain(certs.client_cert, certs.client_key)
    return ctx


def test_tls_client_against_python_ssl_server(arun, certs):
    async def main():
        async def handle(reader, writer):
            line = await reader.readline()
            writer.write(line[::-1][1:] + b"\n")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0,
                                            ssl=_server_ctx(certs, alpn=["h2", "w3s/1"]))
        port = server.sockets[0].getsockname()[1]
        tls = w3sock.TLSOptions(ca=certs.ca.read_text(), server_name="localhost",
                                alpn=["w3s/1"], min_version="tls1.2")
        sock = w3sock.TCPSocket("127.0.0.1", port, use_secure_transport=True, tls=tls)
        info = await sock.opened
        assert info.alpn == "w3s/1" and sock.ssl
        details = sock.get_info()
        assert details["secure"] and details["tls_version"] in ("tls1.2", "tls1.3")
        assert "localhost" in details["peer_subject"]
        assert details["tls_cipher"]
        await sock.writable.write(b"hello tls\n")
        assert await sock.readable.read() == b"slt olleh\n"
        sock.close()
        await sock.closed
        server.close()
        await server.wait_closed()

    arun(main)


def test_tls_server_with_python_ssl_client_and_client_cert(arun, certs):
    async def main():
        tls = {"cert": certs.server_cert.read_text(), "key": certs.server_key.read_text(),
               "ca": certs.ca.read_text(), "require_cert": True, "alpn": ["w3s/1"]}
        srv = w3sock.TCPServerSocket(local_address="127.0.0.1", use_secure_transport=True,
                                     tls=tls)
        await srv.opened

        async def serve():
            async for conn in srv.connections:
                try:
                    await conn.opened
                except w3sock.NetworkError:
                    continue  # the client without a certificate
                data = await conn.readable.readuntil(b"\n")
                info = conn.get_info()
                await conn.writable.write(data.upper() + info["peer_subject"].encode() + b"\n")
                conn.close()

        task = asyncio.ensure_future(serve())
        ctx = _client_ctx(certs, client_cert=True)
        ctx.set_alpn_protocols(["w3s/1"])
        r, w = await asyncio.open_connection("127.0.0.1", srv.local_port, ssl=ctx,
                                             server_hostname="localhost")
        assert w.get_extra_info("ssl_object").selected_alpn_protocol() == "w3s/1"
        w.write(b"secret\n")
        assert await r.readline() == b"SECRET\n"
        assert b"w3sock client" in await r.readline()
        w.close()
        # without a client certificate the handshake fails
        with pytest.raises((ssl.SSLError, ConnectionError, asyncio.IncompleteReadError)):
            r2, w2 = await asyncio.open_connection("127.0.0.1", srv.local_port,
                                                   ssl=_client_ctx(certs),
                                                   server_hostname="localhost")
            w2.write(b"x\n")
            await w2.drain()
            line = await r2.readline()
            if not line:
                raise ConnectionError("closed")
        srv.close()
        task.cancel()

    arun(main)


def test_tls_verification_errors(run, certs):
    async def main():
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0,
                                            ssl=_server_ctx(certs))
        port = server.sockets[0].getsockname()[1]
        s = w3sock.TCPSocket("127.0.0.1", port, use_secure_transport=True,
                             tls=w3sock.TLSOptions(ca=certs.other_ca.read_text(),
                                                   server_name="localhost"))
        with pytest.raises(w3sock.NetworkError) as ei:
            await s.opened
        assert ei.value.code_name == "W3S_ETLS_UNKNOWN_CA", ei.value
        s2 = w3sock.TCPSocket("127.0.0.1", port, use_secure_transport=True,
                              tls=w3sock.TLSOptions(ca=certs.ca, server_name="wrong.example"))
        with pytest.raises(w3sock.NetworkError) as ei2:
            await s2.opened
        assert ei2.value.code_name == "W3S_ETLS_HOSTNAME", ei2.value
        # verify=False is explicit and works
        s3 = w3sock.TCPSocket("127.0.0.1", port, use_secure_transport=True,
                              tls={"verify": False})
        await s3.opened
        s3.close()
        # bad PEM is an InvalidAccessError at once
        with pytest.raises(w3sock.InvalidAccessError) as ei3:
            w3sock.TCPSocket("127.0.0.1", port, use_secure_transport=True,
                             tls={"ca": "-----BEGIN CERTIFICATE-----\nnope\n"})
        assert ei3.value.code_name == "W3S_ETLS_BAD_PEM"
        with pytest.raises(ValueError):
            w3sock.TLSOptions(min_version="ssl3")
        with pytest.raises(ValueError):
            w3sock.TCPSocket("127.0.0.1", port, tls={"bogus": 1})
        server.close()

    run(main)


async def _smtp_server(srv, certs, received):
    """A tiny SMTP server with STARTTLS, on w3sock."""
    async for conn in srv.connections:
        r, w = conn.readable, conn.writable
        await w.write(b"220 w3sock ESMTP\r\n")
        secure = False
        while True:
            line = await r.readuntil(b"\r\n")
            cmd = line.strip().upper()
            if cmd.startswith(b"EHLO"):
                ext = b"250-w3sock\r\n" + (b"" if secure else b"250-STARTTLS\r\n") \
                    + b"250 8BITMIME\r\n"
                await w.write(ext)
            elif cmd == b"STARTTLS":
                await w.write(b"220 go ahead\r\n")
                await conn.start_tls({"cert": certs.server_cert.read_text(),
                                      "key": certs.server_key.read_text()})
                secure = True
            elif cmd.startswith(b"MAIL") or cmd.startswith(b"RCPT"):
                await w.write(b"250 ok\r\n")
            elif cmd == b"DATA":
                await w.write(b"354 go\r\n")
                body = await r.readuntil(b"\r\n.\r\n")
                received.append((secure, conn.get_info()["tls_version"], body))
                await w.write(b"250 queued\r\n")
            elif cmd == b"QUIT":
                await w.write(b"221 bye\r\n")
                conn.close()
                break
            else:
                await w.write(b"500 what\r\n")
        break


def test_smtplib_starttls_against_w3sock_server(run, certs):
    async def main():
        srv = w3sock.TCPServerSocket(local_address="127.0.0.1")
        await srv.opened
        received = []
        task = asyncio.ensure_future(_smtp_server(srv, certs, received))

        def client():
            with smtplib.SMTP("127.0.0.1", srv.local_port, timeout=20) as s:
                s.ehlo("client")
                assert s.has_extn("starttls")
                code, _ = s.starttls(context=_client_ctx(certs))
                assert code == 220
                s.ehlo("client")
                assert not s.has_extn("starttls")
                s.sendmail("a@example.org", ["b@example.org"],
                           "Subject: hi\r\n\r\nover STARTTLS\r\n")
            return True

        assert await asyncio.to_thread(client)
        await asyncio.wait_for(task, 20)
        assert len(received) == 1
        secure, version, body = received[0]
        assert secure and version in ("tls1.2", "tls1.3")
        assert b"over STARTTLS" in body
        srv.close()

    run(main)


def test_starttls_client_against_aiosmtpd(run, certs):
    from aiosmtpd.controller import Controller
    from conftest import free_port

    class Handler:
        def __init__(self):
            self.messages = []

        async def handle_DATA(self, server, session, envelope):
            self.messages.append((session.ssl is not None, envelope.content))
            return "250 OK"

    handler = Handler()
    port = free_port()
    ctl = Controller(handler, hostname="127.0.0.1", port=port,
                              tls_context=_server_ctx(certs), require_starttls=True)
    ctl.start()
    try:
        async def main():
            sock = w3sock.TCPSocket("127.0.0.1", port)
            await sock.opened
            r, w = sock.readable, sock.writable

            async def reply():
                lines = []
                while True:
                    line = await r.readuntil(b"\r\n")
                    lines.append(line)
                    if line[3:4] == b" ":
                        return lines

            assert (await reply())[0].startswith(b"220")
            await w.write(b"EHLO w3sock\r\n")
            assert any(b"STARTTLS" in ln for ln in await reply())
            await w.write(b"STARTTLS\r\n")
            assert (await reply())[0].startswith(b"220")
            await sock.start_tls(w3sock.TLSOptions(ca=certs.ca, server_name="localhost"))
            assert sock.ssl and sock.get_info()["secure"]
            await w.write(b"EHLO w3sock\r\n")
            assert (await reply())[-1].startswith(b"250")
            for cmd in (b"MAIL FROM:<a@example.org>\r\n", b"RCPT TO:<b@example.org>\r\n"):
                await w.write(cmd)
                assert (await reply())[0].startswith(b"250")
            await w.write(b"DATA\r\n")
            assert (await reply())[0].startswith(b"354")
            await w.write(b"Subject: x\r\n\r\nsent by w3sock after STARTTLS\r\n.\r\n")
            assert (await reply())[0].startswith(b"250")
            await w.write(b"QUIT\r\n")
            assert (await reply())[0].startswith(b"221")
            sock.close()
            await sock.closed

        run(main)
    finally:
        ctl.stop()
    assert len(handler.messages) == 1
    was_tls, content = handler.messages[0]
    assert was_tls
    assert b"sent by w3sock after STARTTLS" in content


async def _starttls_server_once(srv, certs, results):
    """Reads one command line; on STARTTLS answers 220 and upgrades."""
    conn = await srv.listen()
    line = await conn.readable.readuntil(b"\r\n")
    results["line"] = line
    results["unread"] = conn.readable.buffered
    await conn.writable.write(b"220 go ahead\r\n")
    try:
        await conn.start_tls({"cert": certs.server_cert.read_text(),
                              "key": certs.server_key.read_text()})
    except w3sock.NetworkError as e:
        results["error"] = e
        return
    results["secure"] = True
    data = await conn.readable.readuntil(b"\n")
    results["data"] = data
    await conn.writable.write(b"secure echo: " + data)
    conn.close()


def test_starttls_plaintext_injection_is_refused(arun, certs):
    """CVE-2011-0411: bytes pipelined after STARTTLS are not commands; the
    binding hands them to the handshake, which fails (not TLS)."""
    import socket

    async def main():
        srv = w3sock.TCPServerSocket(local_address="127.0.0.1")
        await srv.opened
        results = {}
        task = asyncio.ensure_future(_starttls_server_once(srv, certs, results))
        s = socket.create_connection(("127.0.0.1", srv.local_port), timeout=10)
        try:
            s.sendall(b"STARTTLS\r\nRCPT TO:<injected@example.org>\r\n")
            await asyncio.wait_for(task, 20)
        finally:
            s.close()
        assert results["line"] == b"STARTTLS\r\n"
        assert results["unread"] > 0  # the injected line was read with STARTTLS
        assert "secure" not in results
        assert results["error"].code_name == "W3S_ETLS_NOT_TLS", results["error"]
        srv.close()

    arun(main)


def test_starttls_racing_client_hello_still_works(arun, certs):
    """A client that sends its ClientHello right behind STARTTLS (without
    waiting for 220) still gets a working TLS session."""
    import socket

    async def main():
        srv = w3sock.TCPServerSocket(local_address="127.0.0.1")
        await srv.opened
        results = {}
        task = asyncio.ensure_future(_starttls_server_once(srv, certs, results))
        ctx = _client_ctx(certs)
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
        try:
            tls.do_handshake()
        except ssl.SSLWantReadError:
            pass
        hello = outgoing.read()
        loop = asyncio.get_running_loop()
        s = socket.create_connection(("127.0.0.1", srv.local_port), timeout=10)

        def client():
            s.sendall(b"STARTTLS\r\n" + hello)  # one write: the race
            buf = b""
            while not buf.endswith(b"\r\n"):
                buf += s.recv(1)
            assert buf == b"220 go ahead\r\n", buf
            while True:
                try:
                    tls.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    out = outgoing.read()
                    if out:
                        s.sendall(out)
                    data = s.recv(65536)
                    if not data:
                        raise ConnectionError("closed during handshake")
                    incoming.write(data)
            s.sendall(outgoing.read())
            tls.write(b"hello\n")
            s.sendall(outgoing.read())
            reply = b""
            while not reply.endswith(b"\n"):
                try:
                    reply += tls.read(1024)
                except ssl.SSLWantReadError:
                    data = s.recv(65536)
                    if not data:
                        break
                    incoming.write(data)
            return reply

        try:
            reply = await loop.run_in_executor(None, client)
            await asyncio.wait_for(task, 20)
        finally:
            s.close()
        assert results.get("secure"), results
        assert results["unread"] > 0  # the ClientHello came with STARTTLS
        assert reply == b"secure echo: hello\n"
        srv.close()

    arun(main)


@pytest.mark.parametrize("version", ["tls1.2", "tls1.3"])
def test_tls_client_against_openssl_s_server(run, certs, version):
    import subprocess
    from conftest import free_port

    port = free_port()
    flag = "-tls1_2" if version == "tls1.2" else "-tls1_3"
    proc = subprocess.Popen(
        ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert",
         str(certs.server_cert), "-key", str(certs.server_key), "-rev",
         "-naccept", "1", flag, "-alpn", "w3s/1"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        text=True)
    try:
        async def main():
            # s_server prints ACCEPT once it listens
            loop = asyncio.get_running_loop()
            while True:
                line = await asyncio.wait_for(
                    loop.run_in_executor(None, proc.stdout.readline), 30)
                assert line, "openssl s_server ended before it listened"
                if line.strip() == "ACCEPT":
                    break
            s = w3sock.TCPSocket("127.0.0.1", port, use_secure_transport=True,
                                 tls=w3sock.TLSOptions(ca=certs.ca, server_name="localhost",
                                                       alpn=["w3s/1"]))
            await s.opened
            info = s.get_info()
            assert info["tls_version"] == version and s.alpn == "w3s/1", info
            await s.writable.write(b"w3sock over openssl\n")
            line = await s.readable.readuntil(b"\n")
            assert line == b"lssnepo revo kcos3w\n", line
            s.close()
            await s.closed

        run(main)
    finally:
        proc.kill()
        proc.wait()


def test_tls_client_certificate_to_python_server(run, certs):
    async def main():
        seen = {}

        async def handle(reader, writer):
            cert = writer.get_extra_info("peercert")
            seen["subject"] = dict(x[0] for x in cert["subject"])
            writer.write(await reader.readline())
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0,
                                            ssl=_server_ctx(certs, require_client=True))
        port = server.sockets[0].getsockname()[1]
        tls = w3sock.TLSOptions(ca=certs.ca, cert=certs.client_cert, key=certs.client_key,
                                server_name="localhost", min_version="tls1.3")
        s = w3sock.TCPSocket("127.0.0.1", port, use_secure_transport=True, tls=tls)
        await s.opened
        assert s.get_info()["tls_version"] == "tls1.3"
        await s.writable.write(b"with a client certificate\n")
        assert await s.readable.read() == b"with a client certificate\n"
        assert seen["subject"]["commonName"] == "w3sock client"
        s.close()
        server.close()
        await server.wait_closed()

    run(main)
