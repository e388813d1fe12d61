"""``syndicate init``: a new site from the files shipped in ``syndicate/templates/init``."""

from __future__ import annotations

from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

from .errors import SyndicateError

TEMPLATE_OVERRIDE_DIR = "templates"


class ScaffoldError(SyndicateError):
    """The target of ``init`` already holds files it would overwrite."""


def scaffold_files() -> dict[str, bytes]:
    """The files of a new site: relative path -> bytes (config, example records)."""
    root = resources.files("syndicate") / "templates" / "init"
    files: dict[str, bytes] = {}

    def walk(node: Traversable, prefix: str) -> None:
        for child in node.iterdir():
            rel = f"{prefix}{child.name}"
            if child.is_dir():
                walk(child, rel + "/")
            elif not child.name.startswith("."):
                files[rel] = child.read_bytes()

    walk(root, "")
    return dict(sorted(files.items()))


def create_site(target: Path) -> list[Path]:
    """Write a new site into ``target`` (created if needed); return the paths created.

    Raises ScaffoldError, before writing anything, if any of the files already exists.
    """
    target = Path(target)
    files = scaffold_files()
    clashes = [rel for rel in files if (target / rel).exists()]
    if (target / TEMPLATE_OVERRIDE_DIR).exists() and not (target / TEMPLATE_OVERRIDE_DIR).is_dir():
        clashes.append(TEMPLATE_OVERRIDE_DIR)
    if clashes:
        listed = ", ".join(str(target / rel) for rel in clashes)
        raise ScaffoldError(f"{listed}: already exists; init never overwrites files (choose an empty folder)")
    created: list[Path] = []
    try:
        for rel, data in files.items():
            path = target / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "xb") as handle:
                handle.write(data)
            created.append(path)
        override = target / TEMPLATE_OVERRIDE_DIR
        override.mkdir(parents=True, exist_ok=True)
        created.append(override)
    except OSError as exc:
        raise ScaffoldError(f"{target}: cannot create site: {exc.strerror or exc}") from exc
    return created
