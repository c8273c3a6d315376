"""The house rules a reader relies on: small modules, short functions.

A student should be able to read any module of the product in one sitting
and any function on one screen. Tables of data (a module-level literal such
as a tuple of names or a dict of defaults) do not count against a module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = sorted((ROOT / "taskcode").rglob("*.py"))
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
_LITERALS = (ast.Tuple, ast.List, ast.Dict, ast.Set, ast.Constant)


def _data_lines(tree: ast.Module) -> int:
    """Lines taken by module-level tables of literal data."""
    lines = 0
    for node in tree.body:
        value = getattr(node, "value", None)
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(value, _LITERALS):
            lines += node.end_lineno - node.lineno + 1
    return lines


def code_lines(text: str) -> int:
    return len(text.splitlines()) - _data_lines(ast.parse(text))


def long_functions(text: str) -> list[str]:
    return [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(ast.parse(text))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]


@pytest.mark.parametrize("path", PRODUCT, ids=lambda p: str(p.relative_to(ROOT)))
def test_module_is_short(path):
    lines = code_lines(path.read_text())
    assert lines <= MAX_MODULE_LINES, f"{path.name}: {lines} lines of code (at most {MAX_MODULE_LINES})"


@pytest.mark.parametrize("path", PRODUCT, ids=lambda p: str(p.relative_to(ROOT)))
def test_functions_are_short(path):
    long = long_functions(path.read_text())
    assert not long, f"{path.name}: functions over {MAX_FUNCTION_LINES} lines: {', '.join(long)}"


def test_the_rules_can_fail():
    """A long function and a long module are found; a long table of data is not held against a module."""
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    assert long_functions(f"def f():\n{body}\n") == [f"f ({MAX_FUNCTION_LINES + 1} lines)"]
    assert long_functions("def g():\n    return 1\n") == []
    code = "\n".join(f"x{i} = f({i})" for i in range(MAX_MODULE_LINES + 1))
    assert code_lines(code) > MAX_MODULE_LINES
    table = "NAMES = (\n" + "    'a',\n" * 500 + ")\nx = f()\n"
    assert code_lines(table) == 1
