"""Shared by the benchmark scripts: the database to use, timing, medians, a table printer."""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from collections.abc import Callable
from contextlib import contextmanager


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
