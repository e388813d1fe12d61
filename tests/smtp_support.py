"""A real SMTP server on 127.0.0.1 (aiosmtpd) that records what it receives and can misbehave on cue.

Scripted faults, per recipient address (compared in lower case):

* ``temp_fail(addr, times)``: reply 451 to RCPT ``times`` times, then accept;
* ``reject(addr)``: reply 550 to RCPT, always;
* ``reject_sender(addr)``: reply 553 to MAIL FROM with that sender;
* ``drop_after_data(addr)``: take the whole message, then close the connection without
  a reply (the client cannot tell whether it was queued); once;
* ``stall_rcpt(addr)`` / ``stall_rcpt(nth=N)``: hold the reply to that RCPT (or to the
  Nth RCPT of the server's life) until ``release()``; once;
* ``stall_after_data(addr)``: take the message and hold the final reply until
  ``release()`` (the client times out or is killed); once.

``messages()`` lists the messages whose content arrived, in order. Also runnable as a
child process (``python -c``) that calls :func:`syndicate.ledger.deliver` for an open
digest, so a test can kill -9 a real send half-way: see :func:`child_deliver_command`.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPProtocol
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from syndicate.config import SmtpConfig

TESTS = Path(__file__).resolve().parent
HOST = "127.0.0.1"
SENDER = "digest@ledger.example.eu"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    mail_options: list[str]
    tls: bool
    login: str | None


@dataclass
class _Script:
    temp_fail: dict[str, int] = field(default_factory=dict)
    reject: dict[str, str] = field(default_factory=dict)
    drop_after_data: set[str] = field(default_factory=set)
    stall_after_data: set[str] = field(default_factory=set)
    stall_rcpt: set[str] = field(default_factory=set)
    stall_rcpt_nth: int | None = None
    reject_sender: dict[str, str] = field(default_factory=dict)


class SmtpServer:
    """The recording, scriptable handler plus where it listens."""

    def __init__(self) -> None:
        self.host = HOST
        self.port = 0
        self.connections = 0
        """Client connections accepted (the readiness probe is not counted)."""
        self.rcpt_commands = 0
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._script = _Script()
        self._temp_reply = "451 4.3.0 Try again later"
        self._stalled = threading.Event()
        self._release = threading.Event()

    # -- scripting (from the test thread) ----------------------------------------

    def temp_fail(self, address: str, times: int = 1, reply: str = "451 4.3.0 Try again later") -> None:
        with self._lock:
            self._script.temp_fail[address.lower()] = times
            self._temp_reply = reply

    def reject(self, address: str, reply: str = "550 5.1.1 No such user here") -> None:
        with self._lock:
            self._script.reject[address.lower()] = reply

    def reject_sender(self, address: str, reply: str = "553 5.7.1 Sender address rejected") -> None:
        with self._lock:
            self._script.reject_sender[address.lower()] = reply

    def drop_after_data(self, address: str) -> None:
        with self._lock:
            self._script.drop_after_data.add(address.lower())

    def stall_after_data(self, address: str) -> None:
        with self._lock:
            self._script.stall_after_data.add(address.lower())

    def stall_rcpt(self, address: str | None = None, *, nth: int | None = None) -> None:
        with self._lock:
            if address is not None:
                self._script.stall_rcpt.add(address.lower())
            if nth is not None:
                self._script.stall_rcpt_nth = nth

    def stalled(self) -> bool:
        """Whether a scripted stall is holding a reply right now (or did)."""
        return self._stalled.is_set()

    def wait_stalled(self, timeout: float = 30.0) -> bool:
        return self._stalled.wait(timeout)

    def release(self) -> None:
        self._release.set()

    def messages(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def copies(self) -> dict[str, int]:
        """How many copies each envelope recipient got."""
        counts: dict[str, int] = {}
        for message in self.messages():
            for rcpt in message.rcpt_tos:
                counts[rcpt] = counts.get(rcpt, 0) + 1
        return counts

    def config(self, **overrides: Any) -> SmtpConfig:
        values: dict[str, Any] = {"host": self.host, "port": self.port, "security": "none", "timeout": 5.0}
        values.update(overrides)
        return SmtpConfig(**values)

    # -- aiosmtpd hooks (server thread) ----------------------------------------------

    async def _hold(self) -> None:
        self._stalled.set()
        while not self._release.is_set():
            await asyncio.sleep(0.01)

    async def handle_MAIL(
        self, server: SMTPProtocol, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        with self._lock:
            reply = self._script.reject_sender.get(address.lower())
        if reply is not None:
            return reply
        # With a MAIL hook, recording the sender is the hook's job.
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTPProtocol, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        key = address.lower()
        with self._lock:
            self.rcpt_commands += 1
            script = self._script
            stall = key in script.stall_rcpt or script.stall_rcpt_nth == self.rcpt_commands
            if stall:
                script.stall_rcpt.discard(key)
                script.stall_rcpt_nth = None
            reply: str | None = script.reject.get(key)
            if reply is None and script.temp_fail.get(key, 0) > 0:
                script.temp_fail[key] -= 1
                reply = self._temp_reply
        if stall:
            await self._hold()
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTPProtocol, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        received = Received(
            mail_from=str(envelope.mail_from),
            rcpt_tos=list(envelope.rcpt_tos),
            data=content,
            mail_options=list(envelope.mail_options),
            # session.ssl is set by STARTTLS; an implicit-TLS transport carries its own ssl_object.
            tls=session.ssl is not None
            or (server.transport is not None and server.transport.get_extra_info("ssl_object") is not None),
            login=login,
        )
        keys = {r.lower() for r in envelope.rcpt_tos}
        with self._lock:
            self._received.append(received)
            drop = bool(keys & self._script.drop_after_data)
            self._script.drop_after_data -= keys
            stall = bool(keys & self._script.stall_after_data)
            self._script.stall_after_data -= keys
        if stall:
            await self._hold()
        if drop:
            # The message is here, but the client never hears so.
            assert server.transport is not None
            server.transport.abort()
        return "250 2.0.0 Queued"


class _Controller(Controller):
    def __init__(self, recorder: SmtpServer, **kwargs: Any) -> None:
        super().__init__(recorder, **kwargs)
        self.recorder = recorder

    def factory(self) -> SMTPProtocol:
        with self.recorder._lock:
            self.recorder.connections += 1
        return super().factory()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def password_checker(login: str, password: str) -> Callable[..., AuthResult]:
    def check(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == login.encode()
            and auth_data.password == password.encode()
        )
        # handled=False: aiosmtpd then sends the standard 535 reply itself.
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    return check


@contextmanager
def smtp_server(
    *,
    smtputf8: bool = True,
    starttls: ssl.SSLContext | None = None,
    implicit_tls: ssl.SSLContext | None = None,
    login: tuple[str, str] | None = None,
) -> Iterator[SmtpServer]:
    """Run a recording SMTP server on a free port of 127.0.0.1 for the ``with`` block.

    ``starttls``/``implicit_tls`` take the server's TLS context; ``login`` = (user,
    password) requires AUTH (over TLS when TLS is on, else in the clear).
    """
    recorder = SmtpServer()
    kwargs: dict[str, Any] = {"enable_SMTPUTF8": smtputf8, "server_hostname": "mx.test", "ready_timeout": 10}
    if starttls is not None:
        kwargs.update(tls_context=starttls, require_starttls=True)
    if implicit_tls is not None:
        kwargs["ssl_context"] = implicit_tls
    if login is not None:
        kwargs.update(
            authenticator=password_checker(*login),
            auth_required=True,
            auth_require_tls=starttls is not None or implicit_tls is not None,
        )
    for _ in range(5):
        recorder.port = free_port()
        controller = _Controller(recorder, hostname=HOST, port=recorder.port, **kwargs)
        try:
            controller.start()
        except OSError:  # the port was taken between picking and binding it
            continue
        break
    else:
        raise RuntimeError("no free port for the test SMTP server")
    recorder.connections = 0
    try:
        yield recorder
    finally:
        recorder.release()
        controller.stop()


# -- TLS material -------------------------------------------------------------------


def make_certificate(folder: Path) -> tuple[Path, Path] | None:
    """A self-signed certificate for 127.0.0.1 (cert, key), or None when no tool can make one.

    ``cryptography`` is not a dependency, so the ``openssl`` command does the work.
    """
    cert, key = folder / "cert.pem", folder / "key.pem"
    try:
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
             "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return cert, key


def server_tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


# -- messages ---------------------------------------------------------------------


def simple_message(subscriber: Any, *, sender: str = SENDER, subject: str = "Weekly digest") -> EmailMessage:
    """A small digest stand-in addressed to ``subscriber`` (anything with .email and .name)."""
    policy = SMTP if subscriber.email.isascii() else SMTPUTF8
    msg = EmailMessage(policy=policy)
    msg["From"] = Address("The Ledger", addr_spec=sender)
    msg["To"] = f"{subscriber.name} <{subscriber.email}>" if subscriber.name else subscriber.email
    msg["Subject"] = subject
    msg["Message-ID"] = f"<digest.test.{abs(hash(subscriber.email.lower()))}@ledger.example.eu>"
    msg.set_content(f"Hello {subscriber.name or subscriber.email},\n.\n..a line starting with dots\nThe end.\n")
    return msg


# -- a send in a child process, to be killed ---------------------------------------


_CHILD = """
import sys
sys.path.insert(0, {tests!r})
from pathlib import Path
from smtp_support import child_deliver
child_deliver(Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3:])
"""


def child_deliver_command(db: Path, port: int, emails: list[str]) -> list[str]:
    """argv for a child process that delivers the open digest in ``db`` to ``emails``."""
    return [sys.executable, "-c", _CHILD.format(tests=str(TESTS)), str(db), str(port), *emails]


def child_deliver(db: Path, port: int, emails: list[str]) -> None:
    from syndicate.ledger import Ledger, deliver
    from syndicate.store import Store
    from syndicate.subscribers import Subscriber

    with Store(db) as store:
        ledger = Ledger(store)
        record = ledger.open_digest()
        assert record is not None
        config = SmtpConfig(host=HOST, port=port, security="none", timeout=60.0, retries=0)
        report = deliver(config, ledger, record, [Subscriber(e) for e in emails], simple_message, environ={})
        print(report)
