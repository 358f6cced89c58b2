"""Every script and stylesheet a map page loads comes from the app itself.

folium names its dependencies with CDN addresses; :func:`offline` swaps each for the copy
installed from the npm registry at setup (``frontend/``, served under ``/static/vendor``). A
dependency this table does not know is an error, not a silent CDN request: a new plugin needs
its package added to ``frontend/package.json`` and a line here.
"""

from __future__ import annotations

from pathlib import Path

from branca.element import Element, MacroElement
from folium.elements import JSCSSMixin

from gisgrid.core.errors import SetupError

FRONTEND = Path(__file__).resolve().parents[2] / "frontend" / "node_modules"
VENDOR = "/static/vendor"

LOCAL = {
    "leaflet": "leaflet/dist/leaflet.js",
    "jquery": "jquery/dist/jquery.min.js",
    "bootstrap": "bootstrap/dist/js/bootstrap.bundle.min.js",
    "awesome_markers": "leaflet.awesome-markers/dist/leaflet.awesome-markers.min.js",
    "leaflet-heat.js": "leaflet.heat/dist/leaflet-heat.js",
    "leaflet_draw_js": "leaflet-draw/dist/leaflet.draw.js",
    "leaflet_css": "leaflet/dist/leaflet.css",
    "bootstrap_css": "bootstrap/dist/css/bootstrap.min.css",
    "awesome_markers_font_css": "@fortawesome/fontawesome-free/css/all.min.css",
    "awesome_markers_css": "leaflet.awesome-markers/dist/leaflet.awesome-markers.css",
    "leaflet_draw_css": "leaflet-draw/dist/leaflet.draw.css",
}
# Bootstrap 3 glyphicons and folium's rotated-marker CSS: no page of ours uses them.
DROPPED = {"glyphicons_css", "awesome_rotate_css"}


class Needs(JSCSSMixin, MacroElement):
    """Scripts and styles a page's own code uses, loaded after Leaflet (folium orders them)."""

    def __init__(self, js: list[str] = (), css: list[str] = ()):
        super().__init__()
        self._name = "Needs"
        self.default_js = [(name, f"{VENDOR}/{LOCAL[name]}") for name in js]
        self.default_css = [(name, f"{VENDOR}/{LOCAL[name]}") for name in css]


def check_installed() -> None:
    """At start-up: the front-end packages are there (``bash .ci/setup`` installs them)."""
    missing = [path for path in LOCAL.values() if not (FRONTEND / path).exists()]
    if missing:
        raise SetupError(f"前端资源缺失，请运行 bash .ci/setup / front-end packages missing ({missing[0]} …): "
                         "run `bash .ci/setup` (npm ci in frontend/)", where="frontend")


def _local(pairs: list[tuple[str, str]], owner: str) -> list[tuple[str, str]]:
    out = []
    for name, url in pairs:
        if name in DROPPED:
            continue
        if name not in LOCAL:
            if url.startswith("/"):
                out.append((name, url))
                continue
            raise SetupError(f"{owner} 需要未本地化的资源 {name} / {owner} loads {name} from {url}: add its "
                             "package to frontend/package.json and gisgrid.pagekit.assets.LOCAL", where=name)
        out.append((name, f"{VENDOR}/{LOCAL[name]}"))
    return out


def offline(element: Element) -> Element:
    """Point ``element`` and everything inside it at the app's own copies of their scripts."""
    for attr in ("default_js", "default_css"):
        if hasattr(element, attr):
            setattr(element, attr, _local(getattr(element, attr), type(element).__name__))
    for child in list(getattr(element, "_children", {}).values()):
        offline(child)
    return element
