"""bench/ imports the bot and the stand-ins (some of it inside functions that only a benchmark run
reaches): every name it takes from `bot` or `standins` must exist, so a rename cannot break the
benchmarks unnoticed. And the arrows between the three: bench/ and tests/ both use standins/, but
bench/ never imports tests/, and neither the bot nor the stand-ins import tests/ or bench/."""

from __future__ import annotations

import ast
import importlib
import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"


def _imported(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of every import in a file: `import a.b` gives ("a.b", [])."""
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, [alias.name for alias in node.names]))
        elif isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
    return found


def _names_bench_takes() -> list[tuple[str, str, str]]:
    return [
        (str(path.relative_to(REPO)), module, name)
        for path in sorted(BENCH.rglob("*.py"))
        for module, names in _imported(path)
        if module.split(".")[0] in ("bot", "standins")
        for name in names
    ]


@pytest.mark.parametrize(("file", "module", "name"), _names_bench_takes())
def test_every_name_bench_imports_from_the_bot_and_the_standins_exists(file, module, name):
    imported = importlib.import_module(module)
    assert hasattr(imported, name) or importlib.util.find_spec(f"{module}.{name}") is not None, f"{file}: {module}.{name}"


@pytest.mark.parametrize(("folder", "forbidden"), [
    ("bench", {"tests"}),
    ("standins", {"tests", "bench"}),
    ("bot", {"tests", "bench", "standins"}),
])
def test_imports_go_one_way(folder, forbidden):
    wrong = [
        f"{path.relative_to(REPO)}: {module}"
        for path in sorted((REPO / folder).rglob("*.py"))
        for module, _ in _imported(path)
        if module.split(".")[0] in forbidden
    ]
    assert wrong == []
