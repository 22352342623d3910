"""Render the Grafana dashboard's panels with matplotlib, from a real Prometheus scraping a
real worker (Grafana cannot run here; the README's dashboard picture comes from this).

What it does: starts a worker (``python -m streams.worker``, its own app id and topic prefix)
on the broker, a Prometheus (Debian's ``prometheus``) scraping it every 2 s, replays a slice of
the bundled sample through ``patrolstream replay`` (with ``--send-invalid``, so the dead-letter
panels have something to show), waits for the worker to drain, then evaluates every panel's
PromQL over the run with ``/api/v1/query_range`` and lays the panels out as the dashboard's
``gridPos`` does.

Usage (from the repository root, broker running)::

    python deploy/render_dashboard.py --broker localhost:9092 --out docs/img/dashboard.png
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "patrolstream.json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_json(url: str, timeout: float = 10.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read())


def wait_for(probe: Any, what: str, timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            got = probe()
        except OSError:
            got = None
        if got:
            return got
        time.sleep(0.5)
    raise SystemExit(f"render_dashboard: {what} not within {timeout_s:.0f} s")


class Prom:
    """A Prometheus process scraping ``target`` as job ``patrolstream-worker``."""

    def __init__(self, binary: str, target: str, workdir: Path, interval: str) -> None:
        config = workdir / "prometheus.yml"
        config.write_text(
            json.dumps(  # JSON is YAML
                {
                    "global": {"scrape_interval": interval, "scrape_timeout": interval},
                    "scrape_configs": [
                        {
                            "job_name": "patrolstream-worker",
                            "static_configs": [{"targets": [target]}],
                        }
                    ],
                }
            ),
            encoding="utf-8",
        )
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.log = open(workdir / "prometheus.log", "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        wait_for(lambda: urllib.request.urlopen(f"{self.url}/-/ready").status == 200,
                 "Prometheus ready", 30)  # fmt: skip

    def query(self, expr: str) -> list[dict[str, Any]]:
        q = urllib.parse.urlencode({"query": expr})
        return list(http_json(f"{self.url}/api/v1/query?{q}")["data"]["result"])

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        q = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step})
        body = http_json(f"{self.url}/api/v1/query_range?{q}", timeout=30)
        return list(body["data"]["result"])

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(20)
        self.log.close()


class MapShot:
    """The map page in the system's headless Chromium (Playwright; never a downloaded one)."""

    def __init__(self, base: str, tokens: str) -> None:
        from playwright.sync_api import sync_playwright

        token = tokens.split("=", 1)[0]
        self._pw = sync_playwright().start()
        chromium = os.environ.get("PATROLSTREAM_CHROMIUM") or shutil.which("chromium")
        self._browser = self._pw.chromium.launch(executable_path=chromium, headless=True)
        try:
            self.page = self._browser.new_page(viewport={"width": 1500, "height": 1250})
            self.page.goto(f"{base}/map#token={token}")
            self.page.wait_for_selector("path.ps-route", timeout=60_000)
        except Exception:
            self.close()
            raise

    def shoot(self, out: Path) -> None:
        out.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(out))
        print(f"wrote {out}", file=sys.stderr)

    def close(self) -> None:
        self._browser.close()
        self._pw.stop()


def legend(fmt: str, labels: dict[str, str]) -> str:
    """Grafana's ``{{label}}`` legend format.

    >>> legend("district {{district}}", {"district": "8"})
    'district 8'
    """
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), fmt)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Worker + Prometheus + replay; returns every panel's query results."""
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        raise SystemExit("render_dashboard: `prometheus` not found (apt-get install prometheus)")
    tag = uuid.uuid4().hex[:8]
    workdir = Path(tempfile.mkdtemp(prefix=f"render-dashboard-{tag}-"))
    web_port = free_port()
    bootstrap = args.broker.removeprefix("kafka://")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PATROLSTREAM_")}
    env.update(
        PATROLSTREAM_BROKER=f"kafka://{bootstrap}",
        PATROLSTREAM_APP_ID=f"ps-dashboard-{tag}",
        PATROLSTREAM_TOPIC_PREFIX=f"dash{tag}.",
        PATROLSTREAM_STORE="memory://",
        PATROLSTREAM_DATA_DIR=str(workdir / "worker"),
        PATROLSTREAM_WEB_PORT=str(web_port),
        PATROLSTREAM_STATS_INTERVAL_S="5",
        PATROLSTREAM_API_TOKENS=f"render-{uuid.uuid4().hex}=dispatch",
        OMP_NUM_THREADS="1",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
    )
    from streams.topics import TopicNames, ensure_topics

    topics = TopicNames.with_prefix(env["PATROLSTREAM_TOPIC_PREFIX"])
    asyncio.run(ensure_topics(bootstrap, topics.all(), partitions=4))
    worker_log = open(workdir / "worker.log", "wb")  # noqa: SIM115
    worker = subprocess.Popen(
        [sys.executable, "-m", "streams.worker"], cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=worker_log,
    )  # fmt: skip
    prom: Prom | None = None
    browser: MapShot | None = None
    try:
        metrics_url = f"http://127.0.0.1:{web_port}/metrics"
        wait_for(lambda: urllib.request.urlopen(metrics_url).status == 200, "worker /metrics", 90)
        prom = Prom(prometheus, f"127.0.0.1:{web_port}", workdir, args.scrape_interval)
        time.sleep(5)
        start = time.time()
        replay = [
            sys.executable, "-m", "simulators.cli", "replay", "--broker", f"kafka://{bootstrap}",
            "--speed", str(args.speed), "--from", args.date_from, "--to", args.date_to,
            "--send-invalid", "--no-progress",
        ]  # fmt: skip
        print(f"replaying {args.date_from}..{args.date_to} at {args.speed}x", file=sys.stderr)
        replaying = subprocess.Popen(replay, cwd=ROOT, env=env)
        if args.map_out is not None:
            # open the map half-way: what changes afterwards arrives over the WebSocket
            days = (date.fromisoformat(args.date_to) - date.fromisoformat(args.date_from)).days
            time.sleep((days + 1) * 86400 / args.speed / 2)
            browser = MapShot(f"http://127.0.0.1:{web_port}", env["PATROLSTREAM_API_TOKENS"])
        if replaying.wait() != 0:
            raise SystemExit("render_dashboard: the replay failed")

        def drained() -> bool:
            assert prom is not None
            lag = prom.query("sum(patrolstream_consumer_lag)")
            return bool(lag) and float(lag[0]["value"][1]) == 0

        wait_for(drained, "the worker to drain its partitions", 600)
        if browser is not None:
            time.sleep(3)
            browser.shoot(args.map_out)
        time.sleep(args.tail_s)
        end = time.time()
        step = max(2.0, (end - start) / 400)
        dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
        panels = []
        for panel in dashboard["panels"]:
            series = []
            for target in panel.get("targets", []):
                result = prom.query_range(target["expr"], start, end, step)
                series.append({"target": target, "result": result})
            panels.append({"panel": panel, "series": series})
        replayed = {"from": args.date_from, "to": args.date_to, "speed": args.speed}
        return {"start": start, "end": end, "step": step, "panels": panels, "replay": replayed}
    finally:
        if browser is not None:
            browser.close()
        if prom is not None:
            prom.stop()
        worker.terminate()
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
        worker_log.close()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


# --------------------------------------------------------------------------------------
# drawing
# --------------------------------------------------------------------------------------

UNITS = {"s": "seconds", "ops": "per second", "percentunit": "share", "short": "", "none": ""}


def draw(data: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    panels = data["panels"]
    rows = max(p["panel"]["gridPos"]["y"] + p["panel"]["gridPos"]["h"] for p in panels)
    unit_h = 0.42  # inches per gridPos row
    header, width = 0.9, 16.0
    height = rows * unit_h + header
    fig = plt.figure(figsize=(width, height), dpi=100)

    def rect(g: dict[str, int]) -> tuple[float, float, float, float]:
        """Figure coordinates of a panel, inside its gridPos cell (room for title, ticks)."""
        pad_l, pad_r, pad_t, pad_b = 0.6, 0.15, 0.35, 0.45  # inches
        x0 = g["x"] / 24 * width + pad_l
        x1 = (g["x"] + g["w"]) / 24 * width - pad_r
        top = height - header - g["y"] * unit_h - pad_t
        bottom = height - header - (g["y"] + g["h"]) * unit_h + pad_b
        return (x0 / width, bottom / height, (x1 - x0) / width, (top - bottom) / height)

    t0 = data["start"]
    replay = data["replay"]
    fig.suptitle(
        "patrolstream dashboard panels, rendered with matplotlib from the real Prometheus "
        "(not Grafana)\n"
        f"one worker on the local Kafka broker; replay of the bundled sample "
        f"{replay['from']}..{replay['to']} at {replay['speed']:g}x with its invalid rows; "
        f"x axis: wall-clock minutes",
        fontsize=11,
    )
    for item in panels:
        panel, series = item["panel"], item["series"]
        g = panel["gridPos"]
        ax = fig.add_axes(rect(g))
        ax.set_title(panel["title"], fontsize=10, loc="left", fontweight="bold")
        unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "")
        if panel["type"] == "stat":
            ax.axis("off")
            texts = []
            for s in series:
                for r in s["result"]:
                    value = float(r["values"][-1][1])
                    name = legend(s["target"].get("legendFormat", ""), r["metric"])
                    shown = f"{value:.0f}" if panel["id"] == 1 else name
                    texts.append(shown)
            ax.text(0.5, 0.45, "\n".join(texts) or "no data", ha="center", va="center",
                    fontsize=22 if panel["id"] == 1 else 12, transform=ax.transAxes)  # fmt: skip
            continue
        if panel["type"] == "heatmap":
            (s,) = series
            buckets = sorted(
                ((float(r["metric"]["le"]), r) for r in s["result"] if r["metric"].get("le")),
                key=lambda x: x[0],
            )
            if not any(float(v[1]) for _, r in buckets for v in r["values"]):
                ax.axis("off")
                ax.text(0.5, 0.5, "no arrest scores observed", ha="center",
                        transform=ax.transAxes)  # fmt: skip
                continue
            times = sorted({float(v[0]) for _, r in buckets for v in r["values"]})
            index = {t: i for i, t in enumerate(times)}
            cum = np.zeros((len(buckets), len(times)))
            for b, (_, r) in enumerate(buckets):
                for t, v in r["values"]:
                    cum[b, index[float(t)]] = float(v)
            counts = np.diff(np.vstack([np.zeros(len(times)), cum]), axis=0).clip(min=0)
            edges = [0.0] + [le if np.isfinite(le) else 1.05 for le, _ in buckets]
            x = [(t - t0) / 60 for t in times]
            x_edges = [*x, x[-1] + data["step"] / 60] if x else [0, 1]
            mesh = ax.pcolormesh(x_edges, edges, counts, cmap="Oranges", shading="flat")
            fig.colorbar(mesh, ax=ax, label="scores per minute", pad=0.01, fraction=0.04)
            ax.set_ylabel("arrest probability")
            ax.set_xlabel("minutes")
            continue
        plotted = 0
        for s in series:
            for r in s["result"]:
                ts = np.array([float(v[0]) for v in r["values"]])
                ys = np.array([float(v[1]) for v in r["values"]])
                label = legend(s["target"].get("legendFormat", ""), r["metric"])
                ax.plot((ts - t0) / 60, ys, lw=1.1, label=label)
                plotted += 1
        if not plotted:
            ax.text(0.5, 0.5, "no data", ha="center", transform=ax.transAxes)
        ax.set_ylabel(UNITS.get(unit, unit), fontsize=8)
        ax.set_ylim(bottom=0)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
        ax.set_xlabel("minutes", fontsize=8)
        if 0 < plotted <= 6:
            ax.legend(fontsize=7, ncol=min(3, plotted), loc="upper right", framealpha=0.7)
        elif plotted:
            names = re.findall(r"\{\{\s*(\w+)\s*\}\}", s["target"].get("legendFormat", ""))
            note = f"{plotted} series, one per {', '.join(names)}"
            ax.text(0.01, 0.95, note, ha="left", va="top", fontsize=8, transform=ax.transAxes)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--broker",
        default=os.environ.get("PATROLSTREAM_KAFKA_BOOTSTRAP", "localhost:9092"),
        help="Kafka bootstrap host:port (env PATROLSTREAM_KAFKA_BOOTSTRAP; default "
        "localhost:9092, started by `patrolstream kafka start`)",
    )
    parser.add_argument(
        "--from",
        dest="date_from",
        default="2016-09-01",
        help="first day of the sample to replay (default 2016-09-01)",
    )
    parser.add_argument(
        "--to",
        dest="date_to",
        default="2016-09-05",
        help="last day of the sample to replay (default 2016-09-05)",
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=3600.0,
        help="replay speed, seconds of event time per second (default 3600)",
    )
    parser.add_argument(
        "--scrape-interval", default="2s", help="Prometheus scrape interval (default 2s)"
    )
    parser.add_argument(
        "--tail-s",
        type=float,
        default=30.0,
        help="seconds to keep scraping after the worker drained (default 30)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=ROOT / "docs" / "img" / "dashboard.png",
        help="PNG to write (default docs/img/dashboard.png)",
    )
    parser.add_argument(
        "--save-json", type=Path, default=None, help="also write the query results as JSON here"
    )
    parser.add_argument(
        "--from-json",
        type=Path,
        default=None,
        help="draw saved query results instead of running (no broker needed)",
    )
    parser.add_argument(
        "--map-out",
        type=Path,
        default=ROOT / "docs" / "img" / "map.png",
        help="also take a screenshot of the map page here, opened half-way through the replay "
        "(default docs/img/map.png; needs Playwright and the system Chromium)",
    )
    parser.add_argument("--no-map", dest="map_out", action="store_const", const=None,
                        help="no map screenshot")  # fmt: skip
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary folder (worker and Prometheus logs)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.from_json:
        data = json.loads(args.from_json.read_text(encoding="utf-8"))
    else:
        data = run(args)
        data["rendered_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    if args.save_json:
        args.save_json.parent.mkdir(parents=True, exist_ok=True)
        args.save_json.write_text(json.dumps(data), encoding="utf-8")
    draw(data, args.out)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
