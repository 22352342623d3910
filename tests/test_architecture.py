"""The pure domain stays pure: patrol/ never imports the runtimes' libraries."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = ("faust", "aiokafka", "aiohttp", "onnxruntime", "prometheus_client", "mode")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize(
    "path", sorted((ROOT / "patrol").rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT))
)
def test_patrol_module_imports_no_runtime_library(path: Path) -> None:
    bad = _imports(path) & set(FORBIDDEN)
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_patrol_modules_import_no_adapter_package() -> None:
    offenders = {
        str(p.relative_to(ROOT)): sorted(_imports(p) & {"streams", "simulators", "models"})
        for p in (ROOT / "patrol").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_importing_the_whole_domain_loads_no_runtime_library() -> None:
    code = (
        "import importlib, json, pkgutil, sys, patrol\n"
        "for m in pkgutil.walk_packages(patrol.__path__, 'patrol.'):\n"
        "    importlib.import_module(m.name)\n"
        f"print(json.dumps(sorted(set(sys.modules) & set({list(FORBIDDEN)!r}))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == []
