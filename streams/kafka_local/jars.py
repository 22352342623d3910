"""The broker's runtime: a recent enough ``java``, and Kafka's jars resolved with Maven.

:func:`ensure_jars` copies ``org.apache.kafka:kafka_2.13`` and its runtime dependencies
(``streams/kafka/pom.xml``) into a cache folder once; later calls only check a marker file.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from .config import DEFAULT_VERSION, ENV_HOME, Echo, KafkaLocalError, default_cache_dir

MIN_JAVA = 11

POM_PATH = Path(__file__).resolve().parent.parent / "kafka" / "pom.xml"
"""``streams/kafka/pom.xml``, shipped as package data of ``streams``."""
_COMPLETE_MARKER = ".patrolstream-complete"


def find_java() -> str:
    """Path of a ``java`` of version ``MIN_JAVA`` or newer (``$JAVA_HOME`` first, then PATH)."""
    candidates = []
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidates.append(str(Path(java_home) / "bin" / "java"))
    which = shutil.which("java")
    if which:
        candidates.append(which)
    too_old = []
    for java in candidates:
        if not os.access(java, os.X_OK):
            continue
        major = java_major_version(java)
        if major is not None and major >= MIN_JAVA:
            return java
        too_old.append(f"{java} is Java {major if major is not None else '?'}")
    if too_old:
        raise KafkaLocalError(
            f"{'; '.join(too_old)}; Kafka needs Java {MIN_JAVA}+ (17 recommended): "
            "apt-get install -y openjdk-17-jre-headless, or point JAVA_HOME at a newer JDK"
        )
    raise KafkaLocalError(
        "Java not found (no JAVA_HOME, no `java` on PATH); Kafka needs Java "
        f"{MIN_JAVA}+ (17 recommended): apt-get install -y openjdk-17-jre-headless"
    )


def java_major_version(java: str) -> int | None:
    """Major version reported by ``java -version`` (8 for ``1.8``), or None if unreadable."""
    try:
        out = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not m:
        return None
    major = int(m.group(1))
    return int(m.group(2) or 0) if major == 1 else major


def _libs_complete(libs: Path, version: str) -> bool:
    marker = libs / _COMPLETE_MARKER
    try:
        recorded = marker.read_text(encoding="utf-8").split()
    except FileNotFoundError:
        return False
    jar = libs / f"kafka_2.13-{version}.jar"
    return bool(recorded) and recorded[0] == version and jar.is_file()


def ensure_jars(
    version: str = DEFAULT_VERSION,
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    offline: bool = False,
    pom: str | os.PathLike[str] | None = None,
    echo: Echo | None = None,
) -> Path:
    """Return the folder with Kafka ``version``'s runtime jars, resolving them if needed.

    Idempotent: once ``<cache_dir>/libs`` holds a complete copy (marker file) nothing is run.
    Otherwise ``mvn dependency:copy-dependencies`` on ``streams/kafka/pom.xml`` copies them
    from the Maven local repository (``~/.m2``, downloading from Maven Central when missing)
    into a temporary folder that is then renamed into place, so an interrupted run never
    leaves a half-filled ``libs``.  ``offline`` passes ``-o`` to Maven.
    """
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir(version)
    libs = cache / "libs"
    if _libs_complete(libs, version):
        return libs
    pom_file = Path(pom) if pom is not None else POM_PATH
    if not pom_file.is_file():
        raise KafkaLocalError(f"Kafka POM not found at {pom_file} (package installed whole?)")
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KafkaLocalError(
            f"Maven (`mvn`) not found; it is needed once to download Kafka {version} into "
            f"{libs}: apt-get install -y maven (or fill {ENV_HOME}/libs with the jars)"
        )
    cache.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".libs-", dir=cache))
    cmd = [
        mvn, "-B", "-q", *(["-o"] if offline else []),
        "-f", str(pom_file),
        f"-Dkafka.version={version}",
        "dependency:copy-dependencies",
        f"-DoutputDirectory={staging}",
    ]  # fmt: skip
    if echo:
        echo(f"resolving Kafka {version} jars with Maven into {libs} ...")
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=1800)
        if proc.returncode != 0:
            output = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr)  # ANSI colours
            tail = "\n".join(output.strip().splitlines()[-30:])
            raise KafkaLocalError(
                f"Maven could not resolve org.apache.kafka:kafka_2.13:{version} "
                f"(exit {proc.returncode}); command: {' '.join(cmd)}\n{tail}"
            )
        if not (staging / f"kafka_2.13-{version}.jar").is_file():
            raise KafkaLocalError(f"Maven ran but kafka_2.13-{version}.jar is not in {staging}")
        (staging / _COMPLETE_MARKER).write_text(
            f"{version}\n{len(list(staging.glob('*.jar')))} jars\n", encoding="utf-8"
        )
        if libs.exists():
            shutil.rmtree(libs)  # an older version or an incomplete copy
        try:
            staging.rename(libs)
        except OSError:
            if not _libs_complete(libs, version):  # lost a race to another process?
                raise
    except subprocess.TimeoutExpired as exc:
        msg = f"Maven did not finish in {exc.timeout:.0f} s: {' '.join(cmd)}"
        raise KafkaLocalError(msg) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if echo:
        echo(f"Kafka {version} jars ready in {time.monotonic() - t0:.1f} s")
    return libs
