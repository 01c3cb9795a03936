"""The product never imports the demo (reference_platform): not with an import statement, not
by name through importlib or __import__. The demo reaches the product only the other way round,
through the entry point group `tenant_warehouse.platforms` (tenant_warehouse/platforms.py)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCT_PACKAGES = ("tenant_warehouse", "ingestion")
DEMO = "reference_platform"
# Calls that import a module named by a string: importlib.import_module, __import__,
# importlib.util.find_spec, runpy.run_module, pkgutil.resolve_name.
IMPORTING_CALLS = {"import_module", "__import__", "find_spec", "run_module", "resolve_name"}


def _names_demo(name: str | None) -> bool:
    return bool(name) and (name == DEMO or name.startswith(DEMO + ".")
                           or name.startswith(DEMO + ":"))


def demo_imports(source: str, filename: str = "<source>") -> list[str]:
    """Every place in `source` that imports the demo, as `file:line: what`."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""] if node.level == 0 else []
        elif isinstance(node, ast.Call):
            function = node.func
            called = function.attr if isinstance(function, ast.Attribute) else getattr(
                function, "id", None)
            if called not in IMPORTING_CALLS or not node.args:
                continue
            first = node.args[0]
            names = [first.value] if isinstance(first, ast.Constant) and isinstance(
                first.value, str) else []
        else:
            continue
        found += [f"{filename}:{node.lineno}: {name}" for name in names if _names_demo(name)]
    return found


def product_files() -> list[Path]:
    return sorted(path for package in PRODUCT_PACKAGES for path in (ROOT / package).rglob("*.py"))


def test_no_product_module_imports_the_demo() -> None:
    files = product_files()
    assert len(files) > 50  # the scan sees the product, not an empty folder
    offenders = [hit for path in files
                 for hit in demo_imports(path.read_text(encoding="utf-8"),
                                         str(path.relative_to(ROOT)))]
    assert offenders == [], "product code imports the demo:\n" + "\n".join(offenders)


@pytest.mark.parametrize("source", [
    "import reference_platform",
    "import os, reference_platform.truth as truth",
    "from reference_platform.generator import generate",
    "from reference_platform import truth",
    "def f():\n    from reference_platform.truth import compute_truth\n",
    "import importlib\nimportlib.import_module('reference_platform.truth')",
    "from importlib import import_module\nimport_module('reference_platform')",
    "__import__('reference_platform.simulator')",
    "import importlib.util\nimportlib.util.find_spec('reference_platform.plugin')",
    "import pkgutil\npkgutil.resolve_name('reference_platform.plugin:HOOKS')",
])
def test_the_check_catches_every_way_of_importing_the_demo(source: str) -> None:
    assert len(demo_imports(source)) == 1, source


@pytest.mark.parametrize("source", [
    '"""The demo (reference_platform) registers its hooks by entry point."""',
    "from tenant_warehouse.platforms import demo_hooks\ndemo_hooks('reference')",
    "import reference_platform_like",
    "from .reference_platform import x",
])
def test_the_check_lets_the_product_name_the_demo_in_words(source: str) -> None:
    assert demo_imports(source) == []
