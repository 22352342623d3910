"""Every committed model artifact, city file and web asset is shipped in the wheel."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_package_data_covers_the_committed_data_files() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]
    wanted = [
        *(ROOT / "models").glob("*/artifacts/*"),
        *(ROOT / "patrol" / "cities").glob("*.toml"),
        *(ROOT / "simulators" / "sample").glob("*.csv.gz"),
        (ROOT / "streams" / "web" / "static" / "map.js"),
    ]
    assert any("forecast" in p.parts for p in wanted)  # the served forecaster's model
    for path in wanted:
        package, rel = path.relative_to(ROOT).parts[0], path.relative_to(ROOT).parts[1:]
        inner = "/".join(rel)
        assert any(fnmatch.fnmatch(inner, pat) for pat in patterns.get(package, [])), inner
