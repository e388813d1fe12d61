"""SMTP delivery against a real aiosmtpd server on 127.0.0.1: security modes, login, outcomes."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from email import message_from_bytes
from email.policy import default
from pathlib import Path

import pytest
from smtp_support import (
    SENDER,
    free_port,
    make_certificate,
    server_tls_context,
    simple_message,
    smtp_server,
)

from syndicate.config import SmtpConfig
from syndicate.errors import DigestError, SendError
from syndicate.mailer import (
    ACCEPTED,
    PERMANENT,
    TRANSIENT,
    UNKNOWN,
    Mailer,
    backoff_delay,
    envelope_recipients,
    envelope_sender,
    send_test_copy,
)
from syndicate.subscribers import Subscriber

ANA = Subscriber("ana@example.org", "Ana")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    made = make_certificate(tmp_path_factory.mktemp("tls"))
    if made is None:
        pytest.skip("no way to make a self-signed certificate: the openssl command is not available")
    return made


@pytest.fixture
def client_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    """A client context that trusts the test certificate (and still checks the host name)."""
    return ssl.create_default_context(cafile=str(certificate[0]))


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Iterator[Sleeps]:
    yield Sleeps()


def test_connection_refused_is_one_line_send_error_after_backoff(sleeps: Sleeps) -> None:
    port = free_port()
    config = SmtpConfig(host="127.0.0.1", port=port, security="none", timeout=2, retries=2)
    with pytest.raises(SendError) as caught:
        send_test_copy(config, simple_message(ANA), sleep=sleeps)
    assert str(caught.value) == f"cannot connect to SMTP server 127.0.0.1:{port}: Connection refused"
    assert sleeps == [1.0, 2.0]


def test_connection_refused_without_retries_does_not_wait(sleeps: Sleeps) -> None:
    config = SmtpConfig(host="127.0.0.1", port=1, security="none", timeout=2, retries=0)
    with pytest.raises(SendError, match=r"^cannot connect to SMTP server 127\.0\.0\.1:1: Connection refused$"):
        Mailer(config, sleep=sleeps).connect()
    assert sleeps == []


def test_test_copy_arrives_with_the_envelope_from_the_headers() -> None:
    with smtp_server() as server:
        send_test_copy(server.config(), simple_message(ANA))
        [received] = server.messages()
    assert (received.mail_from, received.rcpt_tos, received.tls, received.login) == (
        SENDER,
        ["ana@example.org"],
        False,
        None,
    )
    parsed = message_from_bytes(received.data, policy=default)
    assert parsed["To"] == "Ana <ana@example.org>"
    assert "..a line starting with dots" in parsed.get_content()  # dot-stuffing undone by the server


def test_starttls_with_a_trusted_certificate(certificate: tuple[Path, Path], client_tls: ssl.SSLContext) -> None:
    with smtp_server(starttls=server_tls_context(*certificate)) as server:
        send_test_copy(server.config(security="starttls"), simple_message(ANA), ssl_context=client_tls)
        [received] = server.messages()
    assert received.tls


def test_implicit_tls(certificate: tuple[Path, Path], client_tls: ssl.SSLContext) -> None:
    with smtp_server(implicit_tls=server_tls_context(*certificate)) as server:
        send_test_copy(server.config(security="tls"), simple_message(ANA), ssl_context=client_tls)
        [received] = server.messages()
    assert received.tls


def test_untrusted_certificate_fails_at_once(certificate: tuple[Path, Path], sleeps: Sleeps) -> None:
    # The default context trusts only the system's CAs: a self-signed certificate is refused.
    with smtp_server(implicit_tls=server_tls_context(*certificate)) as server:
        with pytest.raises(SendError) as caught:
            send_test_copy(server.config(security="tls", retries=3), simple_message(ANA), sleep=sleeps)
        assert server.messages() == []
    assert str(caught.value).startswith(
        f"cannot connect to SMTP server 127.0.0.1:{server.port}: TLS certificate verification failed: "
    )
    assert sleeps == []


def test_starttls_required_but_not_offered() -> None:
    pattern = r"^SMTP server 127\.0\.0\.1:\d+ does not offer STARTTLS"
    with smtp_server() as server, pytest.raises(SendError, match=pattern):
        Mailer(server.config(security="starttls")).connect()


def test_implicit_tls_against_a_plain_server_names_the_handshake() -> None:
    pattern = r"^cannot connect to SMTP server 127\.0\.0\.1:\d+: TLS handshake failed"
    with smtp_server() as server, pytest.raises(SendError, match=pattern):
        Mailer(server.config(security="tls", retries=0, timeout=2)).connect()


def test_login_with_the_password_from_the_environment(
    certificate: tuple[Path, Path], client_tls: ssl.SSLContext
) -> None:
    with smtp_server(starttls=server_tls_context(*certificate), login=("editor", "pa55word")) as server:
        config = server.config(security="starttls", username="editor", password_env="MY_SMTP_PASSWORD")
        send_test_copy(config, simple_message(ANA), environ={"MY_SMTP_PASSWORD": "pa55word"}, ssl_context=client_tls)
        [received] = server.messages()
    assert (received.login, received.tls) == ("editor", True)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_wrong_password_is_not_retried(sleeps: Sleeps) -> None:
    with smtp_server(login=("editor", "pa55word")) as server:
        config = server.config(username="editor", password_env="MY_SMTP_PASSWORD", retries=3)
        with pytest.raises(SendError) as caught:
            Mailer(config, environ={"MY_SMTP_PASSWORD": "wrong"}, sleep=sleeps).connect()
        assert server.messages() == []
    assert str(caught.value).startswith(f"cannot log in to SMTP server 127.0.0.1:{server.port} as editor: 535 ")
    assert sleeps == []


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_missing_password_is_an_error_before_connecting() -> None:
    with smtp_server(login=("editor", "pa55word")) as server:
        config = server.config(username="editor", password_env="MY_SMTP_PASSWORD")
        with pytest.raises(DigestError, match=r"^environment variable MY_SMTP_PASSWORD is not set: .* editor"):
            send_test_copy(config, simple_message(ANA), environ={})
        assert server.connections == 0


def test_unknown_security_mode() -> None:
    with pytest.raises(DigestError, match=r"smtp\.security must be one of starttls, tls, none, not 'ssl'"):
        Mailer(SmtpConfig(security="ssl"))


def test_one_connection_for_many_messages_and_a_new_one_after_a_drop() -> None:
    people = [Subscriber(f"reader{n}@example.org") for n in range(5)]
    with smtp_server() as server:
        server.drop_after_data("reader2@example.org")
        with Mailer(server.config()) as mailer:
            results = [mailer.attempt(SENDER, p.email, simple_message(p)).outcome for p in people]
        assert results == [ACCEPTED, ACCEPTED, UNKNOWN, ACCEPTED, ACCEPTED]
        assert server.connections == 2
        assert server.copies() == {p.email: 1 for p in people}


def test_reply_classes() -> None:
    with smtp_server() as server:
        server.temp_fail("later@example.org", times=1)
        server.reject("gone@example.org")
        with Mailer(server.config()) as mailer:
            temp = mailer.attempt(SENDER, "later@example.org", simple_message(ANA))
            perm = mailer.attempt(SENDER, "gone@example.org", simple_message(ANA))
            ok = mailer.attempt(SENDER, "later@example.org", simple_message(ANA))
        assert (temp.outcome, temp.code, temp.reply) == (TRANSIENT, 451, "RCPT TO: 451 4.3.0 Try again later")
        assert (perm.outcome, perm.code, perm.reply) == (PERMANENT, 550, "RCPT TO: 550 5.1.1 No such user here")
        assert (ok.outcome, ok.code) == (ACCEPTED, 250)
        # The refused transactions were reset, so the connection was kept.
        assert server.connections == 1
        assert server.copies() == {"later@example.org": 1}


def test_transient_failures_are_retried_with_exponential_backoff(sleeps: Sleeps) -> None:
    with smtp_server() as server:
        server.temp_fail("later@example.org", times=3)
        server.temp_fail("never@example.org", times=100)
        marks: list[int] = []
        with Mailer(server.config(retries=3), sleep=sleeps) as mailer:
            result, attempts = mailer.send(SENDER, "later@example.org", simple_message(ANA), before_data=marks.append)
            assert (result.outcome, attempts, marks, sleeps) == (ACCEPTED, 4, [4], [1.0, 2.0, 4.0])
            sleeps.clear()
            result, attempts = mailer.send(SENDER, "never@example.org", simple_message(ANA))
            assert (result.outcome, attempts, sleeps) == (TRANSIENT, 4, [1.0, 2.0, 4.0])
        assert server.copies() == {"later@example.org": 1}


def test_permanent_failure_is_not_retried(sleeps: Sleeps) -> None:
    with smtp_server() as server:
        server.reject("gone@example.org")
        with Mailer(server.config(retries=3), sleep=sleeps) as mailer:
            result, attempts = mailer.send(SENDER, "gone@example.org", simple_message(ANA))
        assert (result.outcome, attempts, sleeps) == (PERMANENT, 1, [])
        assert server.rcpt_commands == 1


def test_timeout_after_data_is_unknown() -> None:
    with smtp_server() as server:
        server.stall_after_data("slow@example.org")
        with Mailer(server.config(timeout=0.5)) as mailer:
            result = mailer.attempt(SENDER, "slow@example.org", simple_message(ANA))
        server.release()
        assert result.outcome == UNKNOWN
        assert result.reply == (
            "connection lost after the message was sent, before the server's reply "
            "(Connection unexpectedly closed: timed out)"
        )
        assert server.copies() == {"slow@example.org": 1}


def test_timeout_before_data_is_transient() -> None:
    with smtp_server() as server:
        server.stall_rcpt("slow@example.org")
        with Mailer(server.config(timeout=0.5)) as mailer:
            result = mailer.attempt(SENDER, "slow@example.org", simple_message(ANA))
        server.release()
        assert result.outcome == TRANSIENT
        assert "before the message was sent" in result.reply
        assert server.messages() == []


def test_refused_sender_stops_the_send() -> None:
    with smtp_server() as server:
        server.reject_sender(SENDER)
        with pytest.raises(SendError, match=r"refused the sender digest@ledger\.example\.eu: 553 5\.7\.1"):
            send_test_copy(server.config(), simple_message(ANA))


def test_non_ascii_address_needs_smtputf8() -> None:
    zoe = Subscriber("zoë@exämple.org", "Zoë")
    with smtp_server(smtputf8=False) as server, Mailer(server.config()) as mailer:
        result = mailer.attempt(SENDER, zoe.email, simple_message(zoe))
        assert (result.outcome, server.messages()) == (PERMANENT, [])
        assert "SMTPUTF8" in result.reply
    with smtp_server(smtputf8=True) as server, Mailer(server.config()) as mailer:
        assert mailer.attempt(SENDER, zoe.email, simple_message(zoe)).outcome == ACCEPTED
        [received] = server.messages()
        assert received.rcpt_tos == [zoe.email]
        assert "SMTPUTF8" in received.mail_options
        assert message_from_bytes(received.data, policy=default)["To"] == "Zoë <zoë@exämple.org>"


def test_rejected_test_copy_names_the_reply() -> None:
    with smtp_server() as server:
        server.reject("ana@example.org")
        with pytest.raises(SendError, match=r"^test copy to ana@example\.org was not accepted: RCPT TO: 550 5\.1\.1"):
            send_test_copy(server.config(retries=0), simple_message(ANA))


def test_envelope_addresses_from_headers() -> None:
    msg = simple_message(ANA)
    msg["Cc"] = "Ben <ben@example.org>, chloe@example.org"
    assert envelope_sender(msg) == SENDER
    assert envelope_recipients(msg) == ["ana@example.org", "ben@example.org", "chloe@example.org"]
    del msg["From"]
    with pytest.raises(DigestError, match="no From header"):
        envelope_sender(msg)


def test_backoff_doubles_up_to_a_minute() -> None:
    assert [backoff_delay(n) for n in (1, 2, 3, 4, 6, 7, 20)] == [1.0, 2.0, 4.0, 8.0, 32.0, 60.0, 60.0]
