#!/usr/bin/env python3
"""SMTP client scenarios for examples/tests/smtp_e2e.rs, using only the standard library.

Usage: smtp_client.py SCENARIO PORT [ARGS...]. Exits 0 when the server behaved as expected,
1 with a message on stderr otherwise.
"""

import smtplib
import ssl
import sys

HOST = "127.0.0.1"
TIMEOUT = 10


def fail(message):
    print(message, file=sys.stderr)
    sys.exit(1)


def message(subject, sender, recipient, body="Hello from the end-to-end test.\r\n"):
    return (
        f"From: <{sender}>\r\nTo: <{recipient}>\r\nSubject: {subject}\r\n\r\n{body}"
    ).encode()


def context(cafile):
    return ssl.create_default_context(cafile=cafile)


def expect_refused(exc, code, enhanced):
    """Checks an SMTPRecipientsRefused / SMTPSenderRefused / SMTPResponseException."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        (got_code, text), = exc.recipients.values()
    else:
        got_code, text = exc.smtp_code, exc.smtp_error
    if got_code != code or enhanced.encode() not in text:
        fail(f"expected {code} {enhanced}, got {got_code} {text!r}")


def inbound(port, subject):
    with smtplib.SMTP(HOST, int(port), timeout=TIMEOUT) as s:
        s.ehlo("client.example")
        s.sendmail("sender@example.com", ["alice@localhost"],
                   message(subject, "sender@example.com", "alice@localhost"))


def refused_rcpt(port, rcpt, code, enhanced):
    with smtplib.SMTP(HOST, int(port), timeout=TIMEOUT) as s:
        s.ehlo("client.example")
        try:
            s.sendmail("sender@example.com", [rcpt], message("x", "sender@example.com", rcpt))
        except smtplib.SMTPRecipientsRefused as exc:
            expect_refused(exc, int(code), enhanced)
            return
        fail(f"RCPT {rcpt} was accepted")


def submission(port, cafile, user, password, mechanism, subject):
    with smtplib.SMTP(HOST, int(port), timeout=TIMEOUT) as s:
        s.ehlo("client.example")
        if "starttls" not in s.esmtp_features:
            fail("STARTTLS not offered")
        if "auth" in s.esmtp_features:
            fail("AUTH offered before TLS")
        s._host = "localhost"  # the name the certificate is checked against
        s.starttls(context=context(cafile))
        s.ehlo("client.example")
        login(s, user, password, mechanism)
        s.sendmail(user, ["bob@localhost"], message(subject, user, "bob@localhost"))


def login(s, user, password, mechanism):
    s.user, s.password = user, password
    if mechanism == "PLAIN":
        s.auth("PLAIN", s.auth_plain)
    elif mechanism == "LOGIN":
        s.auth("LOGIN", s.auth_login, initial_response_ok=False)
    else:
        s.login(user, password)


def auth_before_tls(port, user, password):
    with smtplib.SMTP(HOST, int(port), timeout=TIMEOUT) as s:
        s.ehlo("client.example")
        try:
            s.login(user, password)
        except smtplib.SMTPNotSupportedError:
            return
        except smtplib.SMTPException as exc:
            code = getattr(exc, "smtp_code", 0)
            if 500 <= code < 600:
                return
            fail(f"unexpected failure {exc!r}")
        fail("login succeeded before STARTTLS")


def auth_without_tls(port, user, password, subject):
    with smtplib.SMTP(HOST, int(port), timeout=TIMEOUT) as s:
        s.ehlo("client.example")
        login(s, user, password, "PLAIN")
        s.sendmail(user, ["bob@localhost"], message(subject, user, "bob@localhost"))


def too_many_connections(port):
    import socket
    with smtplib.SMTP(HOST, int(port), timeout=TIMEOUT) as s:
        s.ehlo("client.example")
        with socket.create_connection((HOST, int(port)), timeout=TIMEOUT) as second:
            line = second.makefile("rb").readline()
        if not line.startswith(b"421 4.7.0 ") or b"Too many connections" not in line:
            fail(f"expected 421 4.7.0, got {line!r}")


def wrong_password(port, cafile, user):
    with smtplib.SMTP(HOST, int(port), timeout=TIMEOUT) as s:
        s._host = "localhost"  # the name the certificate is checked against
        s.starttls(context=context(cafile))
        s.ehlo("client.example")
        try:
            login(s, user, "not the password", "PLAIN")
        except smtplib.SMTPAuthenticationError as exc:
            if exc.smtp_code != 535:
                fail(f"expected 535, got {exc.smtp_code}")
            return
        fail("a wrong password was accepted")


def not_owned(port, cafile, user, password, other):
    with smtplib.SMTP(HOST, int(port), timeout=TIMEOUT) as s:
        s._host = "localhost"  # the name the certificate is checked against
        s.starttls(context=context(cafile))
        s.ehlo("client.example")
        login(s, user, password, "PLAIN")
        try:
            s.sendmail(other, ["bob@localhost"], message("x", other, "bob@localhost"))
        except smtplib.SMTPSenderRefused as exc:
            expect_refused(exc, 553, "5.7.1")
            return
        fail(f"MAIL FROM {other} was accepted")


def submissions(port, cafile, user, password, subject):
    ctx = context(cafile)
    # "localhost": the name the certificate is checked against.
    with smtplib.SMTP_SSL("localhost", int(port), timeout=TIMEOUT, context=ctx) as s:
        s.ehlo("client.example")
        login(s, user, password, "PLAIN")
        s.sendmail(user, ["bob@localhost"], message(subject, user, "bob@localhost"))


def oversized(port, size):
    body = ("x" * 76 + "\r\n") * (int(size) // 78 + 1)
    with smtplib.SMTP(HOST, int(port), timeout=TIMEOUT) as s:
        s.ehlo("client.example")
        data = message("big", "sender@example.com", "alice@localhost", body)
        try:
            s.sendmail("sender@example.com", ["alice@localhost"], data)
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            expect_refused(exc, 552, "5.3.4")
            return
        fail("oversized message was accepted")


def idle_shutdown(port):
    """Holds an idle session open, says so, and expects the server's 421 on shutdown."""
    s = smtplib.SMTP(HOST, int(port), timeout=30)
    s.ehlo("client.example")
    print("ready", flush=True)
    code, text = s.getreply()
    if code != 421 or b"4.3.2" not in text:
        fail(f"expected 421 4.3.2 on shutdown, got {code} {text!r}")
    s.close()


SCENARIOS = {
    "idle_shutdown": idle_shutdown,
    "inbound": inbound,
    "refused_rcpt": refused_rcpt,
    "submission": submission,
    "auth_before_tls": auth_before_tls,
    "too_many_connections": too_many_connections,
    "wrong_password": wrong_password,
    "auth_without_tls": auth_without_tls,
    "not_owned": not_owned,
    "submissions": submissions,
    "oversized": oversized,
}

if __name__ == "__main__":
    try:
        SCENARIOS[sys.argv[1]](*sys.argv[2:])
    except SystemExit:
        raise
    except Exception as exc:  # noqa: BLE001 - any other failure fails the test
        fail(f"{type(exc).__name__}: {exc}")
    print("ok")
