"""Keeps the layering true: dependencies point inward, pure layers import no I/O libraries, and
modules stay within the size budget (or say in their docstring why not)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).parent.parent / "pllm"

# Each layer may import the layers listed (and itself). Inner layers never import outer ones.
BASE = {"errors", "schema", "config", "sse", "redaction"}
ALLOWED: dict[str, set[str]] = {
    "errors": set(), "schema": set(), "sse": set(),
    "config": {"errors"},
    "redaction": {"errors"},
    "providers": BASE,
    "upstream": BASE | {"providers"},
    "router": BASE | {"providers", "upstream", "limits"},
    "logs": BASE,
    "inbound": BASE,
    "limits": BASE,
    "store": BASE | {"limits"},
    "access": BASE | {"limits", "store"},
    "server": BASE | {"providers", "upstream", "router", "logs", "inbound", "limits", "store",
                      "access"},
    "cli": BASE | {"providers", "upstream", "router", "logs", "server", "limits", "store",
                   "access", "bench", "tui"},
    # Client tools: they talk to a gateway over HTTP like any client would.
    "bench": BASE,
    "tui": BASE,
}
# Third-party I/O and UI libraries each layer must not touch.
FORBIDDEN: dict[str, set[str]] = {
    "providers": {"httpx", "aiohttp", "quart", "hypercorn", "sqlite_utils", "textual"},
    "router": {"httpx", "aiohttp", "quart", "hypercorn", "sqlite_utils", "textual"},
    "schema": {"httpx", "aiohttp", "quart", "hypercorn", "sqlite_utils", "textual"},
    "config": {"httpx", "aiohttp", "quart", "hypercorn", "sqlite_utils", "textual"},
    "upstream": {"quart", "hypercorn", "sqlite_utils", "textual"},
    "limits": {"httpx", "aiohttp", "quart", "hypercorn", "sqlite_utils", "sqlite3", "textual"},
    "store": {"httpx", "aiohttp", "quart", "hypercorn", "textual"},
    "access": {"httpx", "aiohttp", "quart", "hypercorn", "sqlite_utils", "sqlite3", "textual"},
    "bench": {"quart", "hypercorn", "sqlite_utils", "sqlite3", "textual"},
    "tui": {"quart", "hypercorn", "sqlite_utils", "sqlite3"},
}
BUDGET = 400


def modules() -> list[Path]:
    return sorted(p for p in PKG.rglob("*.py"))


def layer(path: Path) -> str:
    rel = path.relative_to(PKG).parts
    return rel[0].removesuffix(".py") if rel[0] not in ("__init__.py", "__main__.py") else ""


def imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append(node.module)
    return out


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PKG)))
def test_dependencies_point_inward(path: Path) -> None:
    me = layer(path)
    if not me:
        return
    assert me in ALLOWED, f"{me} is not placed in the layer map of this test"
    for name in imports(path):
        top, _, rest = name.partition(".")
        if top == "pllm" and rest:
            target = rest.split(".")[0]
            if target != me and target != "__init__":
                assert target in ALLOWED[me], f"{path.name}: {me} must not import pllm.{target}"
        assert top not in FORBIDDEN.get(me, set()), f"{path.name}: {me} must not import {top}"


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PKG)))
def test_module_size_budget(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    if lines <= BUDGET:
        return
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    assert "400-line" in doc, f"{path.name} has {lines} lines: split it or say why in its docstring"


def test_every_module_has_a_docstring() -> None:
    missing = [str(p.relative_to(PKG)) for p in modules()
               if p.name != "__main__.py" and not ast.get_docstring(ast.parse(p.read_text()))]
    assert not missing, missing
