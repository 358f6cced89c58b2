"""Shared by the benchmark scripts: the database to use, timing, medians, a table printer, servers
started in their own process group, the signed-in caller the HTTP benchmarks send, CPU time
read from /proc, quantiles and what else runs on the machine."""

from __future__ import annotations

import argparse
import os
import resource
import secrets
import signal
import socket
import statistics
import subprocess
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
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


# --- a signed-in caller ------------------------------------------------------------------------

@dataclass(frozen=True)
class Caller:
    """A benchmark account's API key for this run, and the scope gisgrid resolves it to (the
    ``scope_key`` that also keys the caller's cached tiles)."""

    username: str
    role: str
    key: str
    scope_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def revoke(self, engine) -> None:
        """The key is of no use after the run (it may linger in a process list or a temp file)."""
        from gisgrid.auth.service import digest

        with engine.begin() as conn:
            conn.execute(text("UPDATE api_keys SET revoked_at = now() WHERE key_hash = :h AND revoked_at IS NULL"),
                         {"h": digest(self.key)})


def benchmark_caller(engine, username: str = "benchmark", role: str = "admin",
                     scope_grid: str | None = None) -> Caller:
    """Sign the benchmark in, in a database gisgrid has migrated: the account ``username`` is made
    once (a city-wide administrator by default; a community manager names the L1 grid of its
    scope) with a random password nobody keeps, and each run gets a fresh API key expiring in a
    day, made as ``tests/conftest.py`` makes the tests' key. The account's expired and revoked
    keys of earlier runs are deleted. An existing account with another role or scope stops the
    run rather than skew it."""
    from sqlalchemy.orm import Session

    from gisgrid.auth.service import API_KEY_PREFIX, account, create_account, digest
    from gisgrid.core.enums import Role

    with Session(engine) as db:
        found = db.execute(text("SELECT id FROM accounts WHERE lower(username) = lower(:u)"), {"u": username}).scalar()
        if found is None:
            made = create_account(db, username=username, display_name=f"基准测试 {username}", role=Role(role),
                                  password="Bench-9x" + secrets.token_urlsafe(24), scope_grid=scope_grid)
        else:
            made = account(db, found)
            if (made["role"], made["scope_grid"], made["subdistrict"] if role == "admin" else None,
                made["active"]) != (role, scope_grid, None, True):
                raise SystemExit(f"the account {username!r} exists as {made['role']} of "
                                 f"{made['scope_grid'] or made['subdistrict'] or 'the city'} (active: {made['active']}), "
                                 f"not as the benchmark's {role} of {scope_grid or 'the city'}: rename or remove it")
        db.execute(text("DELETE FROM api_keys WHERE account_id = :a AND (revoked_at IS NOT NULL OR expires_at < now())"),
                   {"a": made["id"]})
        key = API_KEY_PREFIX + "bench-" + secrets.token_urlsafe(32)
        db.execute(text("""INSERT INTO api_keys (account_id, name, prefix, key_hash, expires_at)
                           VALUES (:a, 'benchmark', :p, :h, now() + interval '1 day')"""),
                   {"a": made["id"], "p": key[:10], "h": digest(key)})
        db.commit()
        # the server's own resolution of the key, so a key it would refuse stops the run here
        scope_key = db.execute(text("SELECT scope_key FROM gisgrid_principal(:h, true, now())"),
                               {"h": digest(key)}).scalar()
        db.commit()
    if scope_key is None:
        raise SystemExit(f"gisgrid does not accept the benchmark key of {username!r}")
    return Caller(username, role, key, scope_key)


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


def cluster_cpu(postmaster: int | None) -> float:
    """CPU seconds of the PostgreSQL cluster: its live processes plus the backends that have
    exited (the postmaster's reaped children: cutime + cstime), so a closing connection does not
    make the figure go backwards."""
    if postmaster is None:
        return 0.0
    try:
        raw = Path(f"/proc/{postmaster}/stat").read_text()
    except OSError:
        return 0.0
    fields = raw[raw.rindex(")") + 2:].split()
    return tree_cpu(postmaster) + (int(fields[13]) + int(fields[14])) / CLK_TCK


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def neighbours() -> str:
    """What else runs on this machine right now (the figures are wall-clock on shared CPUs)."""
    found = subprocess.run(["pgrep", "-af", r"python[0-9.]* \S*benchmarks/(tiles|lookup|editing|membership|coverage|"
                            r"pages|generate|cases|ledger)\.py"], capture_output=True, text=True).stdout
    names = sorted({line.split("benchmarks/")[1].split()[0] for line in found.splitlines()
                    if "benchmarks/" in line and int(line.split()[0]) not in (os.getpid(), os.getppid())})
    return f"load average {os.getloadavg()[0]:.2f}" + (f", also running: {', '.join(names)}" if names else "")


def quantile(values: list[float], q: float) -> float:
    """The ``q`` quantile, interpolated linearly between the two nearest samples."""
    values = sorted(values)
    k = (len(values) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)
