"""Shared by the benchmark scripts: the database to use, timing, medians, a table printer, servers
started in their own process group, and CPU time read from /proc."""

from __future__ import annotations

import argparse
import os
import resource
import signal
import socket
import statistics
import subprocess
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import text

CLK_TCK = os.sysconf("SC_CLK_TCK")


def database_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        help="PostGIS holding the data (default: GISGRID_DATABASE_URL or the embedded cluster)",
    )


def engine_from(args):
    from gisgrid.core.database import database_url, engine_for, normalise_url

    return engine_for(normalise_url(args.database_url) if args.database_url else database_url())


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def stopwatch(into: list[float]):
    start = time.perf_counter()
    yield
    into.append(time.perf_counter() - start)


def repeat(fn: Callable[[], object], times: int) -> list[float]:
    samples: list[float] = []
    for _ in range(times):
        with stopwatch(samples):
            fn()
    return samples


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def table(rows: list[dict], columns: list[str]) -> str:
    widths = {c: max(len(c), *(len(_fmt(r.get(c))) for r in rows)) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns),
             "  ".join("-" * widths[c] for c in columns)]
    lines += ["  ".join(_fmt(r.get(c)).ljust(widths[c]) for c in columns) for r in rows]
    return "\n".join(lines)


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:,.4f}" if value < 10 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return "" if value is None else str(value)


# --- servers ----------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A server started in its own process group (stopped as a group: uvicorn and its workers).
    ``{port}`` in ``argv`` becomes a free local port."""

    def __init__(self, name: str, argv: list[str], env: dict, health: str, logdir: Path, cwd: Path | None = None):
        self.name, self.port = name, free_port()
        self.log = logdir / f"{name}.log"
        argv = [a.replace("{port}", str(self.port)) for a in argv]
        self.proc = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                     stdout=self.log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
        self.health = f"http://127.0.0.1:{self.port}{health}"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, seconds: float) -> None:
        deadline, last = time.time() + seconds, "no answer"
        while time.time() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                response = httpx.get(self.health, timeout=10)
                if response.status_code == 200:
                    return
                last = f"{response.status_code} {response.text[:300]}"
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            time.sleep(0.3)
        self.stop()
        raise SystemExit(f"{self.name} did not start (last health check: {last}; log {self.log}):\n"
                         f"{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 5)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.proc.wait(wait)
                for _ in range(50):  # the group may outlive its leader for a moment (workers shutting down)
                    os.killpg(self.proc.pid, 0)
                    time.sleep(0.1)
            except ProcessLookupError:
                return
            except subprocess.TimeoutExpired:
                continue


# --- CPU from /proc ---------------------------------------------------------------------------

def tree_cpu(root: int | None) -> float:
    """CPU seconds (user + system) of ``root`` and every process below it, as of now."""
    if root is None:
        return 0.0
    stats: dict[int, tuple[int, float]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            raw = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2:].split()
        stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / CLK_TCK)
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += stats.get(pid, (0, 0.0))[1]
        todo += children.get(pid, [])
    return total


def postmaster_pid(conn) -> int | None:
    try:
        data_dir = conn.execute(text("SHOW data_directory")).scalar_one()
        pid = int(Path(data_dir, "postmaster.pid").read_text().split()[0])
        os.kill(pid, 0)
        return pid
    except Exception:  # not superuser, not on this machine: no database CPU figure
        return None
