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


def login_over_tls(port, cafile, user, password, source, expected):
    """One implicit-TLS login from `source` that must end with reply code `expected`."""
    ssl_context = context(cafile)
    with smtplib.SMTP_SSL(HOST, int(port), timeout=TIMEOUT, context=ssl_context,
                          source_address=(source, 0)) as s:
        s.ehlo("client.example")
        try:
            login(s, user, password, "PLAIN")
            code = 235
        except smtplib.SMTPAuthenticationError as exc:
            code = exc.smtp_code
    if code != int(expected):
        fail(f"login from {source} got {code}, expected {expected}")


def lockout(port, cafile, user, password):
    """Five wrong passwords lock 127.0.0.1 out, even for the right one; 127.0.0.2 is not."""
    for _ in range(5):
        login_over_tls(port, cafile, user, "wrong", "127.0.0.1", 535)
    login_over_tls(port, cafile, user, password, "127.0.0.1", 454)
    login_over_tls(port, cafile, user, password, "127.0.0.2", 235)


def totp_code(secret_base32, at=None):
    """RFC 6238 with SHA-1, 6 digits, 30 s steps, computed with Python's hmac."""
    import base64, hashlib, hmac, struct, time
    padded = secret_base32 + "=" * (-len(secret_base32) % 8)
    key = base64.b32decode(padded.upper())
    step = int((time.time() if at is None else at) // 30)
    digest = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    number = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
    return f"{number % 1_000_000:06d}"


def two_factor(port, cafile, user, password, secret, app_password):
    """With TOTP on: the password alone fails, password$CODE works, the app password works."""
    login_over_tls(port, cafile, user, password, "127.0.0.1", 535)
    login_over_tls(port, cafile, user, f"{password}${totp_code(secret)}", "127.0.0.1", 235)
    login_over_tls(port, cafile, user, app_password, "127.0.0.1", 235)


SCENARIOS = {
    "lockout": lockout,
    "two_factor": two_factor,
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
