#!/usr/bin/env python3
"""IMAP client scenarios for examples/tests/imap_e2e.rs, using only the standard library.

Usage: imap_client.py SCENARIO PORT [ARGS...]. Exits 0 when the server behaved as expected,
1 with a message on stderr otherwise. Every scenario ends within LIMIT seconds, whatever the
server does.
"""

import imaplib
import re
import signal
import smtplib
import socket
import ssl
import sys
import time

HOST = "127.0.0.1"
TIMEOUT = 10
LIMIT = 90
MAILBOXES = {
    "INBOX": None,
    "Sent": r"\Sent",
    "Drafts": r"\Drafts",
    "Trash": r"\Trash",
    "Junk": r"\Junk",
    "Archive": r"\Archive",
}


def fail(message):
    print(message, file=sys.stderr)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)


def body(subject):
    return (
        f"From: <sender@example.com>\r\nTo: <alice@localhost>\r\nSubject: {subject}\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
        "First line.\r\n.A line that starts with a dot\r\n\r\nLast line.\r\n"
    ).encode()


def context(cafile):
    return ssl.create_default_context(cafile=cafile)


def ok(result, what):
    """Checks an imaplib (typ, data) pair and returns data."""
    typ, data = result
    check(typ == "OK", f"{what}: {typ} {data!r}")
    return data


def flat(data):
    """imaplib's response data (bytes and (header, literal) tuples) as one byte string."""
    out = b""
    for item in data:
        if isinstance(item, tuple):
            out += b"".join(item)
        elif item is not None:
            out += item
    return out


class SourceSSL(imaplib.IMAP4_SSL):
    """IMAP4_SSL from a chosen local address, to tell clients apart for the limiter."""

    def __init__(self, source, *args, **kwargs):
        self.source = source
        super().__init__(*args, **kwargs)

    def _create_socket(self, timeout):
        sock = socket.create_connection((self.host, self.port), timeout,
                                        source_address=(self.source, 0))
        return self.ssl_context.wrap_socket(sock, server_hostname=self.host)


def imaps(port, cafile, source="127.0.0.1"):
    return SourceSSL(source, HOST, int(port), ssl_context=context(cafile), timeout=TIMEOUT)


def starttls(port, cafile):
    imap = imaplib.IMAP4(HOST, int(port), timeout=TIMEOUT)
    check("STARTTLS" in imap.capabilities, f"no STARTTLS in {imap.capabilities}")
    check("LOGINDISABLED" in imap.capabilities, f"no LOGINDISABLED in {imap.capabilities}")
    imap.starttls(ssl_context=context(cafile))
    check("LOGINDISABLED" not in imap.capabilities, f"after TLS: {imap.capabilities}")
    check("AUTH=PLAIN" in imap.capabilities, f"after TLS: {imap.capabilities}")
    return imap


def deliver(port, subject):
    with smtplib.SMTP(HOST, int(port), local_hostname="client.example", timeout=TIMEOUT) as s:
        s.sendmail("sender@example.com", ["alice@localhost"], body(subject))


def listing(imap):
    """LIST "" "*" as {name: attributes}."""
    found = {}
    for line in ok(imap.list('""', "*"), "LIST"):
        match = re.fullmatch(rb'\(([^)]*)\) (?:"."|NIL) (.+)', line)
        check(match is not None, f"unexpected LIST line {line!r}")
        name = match.group(2).decode()
        if name.startswith('"'):
            name = name[1:-1]
        found[name] = match.group(1).decode().split()
    return found


# Scenarios.


def starttls_list(port, cafile, user, password):
    """STARTTLS, LOGIN, and the default mailboxes with their special-use attributes."""
    imap = starttls(port, cafile)
    imap.login(user, password)
    found = listing(imap)
    for name, attribute in MAILBOXES.items():
        check(name in found, f"{name} not listed: {found}")
        if attribute is not None:
            check(attribute in found[name], f"{name} lacks {attribute}: {found[name]}")
    imap.logout()


def before_tls(port, user, password):
    """LOGIN in plaintext is refused with PRIVACYREQUIRED."""
    imap = imaplib.IMAP4(HOST, int(port), timeout=TIMEOUT)
    check("LOGINDISABLED" in imap.capabilities, f"no LOGINDISABLED in {imap.capabilities}")
    try:
        imap.login(user, password)
    except imaplib.IMAP4.error as exc:
        check("PRIVACYREQUIRED" in str(exc), f"unexpected refusal {exc}")
    else:
        fail("LOGIN before STARTTLS was accepted")
    imap.logout()


def plaintext_login(port, user, password):
    """With plaintext_on_loopback, LOGIN works before TLS on loopback."""
    imap = imaplib.IMAP4(HOST, int(port), timeout=TIMEOUT)
    check("LOGINDISABLED" not in imap.capabilities, f"{imap.capabilities}")
    imap.login(user, password)
    ok(imap.select("INBOX"), "SELECT")
    imap.logout()


def scram_sha256(user, password):
    """A SCRAM-SHA-256 client (RFC 7677) for imaplib's authenticate, with hashlib and hmac;
    its `verified` is set once the server has proved it knows the password too."""
    import base64, hashlib, hmac, os
    nonce = base64.b64encode(os.urandom(18)).decode()
    bare = f"n={user},r={nonce}"
    state = {"step": 0, "verified": False}

    def h(key, message):
        return hmac.new(key, message, hashlib.sha256).digest()

    def step(challenge):
        state["step"] += 1
        if state["step"] == 1:
            return f"n,,{bare}".encode()
        if state["step"] == 2:
            server_first = challenge.decode()
            attrs = dict(part.split("=", 1) for part in server_first.split(","))
            check(attrs["r"].startswith(nonce), f"the server changed the nonce: {attrs}")
            salted = hashlib.pbkdf2_hmac("sha256", password.encode(),
                                         base64.b64decode(attrs["s"]), int(attrs["i"]))
            client_key = h(salted, b"Client Key")
            without_proof = f"c=biws,r={attrs['r']}"
            message = f"{bare},{server_first},{without_proof}".encode()
            signature = h(hashlib.sha256(client_key).digest(), message)
            proof = bytes(a ^ b for a, b in zip(client_key, signature))
            state["expected"] = b"v=" + base64.b64encode(h(h(salted, b"Server Key"), message))
            return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()
        # The server's signature comes as a last challenge, answered with an empty line.
        check(challenge == state["expected"], f"wrong server signature {challenge!r}")
        state["verified"] = True
        return b""

    return step, state


def authenticate(port, cafile, user, password):
    """Implicit TLS and AUTHENTICATE: PLAIN (with the user name in another case), then
    SCRAM-SHA-256, whose success carries data; a wrong password fails."""
    imap = imaps(port, cafile)
    check("AUTH=PLAIN" in imap.capabilities, f"{imap.capabilities}")
    credentials = f"\0{user.upper()}\0{password}".encode()
    typ, _ = imap.authenticate("PLAIN", lambda _challenge: credentials)
    check(typ == "OK", f"AUTHENTICATE PLAIN: {typ}")
    check(imap.state == "AUTH", f"state {imap.state}")
    ok(imap.append("Drafts", None, None, body("by PLAIN")), "APPEND")
    imap.logout()

    imap = imaps(port, cafile)
    check("AUTH=SCRAM-SHA-256" in imap.capabilities, f"{imap.capabilities}")
    step, state = scram_sha256(user, password)
    typ, _ = imap.authenticate("SCRAM-SHA-256", step)
    check(typ == "OK" and state["verified"], f"AUTHENTICATE SCRAM-SHA-256: {typ} {state}")
    # Both logins act for the same account.
    status = ok(imap.status("Drafts", "(MESSAGES)"), "STATUS")[0]
    check(b"MESSAGES 1" in status, f"Drafts after the PLAIN login's APPEND: {status!r}")
    imap.logout()

    imap = imaps(port, cafile)
    wrong = f"\0{user}\0wrong".encode()
    try:
        imap.authenticate("PLAIN", lambda _challenge: wrong)
    except imaplib.IMAP4.error as exc:
        check("AUTHENTICATIONFAILED" in str(exc), f"unexpected failure {exc}")
    else:
        fail("a wrong password was accepted")
    imap.logout()


def read_back(smtp_port, port, cafile, user, password, subject):
    """A message delivered over SMTP, read back with SEARCH, FETCH and UID FETCH."""
    deliver(smtp_port, subject)
    imap = imaps(port, cafile)
    imap.login(user, password)
    count = ok(imap.select("INBOX"), "SELECT")
    check(count == [b"1"], f"SELECT INBOX says {count}")

    check(ok(imap.search(None, "ALL"), "SEARCH ALL") == [b"1"], "SEARCH ALL")
    check(ok(imap.search(None, "UNSEEN"), "SEARCH UNSEEN") == [b"1"], "SEARCH UNSEEN")
    found = ok(imap.search(None, "FROM", '"sender@example.com"'), "SEARCH FROM")
    check(found == [b"1"], f"SEARCH FROM: {found}")
    found = ok(imap.search(None, "FROM", '"nobody@example.com"'), "SEARCH FROM")
    check(found == [b""], f"SEARCH FROM nobody: {found}")

    data = ok(imap.fetch("1", "(BODY.PEEK[])"), "FETCH BODY.PEEK[]")
    check(isinstance(data[0], tuple), f"no literal in {data!r}")
    message = data[0][1]
    check(message.endswith(body(subject)), f"not the delivered message: {message!r}")
    check(message.startswith(b"Return-Path: <sender@example.com>\r\nReceived: from "),
          f"no trace headers: {message!r}")
    # PEEK leaves \Seen alone.
    check(ok(imap.search(None, "UNSEEN"), "SEARCH") == [b"1"], "BODY.PEEK set \\Seen")

    data = flat(ok(imap.fetch("1", "(FLAGS ENVELOPE BODYSTRUCTURE RFC822.SIZE UID)"), "FETCH"))
    size = re.search(rb"RFC822\.SIZE (\d+)", data)
    check(size is not None and int(size.group(1)) == len(message), f"RFC822.SIZE in {data!r}")
    check(re.search(rb"FLAGS \(\)", data) is not None, f"FLAGS in {data!r}")
    check(subject.encode() in data, f"subject not in the ENVELOPE: {data!r}")
    check(b'((NIL NIL "sender" "example.com"))' in data, f"From in the ENVELOPE: {data!r}")
    check(re.search(rb'BODYSTRUCTURE \("TEXT" "PLAIN"', data, re.I) is not None,
          f"BODYSTRUCTURE in {data!r}")
    uid = re.search(rb"UID (\d+)", data)
    check(uid is not None, f"no UID in {data!r}")
    uid = uid.group(1).decode()

    data = ok(imap.uid("FETCH", uid, "(BODY[])"), "UID FETCH")
    check(isinstance(data[0], tuple) and data[0][1] == message, f"UID FETCH gave {data!r}")
    check(ok(imap.search(None, "UNSEEN"), "SEARCH") == [b""], "BODY[] did not set \\Seen")
    check(ok(imap.search(None, "SEEN"), "SEARCH") == [b"1"], "SEARCH SEEN")
    imap.logout()


def append_status(port, cafile, user, password, subject):
    """APPEND to Drafts with flags: APPENDUID, then STATUS counts it."""
    imap = imaps(port, cafile)
    imap.login(user, password)
    before = ok(imap.status("Drafts", "(MESSAGES UIDNEXT UNSEEN SIZE)"), "STATUS")[0]
    uid_next = int(re.search(rb"UIDNEXT (\d+)", before).group(1))

    draft = body(subject)
    data = ok(imap.append("Drafts", r"(\Draft \Seen)", None, draft), "APPEND")
    appended = re.search(rb"\[APPENDUID (\d+) (\d+)\]", data[0])
    check(appended is not None, f"no APPENDUID in {data!r}")
    check(int(appended.group(2)) == uid_next, f"APPENDUID {data!r}, UIDNEXT was {uid_next}")
    data = ok(imap.append("Drafts", None, None, draft), "APPEND")

    status = ok(imap.status("Drafts", "(MESSAGES UIDNEXT UNSEEN SIZE)"), "STATUS")[0]
    expected = (rf"MESSAGES 2 UIDNEXT {uid_next + 2} UNSEEN 1 SIZE {2 * len(draft)}").encode()
    check(expected in status, f"STATUS {status!r}, expected {expected!r}")

    ok(imap.select("Drafts"), "SELECT Drafts")
    data = flat(ok(imap.fetch("1", "(FLAGS)"), "FETCH FLAGS"))
    check(b"\\Draft" in data and b"\\Seen" in data, f"flags of the draft: {data!r}")
    data = ok(imap.fetch("1", "(BODY.PEEK[])"), "FETCH")
    check(data[0][1] == draft, f"the draft came back as {data!r}")
    imap.logout()


def manage(port, cafile, user, password, subject):
    """STORE, EXPUNGE, COPY, MOVE, and CREATE/RENAME/DELETE of a folder."""
    imap = imaps(port, cafile)
    imap.login(user, password)
    for n in range(3):
        ok(imap.append("INBOX", None, None, body(f"{subject}-{n}")), "APPEND")
    check(ok(imap.select("INBOX"), "SELECT") == [b"3"], "three messages")

    # STORE +FLAGS \Deleted, EXPUNGE: the message is gone.
    ok(imap.store("1", "+FLAGS", r"(\Deleted)"), "STORE")
    data = flat(ok(imap.fetch("1", "(FLAGS)"), "FETCH"))
    check(b"\\Deleted" in data, f"FLAGS after STORE: {data!r}")
    expunged = ok(imap.expunge(), "EXPUNGE")
    check(expunged == [b"1"], f"EXPUNGE said {expunged}")
    left = ok(imap.search(None, "ALL"), "SEARCH")
    check(left == [b"1 2"], f"after EXPUNGE: {left}")
    found = ok(imap.search(None, "SUBJECT", f'"{subject}-0"'), "SEARCH")
    check(found == [b""], f"the expunged message is still found: {found}")

    # COPY answers COPYUID; the copy is in Archive.
    data = ok(imap.copy("1", "Archive"), "COPY")
    check(re.search(rb"\[COPYUID \d+ \d+ \d+\]", data[0]) is not None, f"COPY said {data!r}")
    status = ok(imap.status("Archive", "(MESSAGES)"), "STATUS")[0]
    check(b"MESSAGES 1" in status, f"Archive: {status!r}")

    # UID MOVE to Trash: COPYUID, an EXPUNGE, and one message left.
    uid = re.search(rb"UID (\d+)", flat(ok(imap.fetch("2", "(UID)"), "FETCH")))
    uid = uid.group(1).decode()
    imap.untagged_responses.pop("COPYUID", None)
    typ, data = imap._simple_command("UID", "MOVE", uid, "Trash")
    check(typ == "OK", f"UID MOVE: {typ} {data!r}")
    # RFC 6851 section 4.3: COPYUID comes in an untagged OK before the EXPUNGE.
    copyuid = imap.untagged_responses.get("COPYUID", [])
    check(len(copyuid) == 1 and re.fullmatch(rf"\d+ {uid} \d+".encode(), copyuid[0]),
          f"COPYUID for MOVE: {imap.untagged_responses}")
    check(imap.untagged_responses.get("EXPUNGE") == [b"2"], f"{imap.untagged_responses}")
    check(ok(imap.search(None, "ALL"), "SEARCH") == [b"1"], "MOVE left the message")
    status = ok(imap.status("Trash", "(MESSAGES)"), "STATUS")[0]
    check(b"MESSAGES 1" in status, f"Trash: {status!r}")
    imap.close()

    # A folder's life.
    ok(imap.create("Projects"), "CREATE")
    check("Projects" in listing(imap), "CREATE did not list it")
    typ, data = imap.create("Projects")
    check(typ == "NO" and b"[ALREADYEXISTS]" in data[0], f"second CREATE: {typ} {data!r}")
    # imaplib sends arguments as they are, so a name with a space is quoted here.
    ok(imap.rename("Projects", '"Old Projects"'), "RENAME")
    found = listing(imap)
    check("Old Projects" in found and "Projects" not in found, f"after RENAME: {found}")
    ok(imap.delete('"Old Projects"'), "DELETE")
    found = listing(imap)
    check("Old Projects" not in found, f"after DELETE: {found}")
    imap.logout()


def idle(smtp_port, port, cafile, user, password, subject):
    """An IDLE client sees EXISTS for a message delivered over SMTP."""
    imap = imaps(port, cafile)
    imap.login(user, password)
    before = int(ok(imap.select("INBOX"), "SELECT")[0])

    tag = imap._new_tag()
    imap.send(tag + b" IDLE\r\n")
    line = imap.readline()
    check(line.startswith(b"+"), f"IDLE answered {line!r}")

    deliver(smtp_port, subject)
    deadline = time.monotonic() + 20
    seen = None
    while seen is None:
        left = deadline - time.monotonic()
        check(left > 0, "no EXISTS within 20 seconds")
        imap.sock.settimeout(left)
        line = imap.readline()
        check(line != b"", "the server closed the connection during IDLE")
        match = re.match(rb"\* (\d+) EXISTS", line)
        if match:
            seen = int(match.group(1))
    check(seen == before + 1, f"EXISTS {seen}, had {before}")

    imap.sock.settimeout(TIMEOUT)
    imap.send(b"DONE\r\n")
    while True:
        line = imap.readline()
        check(line != b"", "closed after DONE")
        if line.startswith(tag + b" "):
            check(line.startswith(tag + b" OK"), f"IDLE ended with {line!r}")
            break
    found = ok(imap.search(None, "SUBJECT", f'"{subject}"'), "SEARCH")
    check(found == [str(seen).encode()], f"the new message: {found}")
    imap.logout()


def login_as(port, cafile, user, password, source):
    """One LOGIN over implicit TLS from `source`; the response code of a failure or OK."""
    imap = imaps(port, cafile, source)
    try:
        imap.login(user, password)
    except imaplib.IMAP4.error as exc:
        imap.logout()
        match = re.search(r"\[([A-Z]+)\]", str(exc))
        return match.group(1) if match else str(exc)
    imap.logout()
    return "OK"


def lockout(port, cafile, user, password):
    """Five wrong passwords lock 127.0.0.1 out, even for the right one; 127.0.0.2 is not."""
    for n in range(5):
        got = login_as(port, cafile, user, "wrong", "127.0.0.1")
        check(got == "AUTHENTICATIONFAILED", f"wrong password {n + 1}: {got}")
    got = login_as(port, cafile, user, password, "127.0.0.1")
    check(got == "UNAVAILABLE", f"right password after the lockout: {got}")

    # AUTHENTICATE is refused the same way.
    imap = imaps(port, cafile)
    credentials = f"\0{user}\0{password}".encode()
    try:
        imap.authenticate("PLAIN", lambda _challenge: credentials)
    except imaplib.IMAP4.error as exc:
        check("UNAVAILABLE" in str(exc), f"AUTHENTICATE after the lockout: {exc}")
    else:
        fail("AUTHENTICATE got in after the lockout")
    imap.logout()

    got = login_as(port, cafile, user, password, "127.0.0.2")
    check(got == "OK", f"another address: {got}")


def totp_code(secret_base32, at=None):
    """RFC 6238 with SHA-1, 6 digits, 30 s steps, computed with Python's hmac."""
    import base64, hashlib, hmac, struct
    padded = secret_base32 + "=" * (-len(secret_base32) % 8)
    key = base64.b32decode(padded.upper())
    step = int((time.time() if at is None else at) // 30)
    digest = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    number = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
    return f"{number % 1_000_000:06d}"


def two_factor(port, cafile, user, password, secret, app_password):
    """With TOTP on: the password alone fails, password$CODE works once, so does the app
    password."""
    got = login_as(port, cafile, user, password, "127.0.0.1")
    check(got == "AUTHENTICATIONFAILED", f"password alone: {got}")
    code = totp_code(secret)
    got = login_as(port, cafile, user, f"{password}${code}", "127.0.0.1")
    check(got == "OK", f"password$CODE: {got}")
    # The code's time step is spent (unless the clock moved on to the next step).
    if totp_code(secret) == code:
        got = login_as(port, cafile, user, f"{password}${code}", "127.0.0.1")
        check(got == "AUTHENTICATIONFAILED", f"the same code again: {got}")
    got = login_as(port, cafile, user, app_password, "127.0.0.1")
    check(got == "OK", f"app password: {got}")


def too_many_connections(port):
    """With one connection allowed per address, the second gets BYE instead of a greeting."""
    # The harness's readiness probe may hold the one slot for a moment yet.
    deadline = time.monotonic() + 5
    while True:
        try:
            first = imaplib.IMAP4(HOST, int(port), timeout=TIMEOUT)
            break
        except imaplib.IMAP4.error:
            check(time.monotonic() < deadline, "the first connection is refused too")
            time.sleep(0.1)
    with socket.create_connection((HOST, int(port)), timeout=TIMEOUT) as second:
        line = second.makefile("rb").readline()
    check(line.startswith(b"* BYE ") and b"Too many connections" in line,
          f"expected * BYE, got {line!r}")
    first.logout()


def too_big(port, cafile, user, password):
    """APPENDLIMIT is message_size; a larger APPEND is refused and the session goes on."""
    imap = imaps(port, cafile)
    imap.login(user, password)
    capabilities = ok(imap.capability(), "CAPABILITY")[0]
    check(b"APPENDLIMIT=1000" in capabilities.split(), f"CAPABILITY {capabilities!r}")
    typ, data = imap.append("INBOX", None, None, b"x" * 2000)
    check(typ == "NO" and b"[TOOBIG]" in data[0], f"oversized APPEND: {typ} {data!r}")
    ok(imap.append("INBOX", None, None, body("small")), "APPEND")
    check(ok(imap.select("INBOX"), "SELECT") == [b"1"], "the small message only")
    imap.logout()


def login_timeout(port):
    """A client silent before login gets BYE after imap_login_timeout_secs, then EOF."""
    with socket.create_connection((HOST, int(port)), timeout=TIMEOUT) as sock:
        reader = sock.makefile("rb")
        greeting = reader.readline()
        check(greeting.startswith(b"* OK "), f"greeting {greeting!r}")
        started = time.monotonic()
        line = reader.readline()
        waited = time.monotonic() - started
        check(line.startswith(b"* BYE "), f"expected BYE, got {line!r}")
        check(0.5 < waited < 8, f"BYE after {waited:.1f} s")
        check(reader.readline() == b"", "the connection stayed open after BYE")


def idle_shutdown(port, cafile, user, password):
    """Logs in, says so, and expects the server's BYE when it shuts down."""
    imap = imaps(port, cafile)
    imap.login(user, password)
    ok(imap.select("INBOX"), "SELECT")
    print("ready", flush=True)
    imap.sock.settimeout(30)
    line = imap.readline()
    check(line.startswith(b"* BYE ") and b"shutting down" in line, f"expected BYE: {line!r}")
    check(imap.readline() == b"", "the connection stayed open after BYE")


def hold_open(port, cafile, user, password):
    """Logs in over implicit TLS, says so, and once told "go" on stdin checks that the same
    connection still answers: the certificate reload test swaps the certificate meanwhile."""
    imap = imaps(port, cafile)
    imap.login(user, password)
    print("ready", flush=True)
    line = sys.stdin.readline()
    check(line == "go\n", f"expected go on stdin, got {line!r}")
    ok(imap.noop(), "NOOP")
    ok(imap.select("INBOX"), "SELECT")
    imap.logout()


SCENARIOS = {
    "starttls_list": starttls_list,
    "before_tls": before_tls,
    "plaintext_login": plaintext_login,
    "authenticate": authenticate,
    "read_back": read_back,
    "append_status": append_status,
    "manage": manage,
    "idle": idle,
    "lockout": lockout,
    "two_factor": two_factor,
    "too_many_connections": too_many_connections,
    "idle_shutdown": idle_shutdown,
    "too_big": too_big,
    "login_timeout": login_timeout,
    "hold_open": hold_open,
}


def timed_out(_signum, _frame):
    fail(f"the scenario took more than {LIMIT} seconds")


if __name__ == "__main__":
    signal.signal(signal.SIGALRM, timed_out)
    signal.alarm(LIMIT)
    try:
        SCENARIOS[sys.argv[1]](*sys.argv[2:])
    except SystemExit:
        raise
    except Exception as exc:  # noqa: BLE001 - any other failure fails the test
        fail(f"{type(exc).__name__}: {exc}")
    print("ok")
