"""The README is the user manual: it must keep up with the config keys and the commands.

Every key of every ``syndicate.toml`` section (walked from the dataclasses in
``syndicate.config``) needs a row in that section's table of the configuration reference,
with its default as written in TOML; every command needs help text and a section; the two
quick-start commands stay at the top.
"""

from __future__ import annotations

import re
import typing
from dataclasses import MISSING, Field, fields, is_dataclass
from pathlib import Path
from typing import Any

import click
import pytest

from syndicate.cli import cli
from syndicate.config import Config

README = Path(__file__).resolve().parent.parent / "README.md"
INSTALL_AND_RUN = "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/syndicate run --verbose"
INSTALL_AND_TEST = "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/python -m pytest"
INTERNAL_KEYS = {"path"}
"""Config fields that are not TOML keys (``path`` is the file itself, set by the loader)."""


def _readme() -> str:
    return README.read_text(encoding="utf-8")


def _dataclass_in(hint: Any) -> type | None:
    """The dataclass a field holds, directly, optionally, or as the values of a dict or tuple."""
    if is_dataclass(hint):
        return typing.cast(type, hint)
    for arg in typing.get_args(hint):
        found = _dataclass_in(arg)
        if found is not None:
            return found
    return None


def _config_keys() -> list[tuple[str, Field[Any], Any]]:
    """(section marker, field, type hint) for every key; the marker is found in the section's heading."""
    keys: list[tuple[str, Field[Any], Any]] = []
    top = typing.get_type_hints(Config)
    for f in fields(Config):
        if f.name in INTERNAL_KEYS:
            continue
        section = _dataclass_in(top[f.name])
        if section is None:
            keys.append(("Top-level keys", f, top[f.name]))
            continue
        hints = typing.get_type_hints(section)
        keys.extend((f"[{f.name}", sub, hints[sub.name]) for sub in fields(section))
    return keys


def _toml(value: Any) -> list[str]:
    """Ways the README may write ``value`` as TOML."""
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, float):
        return [repr(value), str(int(value))] if value.is_integer() else [repr(value)]
    if isinstance(value, int):
        return [str(value)]
    if isinstance(value, str | Path):
        return ['"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"']
    if isinstance(value, tuple):
        return ["[" + ", ".join(_toml(v)[0] for v in value) + "]"]
    raise TypeError(f"no TOML spelling for {value!r}")


def _expected_default(f: Field[Any]) -> list[str]:
    if f.default is not MISSING:
        if f.default is None:
            return ["unset"]
        return [f"`{spelling}`" for spelling in _toml(f.default)]
    if f.default_factory is not MISSING:
        return [f"`{spelling}`" for spelling in _toml(f.default_factory())]
    return ["required"]


def _reference_sections(text: str) -> dict[str, str]:
    """The configuration reference's subsections: heading -> body."""
    start = text.index("\n## Configuration reference")
    end = text.index("\n## ", start + 1)
    part = text[start:end]
    sections: dict[str, str] = {}
    for chunk in re.split(r"\n### ", part)[1:]:
        heading, _, body = chunk.partition("\n")
        sections[heading] = body
    return sections


def _table_row(body: str, key: str) -> str | None:
    for line in body.splitlines():
        if line.startswith(f"| `{key}` |"):
            return line
    return None


CONFIG_KEYS = _config_keys()


def test_the_walk_finds_every_section() -> None:
    markers = {marker for marker, _, _ in CONFIG_KEYS}
    assert markers == {
        "Top-level keys",
        "[site",
        "[records",
        "[feeds",
        "[categories",
        "[digest",
        "[smtp",
        "[sources",
        "[ingest",
    }
    assert len(CONFIG_KEYS) > 80


@pytest.mark.parametrize(
    ("marker", "field", "hint"), CONFIG_KEYS, ids=[f"{m.strip('[')}.{f.name}" for m, f, _ in CONFIG_KEYS]
)
def test_every_config_key_has_a_row_with_its_default(marker: str, field: Field[Any], hint: Any) -> None:
    sections = _reference_sections(_readme())
    matching = [body for heading, body in sections.items() if marker in heading]
    assert len(matching) == 1, f"README: expected one '### ...{marker}...' heading in the configuration reference"
    row = _table_row(matching[0], field.name)
    assert row is not None, f"README: no '| `{field.name}` |' row under the {marker} heading"
    expected = _expected_default(field)
    assert any(e in row for e in expected), f"README: the row of '{field.name}' should give its default {expected[0]}"


def test_every_config_key_is_mentioned() -> None:
    text = _readme()
    missing = [f.name for _, f, _ in CONFIG_KEYS if f"`{f.name}`" not in text]
    assert not missing, f"config keys missing from README.md: {missing}"


COMMANDS = sorted(cli.commands.items())


@pytest.mark.parametrize(("name", "command"), COMMANDS, ids=[name for name, _ in COMMANDS])
def test_every_command_has_help(name: str, command: click.Command) -> None:
    assert command.help and command.help.strip(), f"command {name!r} has no help text"
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            assert param.help and param.help.strip(), f"option {param.opts} of {name!r} has no help text"


@pytest.mark.parametrize(("name", "command"), COMMANDS, ids=[name for name, _ in COMMANDS])
def test_every_command_and_option_is_in_readme(name: str, command: click.Command) -> None:
    text = _readme()
    heading = f"\n### `syndicate {name}`\n"
    assert heading in text, f"README: no section '### `syndicate {name}`'"
    section = text.split(heading, 1)[1].split("\n### ", 1)[0]
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            long_names = [o for o in param.opts if o.startswith("--")]
            assert any(o in section for o in long_names), f"README: option {long_names} of {name!r} not described"


def test_the_two_quick_start_commands_open_the_readme() -> None:
    text = _readme()
    top = text.split("\n## ", 1)[0]
    lines = [line.strip() for line in top.splitlines()]
    assert INSTALL_AND_RUN in lines, "README: the install-and-run command is missing from the top"
    assert INSTALL_AND_TEST in lines, "README: the test command is missing from the top"
    assert lines.index(INSTALL_AND_RUN) < lines.index(INSTALL_AND_TEST)


def test_the_example_site_sends_without_a_server() -> None:
    """The first quick-start command promises a digest with no mail server: the example must use an outbox."""
    from syndicate.config import load_config

    config = load_config(README.parent / "syndicate.toml")
    assert config.smtp.outbox is not None
    assert config.digest.schedule, "run only sends the digest when a schedule is configured"
