"""The exception tree. Every message is written for the person running syndicate."""

from __future__ import annotations


class SyndicateError(Exception):
    """Base of every error syndicate raises on purpose; ``str()`` is user-facing."""

    exit_code = 1


class ConfigError(SyndicateError):
    """The configuration file is missing, unreadable or invalid (exit code 2)."""

    exit_code = 2


class RecordError(SyndicateError):
    """One or more article records are invalid.

    ``problems`` holds every problem found, each already formatted as
    ``PATH:LINE: FIELD: message``.
    """

    def __init__(self, problems: list[str] | str) -> None:
        if isinstance(problems, str):
            problems = [problems]
        self.problems = list(problems)
        count = len(self.problems)
        head = self.problems[0] if count == 1 else f"{count} invalid records; first: {self.problems[0]}"
        super().__init__(head)


class TemplateError(SyndicateError):
    """A template is missing, does not parse, or failed to render."""


class StateError(SyndicateError):
    """The state database under ``.syndicate/`` cannot be used."""


class BuildCheckFailed(SyndicateError):
    """``build --check`` found outputs that would change."""


class IngestError(SyndicateError):
    """An outside source could not be fetched or parsed."""


class DigestError(SyndicateError):
    """The digest could not be built or sent."""


class SendError(DigestError):
    """SMTP delivery failed in a way that stops the whole send."""


class LockBusy(SyndicateError):
    """Another run holds the site's lock."""
