"""The digest's subscriber list: a CSV file with an ``email`` and a ``name`` column.

A bad row never stops a send: it is reported as ``PATH:LINE: email: problem`` and
skipped, so one typo does not keep the digest from everyone else. An address listed
twice (compared without regard to case) gets one copy; the second row is reported
with both line numbers.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from email.errors import HeaderParseError
from email.headerregistry import Address
from pathlib import Path

from .errors import DigestError

__all__ = ["Subscriber", "address_problem", "load_subscribers"]


@dataclass(frozen=True)
class Subscriber:
    email: str
    name: str = ""


def address_problem(address: str) -> str | None:
    """Why ``address`` cannot be sent to, or None when it looks deliverable.

    Deliberately modest: one ``@``, a local part, a domain with a dot, no whitespace or
    control characters, and (for ASCII addresses) the RFC 5322 grammar as the ``email``
    package reads it. Non-ASCII addresses are allowed; they need a server that offers
    SMTPUTF8, which the mailer checks when it sends.
    """
    if not address:
        return "missing address"
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in address):
        return f"{address!r} contains whitespace or a control character"
    if address.count("@") != 1:
        return f"{address!r} must contain exactly one @"
    local, domain = address.split("@")
    if not local:
        return f"{address!r} has nothing before the @"
    if "." not in domain or any(not label for label in domain.split(".")):
        return f"{address!r}: domain {domain!r} is not a domain name like example.org"
    if domain.startswith("[") or any(ch in domain for ch in "[]()<>,;:\\\"'"):
        return f"{address!r}: domain {domain!r} is not a domain name like example.org"
    if address.isascii():
        try:
            Address(addr_spec=address)
        except (ValueError, IndexError, HeaderParseError) as exc:
            return f"{address!r} is not a valid address ({exc})"
    elif local.startswith(".") or local.endswith(".") or ".." in local or any(ch in local for ch in '()<>,;:\\"[]'):
        return f"{address!r} is not a valid address"
    return None


def _ascii_domain(address: str) -> tuple[str, str | None]:
    """``address`` with an internationalised domain in its ASCII (IDNA) form, which every
    server and the To: header accept; the local part is left as written."""
    local, domain = address.rsplit("@", 1)
    if domain.isascii():
        return address, None
    try:
        return f"{local}@{domain.encode('idna').decode('ascii')}", None
    except UnicodeError as exc:
        return address, f"{address!r}: domain {domain!r} cannot be written in ASCII ({exc})"


def load_subscribers(path: Path) -> tuple[list[Subscriber], list[str]]:
    """The subscribers in file order, and the problems found (bad rows, duplicates).

    The first row is the header and must name an ``email`` column; ``name`` is optional
    and other columns are ignored. A UTF-8 byte order mark (as spreadsheet programs
    write) is tolerated. A missing or unreadable file raises :class:`DigestError`.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DigestError(f"{path}: cannot read the subscriber list: {exc.strerror or exc}") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DigestError(f"{path}:{line}: the subscriber list is not UTF-8 text ({exc.reason})") from exc

    reader = csv.reader(io.StringIO(text, newline=""))
    problems: list[str] = []
    subscribers: list[Subscriber] = []
    first_line: dict[str, int] = {}
    email_col: int | None = None
    name_col: int | None = None
    # csv counts physical lines; a row starts on the line after the previous row ended,
    # which keeps line numbers right even when a quoted name spans lines.
    end_of_previous = 0
    try:
        for row in reader:
            line = end_of_previous + 1
            end_of_previous = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if email_col is None:
                header = [cell.strip().lower() for cell in row]
                if "email" not in header:
                    raise DigestError(
                        f"{path}:{line}: the first row must be a header naming an 'email' column "
                        f"(and optionally 'name'), e.g. 'email,name'; found {','.join(row)!r}"
                    )
                email_col = header.index("email")
                name_col = header.index("name") if "name" in header else None
                continue
            address = row[email_col].strip() if email_col < len(row) else ""
            problem = address_problem(address)
            if problem is None:
                address, problem = _ascii_domain(address)
            if problem is not None:
                problems.append(f"{path}:{line}: email: {problem}")
                continue
            key = address.lower()
            if key in first_line:
                problems.append(
                    f"{path}:{line}: email: {address!r} duplicates line {first_line[key]}; it is sent one copy"
                )
                continue
            first_line[key] = line
            name = row[name_col] if name_col is not None and name_col < len(row) else ""
            # Names go into a To: header; collapse line breaks and runs of spaces.
            subscribers.append(Subscriber(address, " ".join(name.split())))
    except csv.Error as exc:
        raise DigestError(f"{path}:{reader.line_num}: cannot read the subscriber list: {exc}") from exc
    if email_col is None:
        problems.append(f"{path}:1: email: the file is empty (expected a header row 'email,name')")
    return subscribers, problems
