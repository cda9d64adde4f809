"""The layers hold: what each room may import (docs/architecture.md, "Layers").

Read from the source, so a new import that breaks a layer fails here before it tangles the
house: `core` imports no app, `ml` is plain modelling (no Django, no app but `core`), and the
synthetic world reaches production code only through management commands.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = {"accounts", "scoring", "triage", "frontend", "insights", "learning", "webhooks", "rules",
        "ingest", "synthetic", "config"}


def imported_packages(path: Path) -> set[str]:
    """Top-level packages a module imports, wherever in the module the import sits."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def modules(room: str) -> list[Path]:
    return sorted(p for p in (ROOT / room).rglob("*.py") if "migrations" not in p.parts)


def test_core_imports_no_app():
    offenders = {str(p.relative_to(ROOT)): imported_packages(p) & APPS for p in modules("core")}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_ml_imports_neither_django_nor_an_app():
    # ml may use core's plain helpers, nothing that knows of a request or a table.
    offenders = {str(p.relative_to(ROOT)): imported_packages(p) & (APPS | {"django", "rest_framework", "celery"}) for p in modules("ml")}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_ml_loads_without_django_installed_in_the_process():
    # Importing every ml module in a bare interpreter: not one Django or app module comes along.
    names = [".".join(p.relative_to(ROOT).with_suffix("").parts) for p in modules("ml") if p.name != "__init__.py"]
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}: importlib.import_module(name)\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({sorted(APPS | {'django', 'rest_framework', 'celery'})!r})))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_synthetic_world_reaches_production_only_through_commands():
    rooms = APPS - {"synthetic"} | {"core", "ml"}
    offenders = [
        str(p.relative_to(ROOT))
        for room in sorted(rooms) for p in modules(room)
        if "synthetic" in imported_packages(p) and "commands" not in p.parts
    ]
    assert offenders == []
