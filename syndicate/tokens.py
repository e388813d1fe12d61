"""Unsubscribe tokens: an HMAC of the address, so the site can check a link was sent to it.

The token is HMAC-SHA256 over the address with surrounding whitespace removed and
lowercased (UTF-8), keyed with the shared secret, encoded as URL-safe base64 without
padding and cut to 32 characters (192 bits). The site's unsubscribe endpoint computes
the same value from the ``email`` in the link and compares; no list of issued tokens is
kept anywhere.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Mapping

from .errors import DigestError

__all__ = ["TOKEN_LENGTH", "read_secret", "unsubscribe_token", "verify_unsubscribe_token"]

TOKEN_LENGTH = 32


def _normalise(email: str) -> bytes:
    return email.strip().lower().encode("utf-8")


def unsubscribe_token(secret: str, email: str) -> str:
    """The unsubscribe token of ``email`` under ``secret``."""
    if not secret:
        raise DigestError("the unsubscribe token secret is empty")
    digest = hmac.new(secret.encode("utf-8"), _normalise(email), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")[:TOKEN_LENGTH]


def verify_unsubscribe_token(secret: str, email: str, token: str) -> bool:
    """Whether ``token`` is the unsubscribe token of ``email``, compared in constant time."""
    expected = unsubscribe_token(secret, email).encode("ascii")
    # Encode first: compare_digest refuses non-ASCII str, and a tampered token may hold any text.
    return hmac.compare_digest(expected, token.strip().encode("utf-8"))


def read_secret(env_name: str, environ: Mapping[str, str] | None = None) -> str:
    """The secret from the environment variable ``env_name``; DigestError when unset or empty."""
    env = os.environ if environ is None else environ
    value = env.get(env_name, "")
    # The value is used as given (the site must key its HMAC identically); blank counts as unset.
    if not value.strip():
        raise DigestError(
            f"environment variable {env_name} is not set: the unsubscribe token secret is read from it "
            "(use the same secret as the site's unsubscribe endpoint)"
        )
    return value
