"""The demo's street network as a street file a user would bring to ``gisgrid divide --streets``.

The generator draws the streets first and makes every grid of the union of the faces they
bound; it keeps no street table. This redraws one sub-district's streets from the same seed (the
plan of grids only, no buildings or people) as GeoJSON lines in WGS84 with a ``rank`` column in
OSM's words: major roads between communities are ``primary`` (hard barriers), minor streets
between grids ``residential`` and lanes between micro-grids ``service`` (both crossable).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from shapely.geometry import mapping

from gisgrid.demo.generator import DemoConfig, _Ids, _SubDistrict, _to_lonlat

RANKS = {"major": "primary", "minor": "residential", "lane": "service"}


def street_features(index: int, config: DemoConfig = DemoConfig()) -> dict:
    """The streets of sub-district ``index`` (0 is the demo's, code ``510107001``) of ``config``."""
    rng = np.random.default_rng([config.seed, index])
    builder = _SubDistrict(rng, index, config, _Ids(), {})
    _, _, _, streets = builder.plan()
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": mapping(_to_lonlat(line)),
         "properties": {"rank": RANKS[kind], "kind": kind, "subdistrict": builder.code}}
        for kind, line in streets if not line.is_empty]}


def write_streets(path: Path, index: int, config: DemoConfig = DemoConfig()) -> Path:
    path.write_text(json.dumps(street_features(index, config), ensure_ascii=False))
    return path
