"""contracts depends on msgspec and the standard library only, so any service
can depend on it alone; aiokafka is imported lazily by the publisher."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import contracts

PACKAGE_DIR = Path(contracts.__file__).parent


def top_level_imports(tree: ast.Module) -> set[str]:
    """Modules imported at module level (not inside functions)."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def all_imports(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_contracts_imports_only_msgspec_the_standard_library_and_itself() -> None:
    allowed = set(sys.stdlib_module_names) | {"msgspec", "contracts", "__future__"}
    for path in PACKAGE_DIR.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        assert top_level_imports(tree) <= allowed, path.name
        lazy = all_imports(tree) - allowed
        assert lazy <= ({"aiokafka"} if path.name == "publisher.py" else set()), path.name
