#!/usr/bin/env python3
"""POP3 client scenarios for examples/tests/pop3_e2e.rs, using only the standard library.

Usage: pop3_client.py SCENARIO PORT [ARGS...]. Exits 0 when the server behaved as expected,
1 with a message on stderr otherwise.
"""

import poplib
import re
import smtplib
import ssl
import sys

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


SCENARIOS = {
    "deliver": deliver,
    "retrieve": retrieve,
    "pop3s": pop3s,
    "before_stls": before_stls,
    "in_use": in_use,
}

if __name__ == "__main__":
    try:
        SCENARIOS[sys.argv[1]](*sys.argv[2:])
    except SystemExit:
        raise
    except Exception as exc:  # noqa: BLE001 - any other failure fails the test
        fail(f"{type(exc).__name__}: {exc}")
    print("ok")
