"""The subscriber CSV: header, BOM, validation with line numbers, duplicates."""

from __future__ import annotations

from pathlib import Path

import pytest

from syndicate.errors import DigestError
from syndicate.subscribers import Subscriber, address_problem, load_subscribers


def write(tmp_path: Path, text: str, *, bom: bool = False) -> Path:
    path = tmp_path / "subscribers.csv"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def test_rows_in_file_order_with_names_and_extra_columns_ignored(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "email,name,joined\r\nzoe@example.org,Zoë Ångström,2026-01-01\r\nana@example.org,,x\r\nben@example.org\r\n",
        bom=True,
    )
    subscribers, problems = load_subscribers(path)
    assert problems == []
    assert subscribers == [
        Subscriber("zoe@example.org", "Zoë Ångström"),
        Subscriber("ana@example.org", ""),
        Subscriber("ben@example.org", ""),
    ]


def test_header_columns_in_any_order_and_case(tmp_path: Path) -> None:
    path = write(tmp_path, " Name , EMAIL \nAna, ana@example.org \n")
    assert load_subscribers(path) == ([Subscriber("ana@example.org", "Ana")], [])


def test_bad_rows_are_reported_with_line_numbers_and_skipped(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "email,name\n"
        "ana@example.org,Ana\n"  # 2
        "not-an-address,X\n"  # 3
        "\n"  # 4: blank, ignored
        'two@@example.org,"Multi\nline name"\n'  # 5-6
        "nodot@localhost,Y\n"  # 7
        "sp ace@example.org,Z\n"  # 8
        ",Nobody\n"  # 9
        "dots..@example.org,W\n"  # 10
        "ben@example.org,Ben\n",  # 11
    )
    subscribers, problems = load_subscribers(path)
    assert [s.email for s in subscribers] == ["ana@example.org", "ben@example.org"]
    assert [p.split(": email: ")[0] for p in problems] == [f"{path}:{n}" for n in (3, 5, 7, 8, 9, 10)]
    assert problems[0] == f"{path}:3: email: 'not-an-address' must contain exactly one @"
    assert "domain 'localhost' is not a domain name" in problems[2]
    assert problems[4] == f"{path}:9: email: missing address"


def test_line_numbers_count_multi_line_quoted_names(tmp_path: Path) -> None:
    path = write(tmp_path, 'email,name\nana@example.org,"A\nB\nC"\nbad,D\n')
    subscribers, problems = load_subscribers(path)
    assert subscribers == [Subscriber("ana@example.org", "A B C")]
    assert problems == [f"{path}:5: email: 'bad' must contain exactly one @"]


def test_duplicates_are_sent_once_and_reported_with_both_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "email,name\nAna@Example.org,Ana\nben@example.org,Ben\nana@example.ORG,Again\n")
    subscribers, problems = load_subscribers(path)
    assert subscribers == [Subscriber("Ana@Example.org", "Ana"), Subscriber("ben@example.org", "Ben")]
    assert problems == [f"{path}:4: email: 'ana@example.ORG' duplicates line 2; it is sent one copy"]


def test_non_ascii_addresses_are_accepted_for_smtputf8(tmp_path: Path) -> None:
    path = write(tmp_path, "email,name\nzoë@exämple.org,Zoë\n")
    # The local part stays as written (SMTPUTF8); the domain takes its ASCII form, valid either way.
    assert load_subscribers(path) == ([Subscriber("zoë@xn--exmple-cua.org", "Zoë")], [])


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nope.csv"
    with pytest.raises(DigestError, match=r"nope\.csv: cannot read the subscriber list: No such file"):
        load_subscribers(path)


def test_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "subscribers.csv"
    path.write_bytes(b"email,name\nana@example.org,Ana\nzoe@example.org,Zo\xeb\n")
    with pytest.raises(DigestError, match=r"subscribers\.csv:3: the subscriber list is not UTF-8"):
        load_subscribers(path)


def test_header_without_email_column_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "ana@example.org,Ana\n")
    with pytest.raises(DigestError, match=r"subscribers\.csv:1: the first row must be a header naming an 'email'"):
        load_subscribers(path)


def test_empty_file_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    assert load_subscribers(path) == ([], [f"{path}:1: email: the file is empty (expected a header row 'email,name')"])


@pytest.mark.parametrize(
    ("address", "ok"),
    [
        ("a@b.co", True),
        ("first.last+tag@mail.example.org", True),
        ("a@b", False),
        ("a@b.", False),
        ("@b.co", False),
        ("a@.b.co", False),
        ("a@b.co\n", False),
        ("a\r\n@b.co", False),
        (".a@b.co", False),
        ("a@[127.0.0.1]", False),
        ("a<b>@c.de", False),
        ("ü@bü.de", True),
        ("ü..x@bü.de", False),
    ],
)
def test_address_check(address: str, ok: bool) -> None:
    assert (address_problem(address) is None) is ok


def test_an_internationalised_domain_is_written_in_its_ascii_form(tmp_path: Path) -> None:
    from email import message_from_bytes
    from email.policy import default

    from syndicate.message import DIGEST_POLICY

    path = write(tmp_path, "email,name\nleser@bücher.example,Jörg\nleser@xn--bcher-kva.example,Again\n")
    subscribers, problems = load_subscribers(path)
    assert subscribers == [Subscriber("leser@xn--bcher-kva.example", "Jörg")]
    assert problems == [f"{path}:3: email: 'leser@xn--bcher-kva.example' duplicates line 2; it is sent one copy"]
    # The address then goes into a header as plain ASCII, not as an encoded word.
    from email.headerregistry import Address
    from email.message import EmailMessage

    msg = EmailMessage(policy=DIGEST_POLICY)
    msg["To"] = Address("Jörg", addr_spec=subscribers[0].email)
    msg.set_content("x")
    assert b"<leser@xn--bcher-kva.example>" in bytes(msg)
    assert message_from_bytes(bytes(msg), policy=default)["To"].addresses[0].domain == "xn--bcher-kva.example"
