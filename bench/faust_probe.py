"""A minimal Faust app in a subprocess, for :mod:`bench.stream_ceiling` stages 4 and 5: an
agent that only counts, or one that forwards every message once and another that counts."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tqdm import tqdm

from bench.common import ROOT
from bench.procstat import Snap, snap, window


def faust_child(config: str) -> None:
    """Entry of the Faust subprocess (stages 4 and 5); ``config`` is JSON from the parent."""
    cfg = json.loads(config)
    import faust

    from streams.app import BATCH_MAX, BATCH_WITHIN_S

    app = faust.App(
        cfg["app_id"],
        broker=f"kafka://{cfg['bootstrap']}",
        store="memory://",
        topic_partitions=cfg["partitions"],
        web_enabled=False,
        datadir=cfg["datadir"],
        consumer_metadata_max_age_ms=5000,
        consumer_auto_offset_reset="earliest",
        key_serializer="raw",
        value_serializer="raw",
        processing_guarantee="at_least_once",
        autodiscover=False,
    )
    raw: dict[str, Any] = {"key_type": bytes, "value_type": bytes, "partitions": cfg["partitions"]}
    source = app.topic(cfg["source"], **raw)
    state: dict[str, Any] = {"count": 0, "a": None, "next": 2000}
    out, n, broker_pid = Path(cfg["out"]), cfg["n"], cfg["broker_pid"]

    async def count(stream: Any) -> None:
        async for events in stream.take_events(BATCH_MAX, within=BATCH_WITHIN_S):
            state["count"] += len(events)
            c = state["count"]
            if state["a"] is None:
                state["a"] = snap(c, None, broker_pid)
            if c >= n:
                result = {"a": asdict(state["a"]), "b": asdict(snap(c, None, broker_pid))}
                out.write_text(json.dumps(result))
            elif c >= state["next"]:
                state["next"] += 2000
                out.with_suffix(".progress").write_text(str(c))

    if cfg["forward"]:
        target = app.topic(cfg["forward"], **raw)

        async def forward(stream: Any) -> None:
            async for events in stream.take_events(BATCH_MAX, within=BATCH_WITHIN_S):
                for event in events:
                    msg = event.message
                    await target.send(key=msg.key, value=msg.value, force=True)

        app.agent(source, name="forward")(forward)
        app.agent(target, name="count")(count)
    else:
        app.agent(source, name="count")(count)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    worker = faust.Worker(
        app, loop=loop, loglevel="WARNING", quiet=True, override_logging=False,
        redirect_stdouts=False,
    )  # fmt: skip
    worker.execute_from_commandline()


def run_faust(
    cfg: dict[str, Any], workdir: Path, desc: str, timeout_s: float, env: dict[str, str]
) -> dict[str, Any]:
    """Run :func:`faust_child` (``env`` added to its environment) until it has counted
    ``cfg["n"]`` messages."""
    out = workdir / f"{cfg['app_id']}.json"
    cfg = {**cfg, "out": str(out), "datadir": str(workdir / cfg["app_id"])}
    env = {**os.environ, "OMP_NUM_THREADS": "1", **env}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    log_path = workdir / f"{cfg['app_id']}.log"
    code = "import sys; from bench.faust_probe import faust_child; faust_child(sys.argv[1])"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", code, json.dumps(cfg)], cwd=ROOT, env=env,
            stdout=subprocess.DEVNULL, stderr=log,
        )  # fmt: skip
    deadline = time.monotonic() + timeout_s
    try:
        with tqdm(total=cfg["n"], desc=desc, unit="msg", mininterval=0.5) as bar:
            while not out.exists():
                if proc.poll() is not None or time.monotonic() > deadline:
                    tail = log_path.read_text(errors="replace")[-3000:]
                    raise SystemExit(f"{desc}: Faust app failed or timed out:\n{tail}")
                progress = out.with_suffix(".progress")
                if progress.exists() and (text := progress.read_text()):
                    bar.update(int(text) - bar.n)
                time.sleep(0.1)
            bar.update(cfg["n"] - bar.n)
    finally:
        stop(proc)
    result = json.loads(out.read_text())
    return window(Snap(**result["a"]), Snap(**result["b"]))


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 20 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
