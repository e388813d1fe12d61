"""The Jinja2 environment for the digest: site overrides first, shipped defaults behind.

A site's ``templates/`` folder may replace ``digest.html``, ``digest.txt`` or
``digest.css`` outright, or extend the shipped one and replace a single block::

    {% extends "default:digest.html" %}
    {% block footer %}...{% endblock %}
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jinja2

from .errors import TemplateError

DEFAULT_DIR = Path(__file__).parent / "templates" / "digest"


def make_environment(override_dirs: Sequence[Path] = ()) -> jinja2.Environment:
    """An environment that autoescapes HTML, fails on undefined names and keeps output stable."""
    defaults = jinja2.FileSystemLoader(str(DEFAULT_DIR))
    loader = jinja2.ChoiceLoader(
        [
            jinja2.FileSystemLoader([str(d) for d in override_dirs]),
            jinja2.PrefixLoader({"default": defaults}, delimiter=":"),
            defaults,
        ]
    )
    return jinja2.Environment(
        loader=loader,
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render(env: jinja2.Environment, name: str, context: dict[str, Any]) -> str:
    """Render template ``name``; any template problem becomes a TemplateError naming file and line."""
    try:
        return env.get_template(name).render(context)
    except jinja2.TemplateSyntaxError as exc:
        where = exc.filename or exc.name or name
        raise TemplateError(f"{where}:{exc.lineno}: template syntax error: {exc.message}") from exc
    except jinja2.TemplateNotFound as exc:
        raise TemplateError(f"template not found: {exc.name}") from exc
    except jinja2.UndefinedError as exc:
        raise TemplateError(f"{name}: {exc.message}") from exc
    except Exception as exc:  # a filter or a test raised: still the template's problem
        raise TemplateError(f"{name}: rendering failed: {exc}") from exc
