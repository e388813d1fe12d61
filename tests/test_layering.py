"""The core never imports click; the model imports nothing from the package."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "syndicate"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add("." * node.level + (node.module or ""))
    return names


def test_layering_only_cli_imports_click() -> None:
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if "cli" not in path.relative_to(PACKAGE).parts and any(n.split(".")[0] == "click" for n in _imports(path))
    ]
    assert offenders == []


def test_layering_model_and_errors_import_no_siblings() -> None:
    for name in ("model.py", "errors.py"):
        relative = [n for n in _imports(PACKAGE / name) if n.startswith(".")]
        assert relative == [], f"{name} imports {relative}"


def test_layering_core_never_prints_or_exits() -> None:
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if "cli" in path.relative_to(PACKAGE).parts or path.name == "__main__.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
                offenders.append(f"{path.name}:{node.lineno} print")
            if isinstance(node, ast.Attribute) and node.attr == "exit" and getattr(node.value, "id", "") == "sys":
                offenders.append(f"{path.name}:{node.lineno} sys.exit")
    assert offenders == []
