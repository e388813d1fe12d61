"""Unsubscribe tokens: stable, case-insensitive on the address, tamper-evident."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from syndicate.errors import DigestError
from syndicate.tokens import read_secret, unsubscribe_token, verify_unsubscribe_token

SECRET = "s3cret-for-tests"


def test_token_is_truncated_urlsafe_hmac_of_the_lowercased_address() -> None:
    mac = hmac.new(SECRET.encode(), b"ana@example.org", hashlib.sha256).digest()
    expected = base64.urlsafe_b64encode(mac).rstrip(b"=").decode()[:32]
    assert unsubscribe_token(SECRET, "Ana@Example.org") == expected
    assert len(expected) == 32
    assert set(expected) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_roundtrip() -> None:
    token = unsubscribe_token(SECRET, "ana@example.org")
    assert verify_unsubscribe_token(SECRET, "ana@example.org", token)
    assert verify_unsubscribe_token(SECRET, " ANA@example.org ", token)
    assert unsubscribe_token(SECRET, "zoë@exämple.org") != unsubscribe_token(SECRET, "zoe@example.org")


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),
        lambda t: t[:-1],
        lambda t: t + "x",
        lambda t: "",
        lambda t: t[:-1] + "é",
    ],
)
def test_tampered_token_is_rejected(tamper: object) -> None:
    token = unsubscribe_token(SECRET, "ana@example.org")
    assert not verify_unsubscribe_token(SECRET, "ana@example.org", tamper(token))  # type: ignore[operator]


def test_token_is_bound_to_address_and_secret() -> None:
    token = unsubscribe_token(SECRET, "ana@example.org")
    assert not verify_unsubscribe_token(SECRET, "ben@example.org", token)
    assert not verify_unsubscribe_token("another secret", "ana@example.org", token)


def test_read_secret() -> None:
    assert read_secret("X_SECRET", {"X_SECRET": "abc "}) == "abc "
    for environ in ({}, {"X_SECRET": ""}, {"X_SECRET": "  "}):
        with pytest.raises(
            DigestError, match=r"^environment variable X_SECRET is not set: the unsubscribe token secret"
        ):
            read_secret("X_SECRET", environ)


def test_read_secret_defaults_to_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_SECRET", "from-env")
    assert read_secret("X_SECRET") == "from-env"
