"""Benchmark: the coverage map of the demo sub-district in headless Chromium — time until fully
rendered, and page weight.

    .venv/bin/python benchmarks/pages.py [--url http://127.0.0.1:8000] [--repeat 7] [--path /map/coverage]
        [--database-url URL]

Start the service first (``gisgrid demo`` serves the demo on port 8000; for an isolated network
set ``GISGRID_BASEMAP_URL=/basemap/blank/{z}/{x}/{y}.png`` so the basemap is the app's own).
"Fully rendered" = the load event has fired, the network is idle (every script, style, tile and
the overlays fetched) and Leaflet has drawn every overlay path. Each run uses a fresh browser
context (a cold cache); the bar (the issue) is under 2 s. Weight counts every response body.

The pages are for signed-in users: the script makes a city-wide benchmark administrator with a
fresh API key in the service's database (``--database-url``, default GISGRID_DATABASE_URL or the
embedded cluster of GISGRID_HOME, as ``gisgrid`` itself; ``common.benchmark_caller``, the key
revoked at the end) and each browser context carries it in the session cookie, as a signed-in
browser does — a cookie goes to the service only, where a header would also reach the basemap.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from playwright.sync_api import sync_playwright  # noqa: E402

from gisgrid.auth.access import COOKIE  # noqa: E402

from common import benchmark_caller, database_arg, engine_from, table  # noqa: E402

BAR_S = 2.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--path", default="/map/coverage")
    parser.add_argument("--repeat", type=int, default=7)
    database_arg(parser)
    args = parser.parse_args()
    engine = engine_from(args)
    caller = benchmark_caller(engine)
    try:
        rows = render(args, caller.key)
    finally:
        caller.revoke(engine)
    median = statistics.median(r["seconds"] for r in rows)
    summary = {"page": args.path, "runs": len(rows), "median_s": median, "min_s": min(r["seconds"] for r in rows),
               "max_s": max(r["seconds"] for r in rows), "bar_s": BAR_S, "ratio_to_bar": median / BAR_S,
               "requests": rows[0]["requests"], "weight_kb": rows[0]["weight_kb"], "html_kb": rows[0]["html_kb"],
               "overlay_paths": rows[0]["paths"]}
    print(table([summary], list(summary)))


def render(args, key: str) -> list[dict]:
    """``--repeat`` cold loads of the page, each in a fresh context signed in with ``key``."""
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    rows = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"])
        for _ in range(args.repeat):
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            context.add_cookies([{"name": COOKIE, "value": key, "url": args.url, "httpOnly": True,
                                  "sameSite": "Strict"}])
            page = context.new_page()
            sizes: dict[str, int] = {}
            page.on("response", lambda r, sizes=sizes: sizes.__setitem__(r.url, len(r.body()) if r.ok else 0))
            start = time.perf_counter()
            answer = page.goto(args.url + args.path, wait_until="networkidle")
            if not answer.ok:
                raise SystemExit(f"{args.url + args.path}: {answer.status} {answer.text()[:300]}")
            page.wait_for_function("document.querySelectorAll('path.leaflet-interactive').length > 0")
            elapsed = time.perf_counter() - start
            paths = page.evaluate("document.querySelectorAll('path.leaflet-interactive').length")
            html = sizes.get(args.url + args.path, 0)
            rows.append({"seconds": elapsed, "requests": len(sizes), "weight_kb": sum(sizes.values()) / 1024,
                         "html_kb": html / 1024, "paths": paths})
            context.close()
        browser.close()
    return rows


if __name__ == "__main__":
    main()
