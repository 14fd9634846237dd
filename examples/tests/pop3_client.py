#!/usr/bin/env python3
"""POP3 client scenarios for examples/tests/pop3_e2e.rs, using only the standard library.

Usage: pop3_client.py SCENARIO PORT [ARGS...]. Exits 0 when the server behaved as expected,
1 with a message on stderr otherwise.
"""

import base64
import poplib
import re
import smtplib
import socket
import ssl
import sys
import time

HOST = "127.0.0.1"
TIMEOUT = 10


def fail(message):
    print(message, file=sys.stderr)
    sys.exit(1)


def body(subject):
    return (
        f"From: <sender@example.com>\r\nTo: <alice@localhost>\r\nSubject: {subject}\r\n\r\n"
        "First line.\r\n.A line that starts with a dot\r\n\r\nLast line.\r\n"
    ).encode()


def context(cafile):
    return ssl.create_default_context(cafile=cafile)


def deliver(port, subject):
    with smtplib.SMTP(HOST, int(port), local_hostname="client.example", timeout=TIMEOUT) as s:
        s.sendmail("sender@example.com", ["alice@localhost"], body(subject))


def login_stls(port, cafile, user, password):
    pop = poplib.POP3(HOST, int(port), timeout=TIMEOUT)
    pop.stls(context=context(cafile))
    pop.user(user)
    pop.pass_(password)
    return pop


def retrieve(port, cafile, user, password, subject):
    pop = login_stls(port, cafile, user, password)
    count, size = pop.stat()
    if count != 1:
        fail(f"expected 1 message, STAT says {count} {size}")
    _, uidl, _ = pop.uidl()
    if len(uidl) != 1 or not re.fullmatch(rb"1 \d+\.\d+", uidl[0]):
        fail(f"unexpected UIDL listing {uidl!r}")
    _, lines, _ = pop.retr(1)
    message = b"\r\n".join(lines) + b"\r\n"
    if len(message) != size:
        fail(f"STAT size {size} but RETR gave {len(message)} octets")
    if not message.startswith(b"Return-Path: <sender@example.com>\r\nReceived: "):
        fail(f"no Return-Path/Received trace headers: {message!r}")
    if not message.endswith(body(subject)):
        fail(f"the body is not the delivered one: {message!r}")
    pop.dele(1)
    pop.quit()

    pop = login_stls(port, cafile, user, password)
    count, _ = pop.stat()
    if count != 0:
        fail(f"expected an empty maildrop after DELE and QUIT, STAT says {count}")
    pop.quit()


def pop3s(port, cafile, user, password):
    pop = poplib.POP3_SSL(HOST, int(port), timeout=TIMEOUT, context=context(cafile))
    pop.user(user)
    pop.pass_(password)
    pop.stat()
    pop.quit()


def before_stls(port, user, password):
    pop = poplib.POP3(HOST, int(port), timeout=TIMEOUT)
    try:
        pop.user(user)
        pop.pass_(password)
    except poplib.error_proto as exc:
        if b"STLS" not in exc.args[0]:
            fail(f"unexpected refusal {exc.args[0]!r}")
    else:
        fail("login before STLS was accepted")
    pop.quit()


def in_use(port, cafile, user, password):
    first = login_stls(port, cafile, user, password)
    second = poplib.POP3(HOST, int(port), timeout=TIMEOUT)
    second.stls(context=context(cafile))
    second.user(user)
    try:
        second.pass_(password)
    except poplib.error_proto as exc:
        if b"[IN-USE]" not in exc.args[0]:
            fail(f"expected [IN-USE], got {exc.args[0]!r}")
    else:
        fail("a second session opened a locked maildrop")
    second.close()
    first.quit()
    # Released at the end of the first session.
    login_stls(port, cafile, user, password).quit()


def auth_plain(port, cafile, user, password, subject):
    """SASL PLAIN with an initial response (RFC 5034) after STLS, then the delivered
    message; poplib has no AUTH helper, so the command goes through _shortcmd."""
    pop = poplib.POP3(HOST, int(port), timeout=TIMEOUT)
    pop.stls(context=context(cafile))
    caps = pop.capa()
    if "PLAIN" not in caps.get("SASL", []):
        fail(f"no SASL PLAIN in CAPA after STLS: {caps}")
    token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
    reply = pop._shortcmd(f"AUTH PLAIN {token}")
    if not reply.startswith(b"+OK"):
        fail(f"AUTH PLAIN: {reply!r}")
    _, lines, _ = pop.retr(1)
    message = b"\r\n".join(lines) + b"\r\n"
    if not message.endswith(body(subject)):
        fail(f"the body is not the delivered one: {message!r}")
    pop.quit()


def login_as(port, cafile, user, password):
    """USER and PASS over implicit TLS; "OK" or the server's -ERR line."""
    pop = poplib.POP3_SSL(HOST, int(port), timeout=TIMEOUT, context=context(cafile))
    try:
        pop.user(user)
        pop.pass_(password)
    except poplib.error_proto as exc:
        pop.quit()
        return exc.args[0].decode()
    pop.quit()
    return "OK"


def auth_plain_as(port, cafile, user, password):
    """AUTH PLAIN over implicit TLS; "OK" or the server's -ERR line."""
    pop = poplib.POP3_SSL(HOST, int(port), timeout=TIMEOUT, context=context(cafile))
    token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
    try:
        pop._shortcmd(f"AUTH PLAIN {token}")
    except poplib.error_proto as exc:
        pop.quit()
        return exc.args[0].decode()
    pop.quit()
    return "OK"


def totp_code(secret_base32):
    """RFC 6238 with SHA-1, 6 digits, 30 s steps, computed with Python's hmac."""
    import hashlib, hmac, struct
    padded = secret_base32 + "=" * (-len(secret_base32) % 8)
    key = base64.b32decode(padded.upper())
    step = int(time.time() // 30)
    digest = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    number = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
    return f"{number % 1_000_000:06d}"


def two_factor(port, cafile, user, password, secret, app_password):
    """With TOTP on: the password alone fails, password$CODE works once, the app password
    works with USER/PASS and with AUTH PLAIN."""
    got = login_as(port, cafile, user, password)
    if not got.startswith("-ERR [AUTH]"):
        fail(f"password alone: {got}")
    code = totp_code(secret)
    got = login_as(port, cafile, user, f"{password}${code}")
    if got != "OK":
        fail(f"password$CODE: {got}")
    # The code's time step is spent (unless the clock moved on to the next step).
    if totp_code(secret) == code:
        got = login_as(port, cafile, user, f"{password}${code}")
        if not got.startswith("-ERR [AUTH]"):
            fail(f"the same code again: {got}")
    got = login_as(port, cafile, user, app_password)
    if got != "OK":
        fail(f"app password: {got}")
    got = auth_plain_as(port, cafile, user, app_password)
    if got != "OK":
        fail(f"app password with AUTH PLAIN: {got}")


def too_many_connections(port):
    """With one connection allowed per address, the second gets -ERR instead of a
    greeting."""
    # The harness's readiness probe may hold the one slot for a moment yet.
    deadline = time.monotonic() + 5
    while True:
        try:
            first = poplib.POP3(HOST, int(port), timeout=TIMEOUT)
            break
        except poplib.error_proto:
            if time.monotonic() > deadline:
                fail("the first connection is refused too")
            time.sleep(0.1)
    with socket.create_connection((HOST, int(port)), timeout=TIMEOUT) as second:
        line = second.makefile("rb").readline()
    if not line.startswith(b"-ERR [SYS/TEMP] ") or b"Too many connections" not in line:
        fail(f"expected -ERR [SYS/TEMP], got {line!r}")
    first.quit()


SCENARIOS = {
    "deliver": deliver,
    "retrieve": retrieve,
    "pop3s": pop3s,
    "before_stls": before_stls,
    "in_use": in_use,
    "auth_plain": auth_plain,
    "two_factor": two_factor,
    "too_many_connections": too_many_connections,
}

if __name__ == "__main__":
    try:
        SCENARIOS[sys.argv[1]](*sys.argv[2:])
    except SystemExit:
        raise
    except Exception as exc:  # noqa: BLE001 - any other failure fails the test
        fail(f"{type(exc).__name__}: {exc}")
    print("ok")
