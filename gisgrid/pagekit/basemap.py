"""Which basemap a page loads: the configured one when it answers, else the built-in blank.

A sub-district office on a government network often cannot reach OpenStreetMap; a page that
asks for its tiles anyway waits seconds and logs an error per tile. The server tries the
basemap's host once (a TCP connection, a second and a half at most) and remembers the answer
for a few minutes, so pages on an isolated network draw on the blank basemap at once, quietly.
The page's own script still falls back if tiles fail in the browser after all.
"""

from __future__ import annotations

import socket
import threading
import time
from urllib.parse import urlsplit

from gisgrid.core.settings import get_settings

BLANK = "/basemap/blank/{z}/{x}/{y}.png"
REMEMBER_S = {True: 600.0, False: 120.0}  # a host that answered is tried less often than one that did not
PROBE_TIMEOUT_S = 1.5

_known: dict[tuple[str, int], tuple[bool, float]] = {}
_lock = threading.Lock()


def _endpoint(url: str) -> tuple[str, int] | None:
    """Host and port of a tile URL template (``{s}`` subdomains read as ``a``); None for our own."""
    if url.startswith("/"):
        return None
    parts = urlsplit(url.replace("{s}", "a"))
    if not parts.hostname:
        return None
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


def _answers(endpoint: tuple[str, int]) -> bool:
    try:
        with socket.create_connection(endpoint, timeout=PROBE_TIMEOUT_S):
            return True
    except OSError:
        return False


def tile_url() -> str:
    """The configured basemap's URL if its host answered lately, else the blank basemap's."""
    url = get_settings().basemap_url
    endpoint = _endpoint(url)
    if endpoint is None:
        return url
    now = time.monotonic()
    with _lock:
        known = _known.get(endpoint)
    if known is None or now - known[1] > REMEMBER_S[known[0]]:
        known = (_answers(endpoint), now)
        with _lock:
            _known[endpoint] = known
    return url if known[0] else BLANK

