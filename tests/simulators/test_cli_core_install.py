"""The README's first command needs only the core install (``pip install -e .``, no extras).

A fresh interpreter blocks every optional dependency (the ``stream``, ``train``, ``optimize``
and ``torch`` extras), then builds the whole command line and runs ``patrolstream run`` on a
few days of the bundled sample. Any module that imports an extra at the top level breaks this.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

OPTIONAL = (
    "faust",
    "aiokafka",
    "aiohttp",
    "onnxruntime",
    "prometheus_client",
    "rocksdict",
    "skl2onnx",
    "onnx",
    "torch",
    "ortools",
)

BLOCKER = f"""
import importlib.abc, sys
BLOCKED = {OPTIONAL!r}
class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked by the test)")
        return None
sys.meta_path.insert(0, Blocker())
"""


def _run(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCKER + code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
        check=False,
    )


def test_the_blocker_blocks(tmp_path: Path) -> None:
    done = _run("import aiohttp", tmp_path)
    assert done.returncode != 0
    assert "blocked by the test" in done.stderr


def test_every_help_builds_without_the_extras(tmp_path: Path) -> None:
    code = (
        "import contextlib, io\n"
        "from simulators.cli import build_parser\n"
        "p = build_parser()\n"
        "for cmd in ('run', 'backtest', 'audit', 'report', 'train-arrest', 'serve'):\n"
        "    with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
        "        p.parse_args([cmd, '--help'])\n"
        "print('ok')\n"
    )
    done = _run(code, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("ok")


def test_serve_without_the_stream_extra_says_what_is_missing(tmp_path: Path) -> None:
    done = _run("from simulators.cli import main\nraise SystemExit(main(['serve']))", tmp_path)
    assert done.returncode == 2
    assert "stream" in done.stderr


def test_run_plans_routes_without_the_extras(tmp_path: Path) -> None:
    out = tmp_path / "routes"
    code = (
        "from simulators.cli import main\n"
        f"raise SystemExit(main(['run', '--no-progress', '--district', '8', '--shift', '08-16',"
        f" '--out', {str(out)!r}]))"
    )
    done = _run(code, tmp_path)
    assert done.returncode == 0, done.stderr
    routes = sorted(out.glob("*.geojson"))
    assert len(routes) == 1
    route = json.loads(routes[0].read_text())
    assert route["type"] == "FeatureCollection"
    assert route["district"] in ("8", "008")
