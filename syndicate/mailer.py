"""SMTP delivery with ``smtplib``: one connection for the whole send, classified outcomes.

Each message goes out as its own transaction (MAIL, RCPT, DATA) through smtplib's
low-level calls rather than ``send_message``, because the send ledger must note
"pending" immediately before the message content leaves, and because what a lost
connection means depends on when it happened:

* before the content was sent, the server cannot have the message: safe to retry;
* after the content was sent and before the final reply, the server may or may not have
  queued it: the outcome is *unknown* and is never retried automatically, since a
  second copy is worse than a missing one.

A 4xx reply at any step is *transient* (retried with exponential backoff), a 5xx reply
is *permanent*. Failing to connect or log in at all raises :class:`SendError`, which
stops the whole send (the ledger keeps who already has the message).
"""

from __future__ import annotations

import io
import os
import re
import smtplib
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.generator import BytesGenerator
from email.message import EmailMessage, Message
from email.utils import getaddresses
from pathlib import Path

from .config import SmtpConfig
from .errors import DigestError, SendError
from .fsutil import atomic_write_bytes

__all__ = [
    "ACCEPTED",
    "PERMANENT",
    "SECURITY_MODES",
    "TRANSIENT",
    "UNKNOWN",
    "Attempt",
    "Mailer",
    "backoff_delay",
    "envelope_recipients",
    "envelope_sender",
    "read_password",
    "send_test_copy",
]

ACCEPTED = "accepted"
TRANSIENT = "transient"
PERMANENT = "permanent"
UNKNOWN = "unknown"

SECURITY_MODES = ("starttls", "tls", "none")

BACKOFF_BASE = 1.0
BACKOFF_MAX = 60.0

Sleep = Callable[[float], None]


@dataclass(frozen=True)
class Attempt:
    """The outcome of one try at one message: ``outcome`` is one of the four constants above."""

    outcome: str
    reply: str
    """The server's reply (``550 5.1.1 no such user``) or what happened to the connection."""
    code: int | None = None


class _Fatal(Exception):
    """A connection problem that retrying cannot fix (bad certificate, wrong password)."""


def backoff_delay(retry: int) -> float:
    """Seconds to wait before retry number ``retry`` (1, 2, ...): 1, 2, 4, ... up to a minute."""
    return float(min(BACKOFF_BASE * 2 ** (retry - 1), BACKOFF_MAX))


def read_password(smtp: SmtpConfig, environ: Mapping[str, str] | None = None) -> str | None:
    """The SMTP password from the environment variable named by ``smtp.password_env``.

    None when no username is configured (no login). A username without a password is a
    DigestError: the password is never read from the configuration file.
    """
    if not smtp.username:
        return None
    env = os.environ if environ is None else environ
    password = env.get(smtp.password_env, "")
    if not password:
        raise DigestError(
            f"environment variable {smtp.password_env} is not set: it must hold the SMTP password for "
            f"{smtp.username} at {smtp.host}:{smtp.port} (smtp.password_env names the variable)"
        )
    return password


def envelope_sender(message: Message) -> str:
    """The address in the message's From header, used as the envelope sender (MAIL FROM)."""
    header = message["From"]
    if header is None:
        raise DigestError("the message has no From header to take the envelope sender from")
    addresses = getattr(header, "addresses", None)
    if addresses:
        return str(addresses[0].addr_spec)
    pairs = getaddresses([str(header)])
    if not pairs or "@" not in pairs[0][1]:
        raise DigestError(f"cannot read a sender address from the From header {str(header)!r}")
    return pairs[0][1]


def envelope_recipients(message: Message) -> list[str]:
    """Every address in the To, Cc and Bcc headers."""
    found: list[str] = []
    for name in ("To", "Cc", "Bcc"):
        for header in message.get_all(name, []):
            addresses = getattr(header, "addresses", None)
            if addresses is not None:
                found.extend(str(a.addr_spec) for a in addresses if a.addr_spec)
            else:
                found.extend(addr for _, addr in getaddresses([str(header)]) if addr)
    return found


def _reason(exc: BaseException) -> str:
    """A short human reason for a connection error: ``Connection refused``, ``timed out``."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate verification failed: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed: {exc.reason or exc} (is smtp.security right for this port?)"
    if isinstance(exc, smtplib.SMTPResponseException):
        return _reply_text(exc.smtp_code, exc.smtp_error)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc)
    return text or type(exc).__name__


def _reply_text(code: int, message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
    return f"{code} {' '.join(text.split())}".strip()


_BARE_EOL = re.compile(rb"\r\n|\r|\n")
_LEADING_DOT = re.compile(rb"^\.", re.MULTILINE)


def _wire_bytes(message: Message, *, utf8: bool) -> bytes:
    """The message as DATA content: CRLF line ends, dots doubled, Bcc removed, final ``.``."""
    if message.get("Bcc") is not None:
        message = _copy_without_bcc(message)
    policy = message.policy.clone(linesep="\r\n")
    if utf8:
        policy = policy.clone(utf8=True)
    buffer = io.BytesIO()
    BytesGenerator(buffer, policy=policy).flatten(message, linesep="\r\n")
    data = _LEADING_DOT.sub(b"..", _BARE_EOL.sub(b"\r\n", buffer.getvalue()))
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


def _copy_without_bcc(message: Message) -> Message:
    import copy

    clone = copy.copy(message)
    del clone["Bcc"]
    return clone


class Mailer:
    """One SMTP connection, opened on first use and reopened after a drop.

    ``sleep`` is called for the backoff between connection attempts (tests pass a fake).
    ``ssl_context`` defaults to the system's trusted certificates with hostname checks.
    """

    def __init__(
        self,
        smtp: SmtpConfig,
        *,
        environ: Mapping[str, str] | None = None,
        sleep: Sleep = time.sleep,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if smtp.security not in SECURITY_MODES:
            raise DigestError(f"smtp.security must be one of {', '.join(SECURITY_MODES)}, not {smtp.security!r}")
        self.config = smtp
        self.password = read_password(smtp, environ)
        self.sleep = sleep
        self.ssl_context = ssl_context
        self.connections = 0
        """How many connections were opened (the send reuses one unless it drops)."""
        self._smtp: smtplib.SMTP | None = None
        self._local_hostname: str | None = None

    def __enter__(self) -> Mailer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def connected(self) -> bool:
        return self._smtp is not None

    def _context(self) -> ssl.SSLContext:
        if self.ssl_context is None:
            self.ssl_context = ssl.create_default_context()
        return self.ssl_context

    # -- connection -------------------------------------------------------------

    def connect(self) -> smtplib.SMTP:
        """The open connection, connecting (with retries and backoff) if there is none.

        Raises SendError (``cannot connect to SMTP server HOST:PORT: reason``) when every
        attempt failed, or at once when retrying cannot help (certificate, login refused).
        """
        if self._smtp is not None:
            return self._smtp
        cfg = self.config
        where = f"{cfg.host}:{cfg.port}"
        retries = max(0, cfg.retries)
        for attempt in range(retries + 1):
            try:
                self._smtp = self._open()
                self.connections += 1
                return self._smtp
            except _Fatal as exc:
                raise SendError(str(exc)) from exc
            except ssl.SSLCertVerificationError as exc:
                # The same certificate will fail the same way: no point retrying.
                raise SendError(f"cannot connect to SMTP server {where}: {_reason(exc)}") from exc
            except (OSError, smtplib.SMTPException) as exc:
                if isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code >= 500:
                    raise SendError(f"cannot connect to SMTP server {where}: {_reason(exc)}") from exc
                if attempt == retries:
                    raise SendError(f"cannot connect to SMTP server {where}: {_reason(exc)}") from exc
                self.sleep(backoff_delay(attempt + 1))
        raise AssertionError("unreachable")  # pragma: no cover

    def _open(self) -> smtplib.SMTP:
        cfg = self.config
        if self._local_hostname is None:
            # getfqdn() can take seconds on hosts with slow reverse DNS: once per send, not per connection.
            self._local_hostname = socket.getfqdn()
        conn: smtplib.SMTP
        if cfg.security == "tls":
            conn = smtplib.SMTP_SSL(
                cfg.host, cfg.port, local_hostname=self._local_hostname, timeout=cfg.timeout, context=self._context()
            )
        else:
            conn = smtplib.SMTP(cfg.host, cfg.port, local_hostname=self._local_hostname, timeout=cfg.timeout)
        try:
            conn.ehlo_or_helo_if_needed()
            if cfg.security == "starttls":
                if not conn.has_extn("starttls"):
                    raise _Fatal(
                        f"SMTP server {cfg.host}:{cfg.port} does not offer STARTTLS "
                        '(set smtp.security to "tls" for implicit TLS, or "none" on a trusted network)'
                    )
                conn.starttls(context=self._context())
                conn.ehlo()
            if cfg.username:
                self._login(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _login(self, conn: smtplib.SMTP) -> None:
        cfg = self.config
        who = f"SMTP server {cfg.host}:{cfg.port} as {cfg.username}"
        try:
            conn.login(cfg.username, self.password or "")
        except smtplib.SMTPNotSupportedError as exc:
            raise _Fatal(
                f"cannot log in to {who}: the server offers no AUTH"
                + (" (many servers offer it only after STARTTLS)" if cfg.security == "none" else "")
            ) from exc
        except smtplib.SMTPAuthenticationError as exc:
            if exc.smtp_code >= 500:
                raise _Fatal(f"cannot log in to {who}: {_reason(exc)}") from exc
            raise
        except smtplib.SMTPException as exc:
            if isinstance(exc, smtplib.SMTPServerDisconnected):
                raise
            raise _Fatal(f"cannot log in to {who}: {_reason(exc)}") from exc

    def supports(self, extension: str) -> bool:
        """Whether the connected server announced ``extension`` in its EHLO reply."""
        return self.connect().has_extn(extension)

    def close(self) -> None:
        """QUIT politely; a connection that is already gone is simply dropped."""
        conn, self._smtp = self._smtp, None
        if conn is None:
            return
        try:
            conn.quit()
        except (OSError, smtplib.SMTPException):
            conn.close()

    def _drop(self) -> None:
        conn, self._smtp = self._smtp, None
        if conn is not None:
            conn.close()

    # -- one message --------------------------------------------------------------

    def attempt(
        self,
        sender: str,
        recipient: str,
        message: Message,
        *,
        before_data: Callable[[], None] | None = None,
    ) -> Attempt:
        """Try once to hand ``message`` to the server for ``recipient``.

        ``before_data`` runs right before the DATA command (the ledger's "pending" mark).
        Connects first if needed, which may raise SendError.
        """
        conn = self.connect()
        utf8 = not (sender.isascii() and recipient.isascii())
        if utf8 and not conn.has_extn("smtputf8"):
            return Attempt(PERMANENT, "the SMTP server does not offer SMTPUTF8, which this non-ASCII address needs")
        try:
            payload = _wire_bytes(message, utf8=utf8)
        except (ValueError, TypeError, UnicodeError) as exc:
            return Attempt(PERMANENT, f"cannot serialise the message: {exc}")
        mail_options: list[str] = []
        if utf8:
            mail_options += ["SMTPUTF8", "BODY=8BITMIME"]
        elif not payload.isascii() and conn.has_extn("8bitmime"):
            mail_options.append("BODY=8BITMIME")

        content_sent = False
        try:
            conn.command_encoding = "ascii"
            code, reply = conn.mail(sender, mail_options)
            if 500 <= code < 600:
                # A refused sender is refused for every recipient: stop rather than fail them all.
                self._reset()
                raise SendError(
                    f"SMTP server {self.config.host}:{self.config.port} refused the sender {sender}: "
                    f"{_reply_text(code, reply)}"
                )
            if code != 250:
                return self._refused(code, reply, "MAIL FROM")
            code, reply = conn.rcpt(recipient)
            if code not in (250, 251, 252):
                return self._refused(code, reply, "RCPT TO")
            if before_data is not None:
                before_data()
            conn.putcmd("data")
            code, reply = conn.getreply()
            if code != 354:
                return self._refused(code, reply, "DATA")
            # From here on the server may hold the whole message: a lost reply is ambiguous.
            content_sent = True
            conn.send(payload)
            code, reply = conn.getreply()
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self._drop()
            if content_sent:
                return Attempt(
                    UNKNOWN,
                    f"connection lost after the message was sent, before the server's reply ({_reason(exc)})",
                )
            return Attempt(TRANSIENT, f"connection lost before the message was sent ({_reason(exc)})")
        except smtplib.SMTPResponseException as exc:
            self._drop()
            if content_sent:
                return Attempt(UNKNOWN, f"unreadable reply after the message was sent: {_reason(exc)}", exc.smtp_code)
            return Attempt(TRANSIENT, f"unreadable reply: {_reason(exc)}", exc.smtp_code)
        except (smtplib.SMTPException, ValueError) as exc:
            # smtplib refuses e.g. an address with a line break before sending anything.
            self._reset()
            return Attempt(PERMANENT, f"cannot send to this address: {exc}")
        text = _reply_text(code, reply)
        if 200 <= code < 300:
            return Attempt(ACCEPTED, text, code)
        if 400 <= code < 600:
            return self._classified(code, text)
        # Not a valid SMTP reply where the final one should be: the server's state is unknown.
        self._drop()
        return Attempt(UNKNOWN, f"unexpected reply after the message was sent: {text}", code)

    def _refused(self, code: int, reply: bytes, step: str) -> Attempt:
        text = _reply_text(code, reply)
        if code == 421 or not 400 <= code < 600:
            # 421: the server is closing the connection; anything else is garbage.
            self._drop()
            return Attempt(TRANSIENT, f"{step}: {text}", code)
        self._reset()
        return self._classified(code, text, step)

    def _classified(self, code: int, text: str, step: str = "") -> Attempt:
        if code == 421:
            self._drop()
        label = f"{step}: {text}" if step else text
        return Attempt(TRANSIENT if code < 500 else PERMANENT, label, code)

    def _reset(self) -> None:
        """RSET after a refused transaction, so the next one starts clean; drop if that fails."""
        if self._smtp is None:
            return
        try:
            code, _ = self._smtp.rset()
        except (OSError, smtplib.SMTPException):
            self._drop()
            return
        if code != 250:
            self._drop()

    def send(
        self,
        sender: str,
        recipient: str,
        message: Message,
        *,
        before_data: Callable[[int], None] | None = None,
        before_attempt: Callable[[], None] | None = None,
    ) -> tuple[Attempt, int]:
        """Send one message, retrying transient failures; the final attempt and how many were made.

        ``before_data(n)`` runs before DATA on attempt ``n``; ``before_attempt`` before each
        attempt (rate limiting). Exhausted transient failures come back as TRANSIENT.
        """
        retries = max(0, self.config.retries)
        result = Attempt(TRANSIENT, "not attempted")
        for number in range(1, retries + 2):
            if number > 1:
                self.sleep(backoff_delay(number - 1))
            if before_attempt is not None:
                before_attempt()
            hook = None if before_data is None else (lambda n=number: before_data(n))
            result = self.attempt(sender, recipient, message, before_data=hook)
            if result.outcome != TRANSIENT:
                return result, number
        return result, retries + 1


def send_test_copy(
    smtp: SmtpConfig,
    message: EmailMessage,
    *,
    environ: Mapping[str, str] | None = None,
    sender: str | None = None,
    sleep: Sleep = time.sleep,
    ssl_context: ssl.SSLContext | None = None,
) -> None:
    """Send ``message`` to the addresses in its To/Cc/Bcc headers (``digest --to``); no ledger.

    Raises SendError when any recipient was not accepted, naming the server's reply.
    """
    recipients = envelope_recipients(message)
    if not recipients:
        raise DigestError("the test copy has no recipient (To header)")
    envelope_from = sender or envelope_sender(message)
    with open_transport(smtp, environ=environ, sleep=sleep, ssl_context=ssl_context) as mailer:
        for recipient in recipients:
            result, attempts = mailer.send(envelope_from, recipient, message)
            if result.outcome == ACCEPTED:
                continue
            tries = f" after {attempts} attempts" if attempts > 1 else ""
            if result.outcome == UNKNOWN:
                raise SendError(f"test copy to {recipient}: delivery unknown: {result.reply}")
            raise SendError(f"test copy to {recipient} was not accepted{tries}: {result.reply}")


class OutboxMailer:
    """Writes each message as an ``.eml`` file into a folder instead of sending it.

    For trying a site (the bundled example) and for staging: the ledger, the pending
    mark and the exactly-once bookkeeping run exactly as with SMTP. File names come from
    the Message-ID, so a message written twice would overwrite itself, not duplicate.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def __enter__(self) -> OutboxMailer:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def send(
        self,
        sender: str,
        recipient: str,
        message: Message,
        *,
        before_data: Callable[[int], None] | None = None,
        before_attempt: Callable[[], None] | None = None,
    ) -> tuple[Attempt, int]:
        if before_attempt is not None:
            before_attempt()
        if before_data is not None:
            before_data(1)
        ident = re.sub(r"[^A-Za-z0-9._-]+", "_", str(message.get("Message-ID", "")).strip("<> ")) or "message"
        path = self.folder / f"{ident}.eml"
        try:
            # An internationalised mailbox can only be written as raw UTF-8 (RFC 6532).
            policy = message.policy if recipient.isascii() else message.policy.clone(utf8=True)
            atomic_write_bytes(path, message.as_bytes(policy=policy), only_if_changed=False)
        except OSError as exc:
            raise SendError(f"cannot write to the outbox folder {self.folder}: {exc.strerror}") from exc
        return Attempt(ACCEPTED, f"written to {path}"), 1


def open_transport(
    smtp: SmtpConfig,
    *,
    environ: Mapping[str, str] | None = None,
    sleep: Sleep = time.sleep,
    ssl_context: ssl.SSLContext | None = None,
) -> Mailer | OutboxMailer:
    """The configured way out: the outbox folder when ``smtp.outbox`` is set, else SMTP."""
    if smtp.outbox is not None:
        return OutboxMailer(smtp.outbox)
    return Mailer(smtp, environ=environ, sleep=sleep, ssl_context=ssl_context)
