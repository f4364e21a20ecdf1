"""The layering rules of docs/architecture.md, checked on the source."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def test_core_never_imports_modules_except_the_entry_point() -> None:
    offenders = [p.relative_to(ROOT) for p in sources("vsphere_dr") if "app" not in p.relative_to(ROOT).parts
                 and any(name == "modules" or name.startswith("modules.") for name in imported_modules(p))]
    assert offenders == []


def test_only_the_gateway_speaks_soap() -> None:
    soap = ("pyVmomi", "pyVim")
    offenders = [p.relative_to(ROOT) for p in sources("vsphere_dr") + sources("modules")
                 if "gateway" not in p.parts and any(n.split(".")[0] in soap for n in imported_modules(p))]
    assert offenders == []
