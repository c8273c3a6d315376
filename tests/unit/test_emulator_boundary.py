"""The emulator is developer tooling: nothing the production image ships may import it."""

import ast

import pytest

from tests.conftest import PROJECT_ROOT

PRODUCT_FOLDERS = ("taskcode", "dags", "plugins", "dashboards")


def imported_modules(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append(node.module)
    return found


@pytest.mark.parametrize("folder", PRODUCT_FOLDERS)
def test_the_product_never_imports_the_emulator(folder):
    files = sorted((PROJECT_ROOT / folder).rglob("*.py"))
    assert files, f"no Python file under {folder}/"
    offenders = [
        f"{path.relative_to(PROJECT_ROOT)}: {module}"
        for path in files
        for module in imported_modules(ast.parse(path.read_text(encoding="utf-8"), str(path)))
        if module == "emulator" or module.startswith("emulator.")
    ]
    assert offenders == []


def test_the_walk_sees_both_kinds_of_import():
    tree = ast.parse("import emulator.cli\nfrom emulator import Emulator\nfrom . import emulator\n")
    assert imported_modules(tree) == ["emulator.cli", "emulator"]


def test_the_image_and_the_package_leave_the_emulator_out():
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    copied = [
        word.rstrip("/")
        for line in dockerfile.splitlines()
        if line.startswith("COPY ")
        for word in line.split()[1:-1]
        if not word.startswith("--")
    ]
    assert "taskcode" in copied and "emulator" not in copied and "." not in copied
    assert "emulator" in (PROJECT_ROOT / ".dockerignore").read_text().split()  # not even in the build context
    assert 'include = ["taskcode*"]' in (PROJECT_ROOT / "pyproject.toml").read_text()
