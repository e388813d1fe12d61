"""One digest email for one recipient, built with the standard library's ``email`` package.

``multipart/alternative`` with the plain text first and the HTML second (RFC 2046: the
last part is the preferred one), UTF-8, quoted-printable so no line passes 998 octets,
and the list headers mail clients use for their one-click unsubscribe button (RFC 2369,
RFC 8058).
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import format_datetime
from urllib.parse import quote

from .config import Config
from .errors import ConfigError, DigestError
from .tokens import unsubscribe_token


class _DigestPolicy(EmailPolicy):
    """The SMTP policy (CRLF, 78-column folding), except that List-Unsubscribe folds only
    between its URIs. The standard folder would turn a long URI into RFC 2047 encoded words,
    which mail providers do not decode in that header, and one-click unsubscribe would break.
    """

    def _fold_uris(self, name: str, value: str) -> str:
        uris = [u.strip() for u in re.split(r"(?<=>)\s*,\s*(?=<)", str(value).strip())]
        return f"{name}: " + ("," + self.linesep + " ").join(uris) + self.linesep

    def fold(self, name: str, value: str) -> str:
        if name.lower() == "list-unsubscribe":
            return self._fold_uris(name, value)
        return super().fold(name, value)

    def fold_binary(self, name: str, value: str) -> bytes:
        if name.lower() == "list-unsubscribe":
            return self._fold_uris(name, value).encode("ascii")
        return super().fold_binary(name, value)


DIGEST_POLICY = _DigestPolicy(linesep="\r\n")


def unsubscribe_links(config: Config, email: str, secret: str) -> tuple[str | None, str | None]:
    """The recipient's https unsubscribe URL (token filled in) and mailto: URI, each if configured."""
    d = config.digest
    https_url = None
    if d.unsubscribe_url:
        try:
            https_url = d.unsubscribe_url.format(email=quote(email, safe=""), token=unsubscribe_token(secret, email))
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigError(
                f"{config.path}: digest.unsubscribe_url: cannot fill in {d.unsubscribe_url!r} "
                f"(known placeholders: {{email}}, {{token}}): {exc}"
            ) from exc
    mailto = None
    if d.unsubscribe_mailto:
        address = d.unsubscribe_mailto.removeprefix("mailto:")
        mailto = f"mailto:{address}?subject={quote('unsubscribe ' + email, safe='')}"
    return https_url, mailto


def message_id(content_hash: str, email: str, domain: str) -> str:
    """Stable per digest and recipient, so a resend of the same digest is recognisably the same message."""
    who = hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()[:16]
    return f"<digest.{content_hash[:24]}.{who}@{domain}>"


def build_message(
    config: Config,
    *,
    subject: str,
    html: str,
    text: str,
    to_email: str,
    to_name: str = "",
    date: datetime,
    content_hash: str,
    secret: str,
) -> EmailMessage:
    d = config.digest
    if not d.from_address or "@" not in d.from_address:
        raise ConfigError(f"{config.path}: digest.from_address: a sender address is required to send the digest")
    # The configured headers are the same for every recipient: a bad one is the config's
    # fault, reported once, never recorded as a failure of each address.
    for key in ("from_name", "from_address", "reply_to", "list_id"):
        if any(ch in getattr(d, key) for ch in "\r\n"):
            raise ConfigError(f"{config.path}: digest.{key}: must be one line")
    try:
        sender = Address(display_name=d.from_name or config.site.title, addr_spec=d.from_address)
    except (ValueError, IndexError) as exc:
        raise ConfigError(
            f"{config.path}: digest.from_address: {d.from_address!r} is not a plain address like "
            f"digest@example.org (the name goes in digest.from_name): {exc}"
        ) from exc
    recipient: Address | str
    if to_email.split("@")[0].isascii():
        try:
            recipient = Address(display_name=to_name, addr_spec=to_email)
        except (ValueError, IndexError) as exc:
            raise DigestError(f"cannot address a message to {to_email!r}: {exc}") from exc
    else:
        # An internationalised mailbox (RFC 6531): the header registry refuses to build one,
        # but parses it from text; it goes out raw in UTF-8 over SMTPUTF8 only.
        quoted = to_name.replace("\\", "\\\\").replace('"', '\\"')
        recipient = f'"{quoted}" <{to_email}>' if to_name else to_email
    https_url, mailto = unsubscribe_links(config, to_email, secret)
    msg = EmailMessage(policy=DIGEST_POLICY)
    msg["From"] = sender
    msg["To"] = recipient
    if d.reply_to:
        msg["Reply-To"] = d.reply_to
    msg["Subject"] = " ".join(subject.split())
    msg["Date"] = format_datetime(date.astimezone(config.tz))
    msg["Message-ID"] = message_id(content_hash, to_email, sender.domain)
    if d.list_id:
        msg["List-Id"] = d.list_id
    links = [f"<{u}>" for u in (https_url, mailto) if u]
    if links:
        msg["List-Unsubscribe"] = ", ".join(links)
    if https_url:
        # RFC 8058: the https link may be POSTed to without a confirmation page.
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    return msg
