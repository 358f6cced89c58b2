"""The demo sub-district generator: deterministic (one seed), realistic, and scalable to a city.

How a sub-district is made (in metres, UTM 48N, then WGS84 to 7 decimals):

1. An irregular boundary around a point of Chengdu's Wuhou district (武侯区, GB/T 2260 510107).
2. Wobbly major roads cut it into community zones (L1); minor streets cut each zone into grids
   (L2); lanes cut each grid into micro-grids (L3, a courtyard or building group).
3. All those lines are noded together once and polygonized into faces; every grid at every
   level is the union of its faces. Neighbours therefore share borders vertex for vertex, each
   level partitions its parent exactly, and a child can never spill out of its parent.
4. Buildings (footprints on a rotated lattice, inset from the grid border) are filled into each
   micro-grid until its household target is met; targets keep every grid inside its load band.
5. People, shops along the streets, stationed units, a team for every grid and a year of cases
   with hot spots and a weekly rhythm complete it.

Defects planted on purpose, nothing else (``Planted``): a blind spot (a hole in one L1 zone and
its descendants) with one building in it, an overlap of two sibling L2 grids (one grid and one of
its micro-grids take a piece of the neighbour), one overloaded and one underloaded L2 grid.

Grid serials number north→south in rows, west→east within a row (:mod:`gisgrid.grids.numbering`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer
from shapely import LineString, MultiPolygon, Point, Polygon, box
from shapely.affinity import rotate
from shapely.ops import nearest_points, polygonize, unary_union

from gisgrid.cases.calendar import work_calendar
from gisgrid.core.enums import StaffRole
from gisgrid.core.settings import get_settings
from gisgrid.demo import names
from gisgrid.grids.numbering import ROW_DEPTH_M, reading_order

COUNTY_CODE = "510107"
COUNTY = "武侯区"
CITY = "成都市"
CENTRE_LONLAT = (104.043, 30.642)
METRIC_CRS = "EPSG:32648"
TZ = ZoneInfo("Asia/Shanghai")
REFERENCE_TIME = datetime(2026, 11, 1, 0, 0, tzinfo=TZ)  # the year of cases ends here
SPACING = (4200.0, 3600.0)  # sub-district centres at city scale, metres

_TO_LONLAT = Transformer.from_crs(METRIC_CRS, "EPSG:4326", always_xy=True)
_TO_METRIC = Transformer.from_crs("EPSG:4326", METRIC_CRS, always_xy=True)

TABLES = (
    "subdistricts", "grids", "staff", "grid_assignments", "buildings", "households", "residents",
    "resident_key_groups", "stationed_units", "shops", "cases", "case_events", "leading_group_members",
    "visits", "training_courses", "training_records",
)


@dataclass
class DemoConfig:
    seed: int = 20261126
    sub_districts: int = 1
    communities: int = 8
    residents: bool = True
    cases: bool = True
    grids_per_community: float = 13.0
    cases_per_day: float = 25.0


@dataclass
class Planted:
    """The defects planted in one sub-district, for tests and for the people trying the demo."""

    subdistrict: str
    blind_spot: Polygon
    blind_spot_area_m2: float
    overlap_grids: tuple[str, str]
    overlap: Polygon
    overlap_area_m2: float
    orphan_building: str  # its address
    overloaded_grid: str
    underloaded_grid: str


@dataclass
class DemoData:
    tables: dict[str, pd.DataFrame]
    planted: list[Planted] = field(default_factory=list)

    def __getitem__(self, table: str) -> pd.DataFrame:
        return self.tables[table]


class _Ids:
    """Row ids per table, and the ID numbers issued, shared by every sub-district of a run."""

    def __init__(self) -> None:
        self.last: dict[str, int] = {}
        self.id_numbers: set[str] = set()

    def take(self, table: str, count: int = 1) -> np.ndarray:
        start = self.last.get(table, 0) + 1
        self.last[table] = start + count - 1
        return np.arange(start, start + count)

    def one(self, table: str) -> int:
        return int(self.take(table)[0])

    def id_number(self, region: str, birth: datetime, sequence: int) -> str:
        """A resident ID number no one else in the run holds: the next free sequence of the sex."""
        number = id_number(region, birth, sequence)
        while number in self.id_numbers:
            sequence = (sequence + 2) % 1000
            number = id_number(region, birth, sequence)
        self.id_numbers.add(number)
        return number


def generate(config: DemoConfig = DemoConfig()) -> DemoData:
    """Generate ``config.sub_districts`` sub-districts; the same config gives the same data."""
    rows: dict[str, list] = {t: [] for t in TABLES}
    ids = _Ids()
    planted = []
    for index in range(config.sub_districts):
        rng = np.random.default_rng([config.seed, index])
        builder = _SubDistrict(rng, index, config, ids, rows)
        planted.append(builder.build())
    return DemoData(tables={t: pd.DataFrame(r) for t, r in rows.items()}, planted=planted)


# --- geometry helpers ---------------------------------------------------------------------------

def _to_lonlat(geom):
    """Metres → WGS84 rounded to 1e-7°: shared vertices stay shared, exteriors counter-clockwise."""
    def move(xy):
        lon, lat = _TO_LONLAT.transform(xy[:, 0], xy[:, 1])
        return np.round(np.column_stack([lon, lat]), 7)

    return shapely.orient_polygons(shapely.transform(geom, move))


def _wobbly(rng, start, end, amplitude: float, parts: int = 8) -> LineString:
    t = np.linspace(0.0, 1.0, parts + 1)
    start, end = np.asarray(start, float), np.asarray(end, float)
    points = np.outer(1 - t, start) + np.outer(t, end)
    direction = (end - start) / np.hypot(*(end - start))
    normal = np.array([-direction[1], direction[0]])
    offsets = np.cumsum(rng.normal(0.0, amplitude, parts + 1)) * 0.6
    offsets -= np.linspace(offsets[0], offsets[-1], parts + 1) * 0.5
    return LineString(points + np.outer(offsets, normal))


def _cut_lines(rng, polygon: Polygon, nx: int, ny: int, amplitude: float) -> list[LineString]:
    """nx-1 roughly north-south and ny-1 roughly east-west wobbly lines across ``polygon``."""
    minx, miny, maxx, maxy = polygon.bounds
    w, h = maxx - minx, maxy - miny
    lines = []
    for j in range(1, nx):
        x = minx + w * (j + rng.uniform(-0.18, 0.18)) / nx
        tilt = rng.uniform(-0.08, 0.08) * h
        lines.append(_wobbly(rng, (x - tilt, miny - 30), (x + tilt, maxy + 30), amplitude))
    for j in range(1, ny):
        y = miny + h * (j + rng.uniform(-0.18, 0.18)) / ny
        tilt = rng.uniform(-0.08, 0.08) * w
        lines.append(_wobbly(rng, (minx - 30, y - tilt), (maxx + 30, y + tilt), amplitude))
    return [line.intersection(polygon.buffer(0.05)) for line in lines]


def _cells(polygon: Polygon, lines: list) -> list[Polygon]:
    faces = polygonize(unary_union([polygon.exterior, *[ln for ln in lines if not ln.is_empty]]))
    return [f for f in faces if polygon.contains(f.representative_point())]


def _merge_small(cells: list[Polygon], min_share: float, keep_at_least: int = 1) -> list[list[int]]:
    """Group cells so no group is smaller than ``min_share`` of the median cell area."""
    groups = [[i] for i in range(len(cells))]
    shapes = list(cells)
    threshold = min_share * float(np.median([c.area for c in cells]))
    while len(groups) > keep_at_least:
        smallest = min(range(len(groups)), key=lambda g: shapes[g].area)
        if shapes[smallest].area >= threshold:
            break
        shared = [shapes[smallest].boundary.intersection(shapes[g].boundary).length if g != smallest else -1
                  for g in range(len(groups))]
        target = int(np.argmax(shared))
        if shared[target] <= 0:
            break
        groups[target] += groups[smallest]
        shapes[target] = unary_union([shapes[target], shapes[smallest]])
        del groups[smallest], shapes[smallest]
    return groups


def _factors(count: float, width: float, height: float) -> tuple[int, int]:
    nx = max(1, round(math.sqrt(count * width / height)))
    ny = max(1, round(count / nx))
    return nx, ny


def _split(total: int, shares: np.ndarray, low: int, high: int) -> np.ndarray:
    """Integers proportional to ``shares`` summing to ``total``, each within [low, high]."""
    split = np.clip(np.floor(total * shares).astype(int), low, high)
    while split.sum() != total:
        step = 1 if split.sum() < total else -1
        room = (split < high) if step > 0 else (split > low)
        if not room.any():
            break
        split[np.flatnonzero(room)[np.argmax(shares[room] * step)]] += step
    return split


def _cn_number(n: int) -> str:
    digits = "零一二三四五六七八九"
    if n < 10:
        return digits[n]
    if n < 20:
        return "十" + (digits[n % 10] if n % 10 else "")
    if n < 100:
        return digits[n // 10] + "十" + (digits[n % 10] if n % 10 else "")
    return str(n)


# --- people -------------------------------------------------------------------------------------

_SURNAMES = [s for s, _ in names.SURNAMES]
_SURNAME_P = np.array([w for _, w in names.SURNAMES]) / sum(w for _, w in names.SURNAMES)
_FLOATING_REGIONS = ["510104", "510106", "511002", "500101", "513901", "420102", "610103", "520102",
                     "530102", "511302", "511702", "510811"]
_PHONE_PREFIXES = ["130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151",
                   "152", "155", "157", "158", "159", "177", "180", "181", "182", "183", "186",
                   "187", "188", "189", "199"]
_ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
_ID_CHECK = "10X98765432"


def id_number(region: str, birth: datetime, sequence: int) -> str:
    """A valid 18-digit resident ID (GB 11643): region, birth date, sequence, check digit."""
    body = f"{region}{birth:%Y%m%d}{sequence:03d}"
    total = int(np.dot(_ID_WEIGHTS, [int(c) for c in body]))
    return body + _ID_CHECK[total % 11]


def _person_name(rng, sex: str, surname: str | None = None) -> str:
    surname = surname or _SURNAMES[rng.choice(len(_SURNAMES), p=_SURNAME_P)]
    pool = names.GIVEN_MALE if sex == "M" else names.GIVEN_FEMALE
    return surname + "".join(rng.choice(pool, size=rng.choice([1, 2], p=[0.35, 0.65])))


def _phone(rng) -> str:
    return rng.choice(_PHONE_PREFIXES) + f"{rng.integers(0, 10**8):08d}"


# --- one sub-district ---------------------------------------------------------------------------

class _SubDistrict:
    def __init__(self, rng, index: int, config: DemoConfig, ids: _Ids, rows: dict[str, list]):
        self.rng, self.index, self.config, self.ids, self.rows = rng, index, config, ids, rows
        self.code = COUNTY_CODE + f"{index + 1:03d}"
        self.name = "锦城街道" if index == 0 else f"{names.COMMUNITY_NAMES[index % 20]}{_cn_number(index // 20 + 1)}街道"
        cx, cy = _TO_METRIC.transform(*CENTRE_LONLAT)
        col, row = self._spiral(index)
        self.centre = (cx + col * SPACING[0], cy + row * SPACING[1])
        self.bands = get_settings().load_bands

    @staticmethod
    def _spiral(n: int) -> tuple[int, int]:
        """Square spiral positions around (0, 0): 0, (1,0), (1,1), (0,1), (-1,1) …"""
        x = y = 0
        dx, dy = 1, 0
        leg, steps, turns = 1, 0, 0
        for _ in range(n):
            x, y = x + dx, y + dy
            steps += 1
            if steps == leg:
                steps, turns = 0, turns + 1
                dx, dy = -dy, dx
                if turns % 2 == 0:
                    leg += 1
        return x, y

    # -- the plan of grids --------------------------------------------------------------------
    def build(self) -> Planted:
        boundary, plan, special, streets = self.plan()
        lines = [boundary.exterior, *(line for _, line in streets)]
        blind, overlap_pair, overlap_box = self._plant_areas(plan, special)
        lines += [blind.exterior, overlap_box.exterior]
        faces = [f for f in polygonize(unary_union(lines))
                 if boundary.contains(f.representative_point())]
        return self._materialise(boundary, faces, plan, special, blind, overlap_pair, overlap_box)

    def plan(self) -> tuple[Polygon, list, dict, list[tuple[str, LineString]]]:
        """The boundary, the plan of grids and the street lines with their kind (``major`` roads
        between communities, ``minor`` streets between grids, ``lane`` between micro-grids), in
        metres, in the order they were drawn."""
        rng = self.rng
        boundary = self._boundary()
        major = _cut_lines(rng, boundary, *_factors(self.config.communities, *self._size(boundary)), 45.0)
        zones = _cells(boundary, major)
        zone_groups = _merge_small(zones, 0.5, keep_at_least=self.config.communities)
        while len(zone_groups) > self.config.communities:  # fewer zones than cells: merge the smallest
            zone_groups = self._merge_one(zones, zone_groups)
        l1_shapes = [unary_union([zones[i] for i in g]) for g in zone_groups]

        streets = [("major", line) for line in major]
        plan = []  # (l1 index, l2 index in l1, l2 shape, [l3 shapes])
        l1_order = reading_order(l1_shapes, ROW_DEPTH_M[1])
        special = self._pick_special(len(l1_order))
        for rank, l1 in enumerate(l1_order):
            zone = l1_shapes[l1]
            nx, ny = _factors(self.config.grids_per_community * rng.uniform(0.85, 1.15), *self._size(zone))
            minor = _cut_lines(rng, zone, nx, ny, 18.0)
            streets += [("minor", line) for line in minor]
            cells = _cells(zone, minor)
            groups = _merge_small(cells, 0.45)
            l2_shapes = [unary_union([cells[i] for i in g]) for g in groups]
            for l2_rank, l2 in enumerate(reading_order(l2_shapes, ROW_DEPTH_M[2])):
                shape = l2_shapes[l2]
                wants = 4 if (rank, l2_rank) == special["overloaded"] else 2 if (rank, l2_rank) == special["underloaded"] else None
                l3_lines, l3_shapes = self._micro(shape, wants)
                streets += [("lane", line) for line in l3_lines]
                plan.append((rank, l2_rank, shape, l3_shapes))
        return boundary, plan, special, streets

    def _size(self, shape) -> tuple[float, float]:
        minx, miny, maxx, maxy = shape.bounds
        return maxx - minx, maxy - miny

    def _merge_one(self, cells, groups):
        shapes = [unary_union([cells[i] for i in g]) for g in groups]
        smallest = min(range(len(groups)), key=lambda g: shapes[g].area)
        shared = [shapes[smallest].boundary.intersection(s.boundary).length if g != smallest else -1
                  for g, s in enumerate(shapes)]
        target = int(np.argmax(shared))
        groups[target] += groups[smallest]
        del groups[smallest]
        return groups

    def _boundary(self) -> Polygon:
        """A star-shaped, irregular outline about 3.2 km × 2.6 km."""
        angles = np.linspace(0, 2 * np.pi, 56, endpoint=False)
        a, b, p = 1600.0, 1300.0, 4.0
        radius = (np.abs(np.cos(angles) / a) ** p + np.abs(np.sin(angles) / b) ** p) ** (-1 / p)
        noise = np.convolve(np.r_[self.rng.normal(0, 0.05, 56), 0, 0], np.ones(3) / 3, "same")[:56]
        radius *= 1 + noise
        cx, cy = self.centre
        return Polygon(np.column_stack([cx + radius * np.cos(angles), cy + radius * np.sin(angles)]))

    def _micro(self, shape: Polygon, wants: int | None) -> tuple[list, list[Polygon]]:
        """Lanes cutting an L2 grid into 2–4 micro-grids (``wants`` forces the count)."""
        rng = self.rng
        w, h = self._size(shape)
        for _ in range(6):
            if wants == 2 or (wants is None and rng.random() < 0.35):
                nx, ny = (2, 1) if w > h else (1, 2)
            elif wants == 4 or rng.random() < 0.5:
                nx, ny = 2, 2
            else:
                nx, ny = (3, 1) if w > h else (1, 3)
            lanes = _cut_lines(rng, shape, nx, ny, 6.0)
            cells = _cells(shape, lanes)
            groups = _merge_small(cells, 0.5, keep_at_least=2)
            shapes = [unary_union([cells[i] for i in g]) for g in groups]
            if wants is None or len(shapes) >= wants:
                return lanes, shapes
        return lanes, shapes

    def _pick_special(self, zones: int) -> dict:
        return {
            "overlap_zone": 0,
            "blind_zone": min(2, zones - 1),
            "overloaded": (min(4, zones - 1), 1),
            "underloaded": (min(6, zones - 1), 2),
        }

    def _plant_areas(self, plan, special):
        """The blind-spot square inside one micro-grid, and the overlap window on an L2 border."""
        zone_l3 = [(l3, i, j) for (zone, _, _, l3s) in plan if zone == special["blind_zone"]
                   for i, l3 in enumerate(l3s) for j in [len(l3s)]]
        blind = None
        for l3, _, _ in sorted(zone_l3, key=lambda t: -t[0].area):
            centre = l3.buffer(-40).representative_point() if not l3.buffer(-40).is_empty else None
            if centre is None:
                continue
            candidate = box(centre.x - 30, centre.y - 25, centre.x + 30, centre.y + 25)
            if l3.buffer(-12).contains(candidate):
                blind = candidate
                break
        pairs = [(a, b) for a in plan for b in plan
                 if a[0] == b[0] == special["overlap_zone"] and a[1] < b[1]
                 and a[2].boundary.intersection(b[2].boundary).length > 120
                 and (a[0], a[1]) not in (special["overloaded"], special["underloaded"])
                 and (b[0], b[1]) not in (special["overloaded"], special["underloaded"])]
        a, b = pairs[0]
        border = a[2].boundary.intersection(b[2].boundary)
        middle = border.interpolate(0.5, normalized=True)
        window = box(middle.x - 30, middle.y - 30, middle.x + 30, middle.y + 30)
        return blind, ((a[0], a[1]), (b[0], b[1])), window

    # -- from plan to rows ----------------------------------------------------------------------
    def _materialise(self, boundary, faces, plan, special, blind, overlap_pair, window) -> Planted:
        rng = self.rng
        l3_polys, l3_parent = [], []
        for p_index, (_, _, _, l3s) in enumerate(plan):
            for shape in l3s:
                l3_polys.append(shape)
                l3_parent.append(p_index)
        tree = shapely.STRtree(l3_polys)
        reps = shapely.point_on_surface(np.array(faces, dtype=object))
        face_l3 = np.full(len(faces), -1)
        hits = tree.query(reps, predicate="within")
        face_l3[hits[0]] = hits[1]
        missing = np.flatnonzero(face_l3 < 0)
        if len(missing):
            face_l3[missing] = tree.query_nearest(reps[missing], return_distance=False)[1]
        in_blind = np.array([blind.contains(r) for r in reps])
        a_key, b_key = overlap_pair
        plan_index = {(z, k): i for i, (z, k, _, _) in enumerate(plan)}
        a_plan, b_plan = plan_index[a_key], plan_index[b_key]
        face_l2 = np.array([l3_parent[i] for i in face_l3])
        in_window_b = np.array([window.contains(r) for r in reps]) & (face_l2 == b_plan)

        # Faces per grid; the blind-spot faces belong to no grid at any level.
        l3_faces = {i: np.flatnonzero((face_l3 == i) & ~in_blind) for i in range(len(l3_polys))}
        overlap_faces = np.flatnonzero(in_window_b & ~in_blind)
        a_children = [i for i, parent in enumerate(l3_parent) if parent == a_plan]
        a_child = max(a_children, key=lambda i: l3_polys[i].intersection(window).area)

        def union(indices):
            return unary_union([faces[i] for i in indices])

        # Grids, L1 → L2 → L3 with codes; geometry in metres first.
        l1_rows = []
        zones = sorted({z for z, _, _, _ in plan})
        zone_names = list(self.rng.permutation(names.COMMUNITY_NAMES))
        l2_geoms, l3_geoms = {}, {}
        for p_index in range(len(plan)):
            children = [i for i, parent in enumerate(l3_parent) if parent == p_index]
            child_geoms = []
            for i in children:
                idx = l3_faces[i]
                if i == a_child:
                    idx = np.r_[idx, overlap_faces]
                child_geoms.append(union(idx))
            l2_geom = unary_union(child_geoms)
            l2_geoms[p_index] = l2_geom
            l3_geoms[p_index] = child_geoms
        for zone in zones:
            members = [p for p, (z, _, _, _) in enumerate(plan) if z == zone]
            zone_geom = union(np.flatnonzero(np.isin(face_l2, members) & ~in_blind))
            l1_rows.append((zone, zone_geom, members))

        grids = []
        grid_ids = {}
        street_of = {}
        for zone, zone_geom, members in l1_rows:
            l1_code = self.code + f"{zone + 1:03d}"
            community = zone_names[zone % len(zone_names)] + "社区"
            l1_id = self.ids.one("grids")
            grids.append(self._grid(l1_id, 1, l1_code, None, zone + 1, community, zone_geom))
            grid_ids[("l1", zone)] = (l1_id, l1_code, community)
            for p_index in members:
                _, rank, _, _ = plan[p_index]
                l2_code = l1_code + f"{rank + 1:03d}"
                l2_id = self.ids.one("grids")
                l2_name = f"{community}第{rank + 1}网格"
                grids.append(self._grid(l2_id, 2, l2_code, l1_code, rank + 1, l2_name, l2_geoms[p_index]))
                grid_ids[("l2", p_index)] = (l2_id, l2_code, l2_name)
                street_of[p_index] = self._street_name(len(street_of))
                for serial, child in enumerate(reading_order(l3_geoms[p_index], ROW_DEPTH_M[3]), 1):
                    l3_code = l2_code + f"{serial:03d}"
                    l3_id = self.ids.one("grids")
                    grids.append(self._grid(l3_id, 3, l3_code, l2_code, serial,
                                            f"{l2_name}{serial}号微网格", l3_geoms[p_index][child]))
                    grid_ids[("l3", p_index, child)] = (l3_id, l3_code, None)
        # The boundary as the union of every face carries every node where a road meets it, so
        # the L1 zones share its outline vertex for vertex.
        outline = union(range(len(faces)))
        self.rows["subdistricts"].append({
            "code": self.code, "name": self.name, "county": COUNTY, "city": CITY,
            "boundary": _to_lonlat(outline if outline.geom_type == "MultiPolygon" else MultiPolygon([outline])),
        })
        self.rows["grids"].extend(grids)

        overloaded = grid_ids[("l2", plan_index[special["overloaded"]])][1]
        underloaded = grid_ids[("l2", plan_index[special["underloaded"]])][1]
        keep_out = unary_union([blind.buffer(15), window.buffer(15)])
        targets = {}
        for p_index in range(len(plan)):
            code = grid_ids[("l2", p_index)][1]
            targets[p_index] = 360 if code == overloaded else 150 if code == underloaded else int(rng.integers(222, 286))

        buildings = _Buildings(self, keep_out)
        for p_index in range(len(plan)):
            children = l3_geoms[p_index]
            shares = np.array([g.area for g in children])
            shares = 0.5 * shares / shares.sum() + 0.5 / len(children)
            split = _split(targets[p_index], shares, low=40, high=145)
            for child, households in enumerate(split):
                l3 = grid_ids[("l3", p_index, child)]
                buildings.fill(children[child], int(households), street_of[p_index], l3[1])
        orphan_address = buildings.orphan(blind)
        buildings.flush()

        staff = _Staff(self)
        for (kind, *_), (grid_id, code, name) in grid_ids.items():
            staff.team(kind, grid_id, code, name)
        staff.police(grid_ids)
        staff.leading_group()
        staff.flush()
        self._organisations(boundary, plan, l3_geoms, street_of, keep_out, blind)
        if self.config.cases:
            _Cases(self, boundary, buildings, grid_ids, l2_geoms, staff).generate()
            _Fieldwork(self, buildings, grid_ids, l2_geoms, staff).generate()

        a_code, b_code = grid_ids[("l2", a_plan)][1], grid_ids[("l2", b_plan)][1]
        overlap = union(overlap_faces)
        return Planted(
            subdistrict=self.code,
            blind_spot=_to_lonlat(blind), blind_spot_area_m2=blind.area,
            overlap_grids=(a_code, b_code), overlap=_to_lonlat(overlap), overlap_area_m2=overlap.area,
            orphan_building=orphan_address, overloaded_grid=overloaded, underloaded_grid=underloaded,
        )

    def _grid(self, grid_id, level, code, parent, serial, name, geom) -> dict:
        geom = geom if geom.geom_type == "MultiPolygon" else MultiPolygon([geom])
        return {"id": grid_id, "subdistrict_code": self.code, "level": level, "code": code,
                "parent_code": parent, "serial": serial, "name": name, "geom": _to_lonlat(geom),
                "version": 1}

    def _street_name(self, k: int) -> str:
        stem = names.STREET_STEMS[k % len(names.STREET_STEMS)]
        suffix = names.STREET_SUFFIXES[(k // len(names.STREET_STEMS)) % len(names.STREET_SUFFIXES)]
        if self.index:
            return f"{stem}{_cn_number(self.index)}{suffix}"
        return stem + suffix

    def _organisations(self, boundary, plan, l3_geoms, street_of, keep_out, blind):
        rng = self.rng
        shops = []
        for p_index, (_, _, shape, _) in enumerate(plan):
            street = street_of[p_index]
            frontage = shape.exterior
            count = int(rng.integers(4, 9))
            for k in range(count):
                at = frontage.interpolate(rng.uniform(0, frontage.length))
                inside = nearest_points(shape.buffer(-7), at)[0]
                if keep_out.contains(inside) or not shape.buffer(-5).contains(inside):
                    continue
                kind = rng.choice(list(names.SHOP_KINDS))
                brand = rng.choice(names.SHOP_KINDS[kind])
                owner = _person_name(rng, rng.choice(["M", "F"]))
                shops.append({
                    "id": self.ids.one("shops"), "subdistrict_code": self.code,
                    "name": f"{owner[0]}记{brand}" if kind == "餐饮" else f"{street[:2]}{brand}",
                    "kind": kind, "address": f"{street}{2 * k + 1 + 20 * (p_index % 7)}号附{k + 1}号",
                    "contact_name": owner, "contact_phone": _phone(rng),
                    "licence_no": f"92510107MA{rng.integers(10**7, 10**8)}", "geom": _to_lonlat(inside),
                })
        self.rows["shops"].extend(shops)
        units, used = [], set()
        l3_all = [g for geoms in l3_geoms.values() for g in geoms]
        for k in range(48):
            kind, labels = names.UNIT_KINDS[k % len(names.UNIT_KINDS)]
            cell = l3_all[int(rng.integers(len(l3_all)))].buffer(-15)
            if cell.is_empty:
                continue
            point = cell.representative_point()
            point = Point(point.x + rng.uniform(-5, 5), point.y + rng.uniform(-5, 5))
            if keep_out.contains(point) or not cell.contains(point):
                continue
            label = labels[k // len(names.UNIT_KINDS) % len(labels)]
            stem = names.COMPOUND_STEMS[int(rng.integers(len(names.COMPOUND_STEMS)))]
            official = kind in ("机关单位", "派出所")  # one of each per sub-district
            name = f"{self.name[:-2]}{label}" if official else f"成都市{stem}{label}"
            if name in used:
                continue
            used.add(name)
            units.append({
                "id": self.ids.one("stationed_units"), "subdistrict_code": self.code,
                "name": name,
                "kind": kind, "address": f"{self._street_name(k)}{100 + 2 * k}号",
                "contact_name": _person_name(rng, rng.choice(["M", "F"])), "contact_phone": f"028-8{rng.integers(10**6, 10**7)}",
                "geom": _to_lonlat(point), "joined_nearest": False,
            })
        self.rows["stationed_units"].extend(units)


# --- buildings, households, residents -----------------------------------------------------------

# name, probability, floors range, entrances range, flats per floor, footprint (length, depth) m
_RESIDENTIAL = [
    ("low", 0.44, (1, 3), (1, 1), (2, 3), (14.0, 10.0)),
    ("multi", 0.48, (5, 7), (1, 3), (2, 2), (30.0, 12.0)),
    ("high", 0.08, (11, 18), (1, 2), (4, 4), (26.0, 20.0)),
]
_MEMBERS = ([1, 2, 3, 4, 5, 6], [0.24, 0.35, 0.24, 0.10, 0.05, 0.02])


class _Buildings:
    def __init__(self, sd: _SubDistrict, keep_out):
        self.sd, self.rng, self.keep_out = sd, sd.rng, keep_out
        self.buildings: list[dict] = []
        self.households: list[dict] = []
        self.residents: list[dict] = []
        self.tags: list[dict] = []
        self.compounds = 0

    def _slots(self, cell: Polygon, spacing: tuple[float, float]) -> list[Polygon]:
        """Footprint-sized slots on a lattice turned to the cell's orientation, inside the cell."""
        rect = cell.minimum_rotated_rectangle
        coords = np.asarray(rect.exterior.coords)
        edge = coords[1] - coords[0]
        angle = math.degrees(math.atan2(edge[1], edge[0]))
        centre = cell.centroid
        upright = rotate(cell, -angle, origin=centre)
        minx, miny, maxx, maxy = upright.bounds
        xs = np.arange(minx + spacing[0] / 2, maxx, spacing[0])
        ys = np.arange(miny + spacing[1] / 2, maxy, spacing[1])
        if not len(xs) or not len(ys):
            return []
        gx, gy = np.meshgrid(xs, ys)
        inner = upright.buffer(-6)
        slots = shapely.box(gx.ravel() - spacing[0] * 0.38, gy.ravel() - spacing[1] * 0.3,
                            gx.ravel() + spacing[0] * 0.38, gy.ravel() + spacing[1] * 0.3)
        fits = shapely.contains(inner, slots)
        return [rotate(s, angle, origin=centre) for s in slots[fits]]

    def fill(self, cell: Polygon, households: int, street: str, grid_code: str) -> None:
        rng = self.rng
        slots = []
        for spacing in ((40.0, 26.0), (32.0, 22.0), (24.0, 18.0), (18.0, 14.0)):
            slots = [s for s in self._slots(cell, spacing) if not self.keep_out.intersects(s)]
            if len(slots) * 60 >= households:
                break
        order = rng.permutation(len(slots))
        self.compounds += 1
        compound = (names.COMPOUND_STEMS[self.compounds % len(names.COMPOUND_STEMS)]
                    + names.COMPOUND_SUFFIXES[(self.compounds // len(names.COMPOUND_STEMS)) % len(names.COMPOUND_SUFFIXES)])
        if self.compounds >= len(names.COMPOUND_STEMS) * len(names.COMPOUND_SUFFIXES):
            compound += _cn_number(self.compounds // (len(names.COMPOUND_STEMS) * len(names.COMPOUND_SUFFIXES)) + 1) + "期"
        door = 1 + 2 * (self.compounds % 150)
        number = 0
        remaining = households
        for k, slot_index in enumerate(order):
            slot = slots[slot_index]
            if remaining <= 0:
                if rng.random() < 0.35:  # now and then a shop building or a public one
                    use = "commercial" if rng.random() < 0.6 else "public"
                    self._building(slot, compound, street, door, number + 1, use, (2, 1, 0), 0)
                break
            left = len(order) - k
            if remaining > 40 * left:
                kind = _RESIDENTIAL[2]
            elif remaining <= 8:
                kind = _RESIDENTIAL[0]
            else:
                kind = _RESIDENTIAL[int(rng.choice(3, p=[r[1] for r in _RESIDENTIAL]))]
            floors = int(rng.integers(kind[2][0], kind[2][1] + 1))
            entrances = int(rng.integers(kind[3][0], kind[3][1] + 1))
            per_floor = int(rng.integers(kind[4][0], kind[4][1] + 1))
            capacity = floors * entrances * per_floor
            if left == 1 and capacity < remaining:
                floors = min(33, -(-remaining // (entrances * per_floor)))
                capacity = floors * entrances * per_floor
            occupied = min(remaining, max(1, round(capacity * rng.uniform(0.82, 0.97))))
            if left == 1:
                occupied = min(remaining, capacity)
            use = "mixed" if kind[0] == "multi" and rng.random() < 0.12 else "residential"
            number += 1
            self._building(slot, compound, street, door, number, use, (floors, entrances, per_floor), occupied)
            remaining -= occupied
        if remaining > 0:  # a narrow courtyard: one tower where the cell is widest
            centre, edge = shapely.get_coordinates(shapely.maximum_inscribed_circle(cell))
            half = min(10.0, float(np.hypot(*(edge - centre))) - 3.0)
            if half < 4.0:
                raise RuntimeError(f"demo: micro-grid {grid_code} has no room for {remaining} households")
            tower = box(centre[0] - half, centre[1] - half, centre[0] + half, centre[1] + half)
            floors = min(33, -(-remaining // 8))
            self._building(tower, compound, street, door, number + 1, "residential", (floors, 2, 4), remaining)

    def _building(self, slot, compound, street, door, number, use, layout, occupied) -> None:
        rng = self.rng
        floors, entrances, per_floor = layout
        building_id = self.sd.ids.one("buildings")
        footprint = _to_lonlat(slot)
        self.buildings.append({
            "id": building_id, "subdistrict_code": self.sd.code, "compound": compound,
            "name": f"{number}号楼", "address": f"{street}{door}号{compound}{number}号楼",
            "floors": floors, "entrances": entrances, "flats_per_floor": per_floor, "use": use,
            "geom": shapely.point_on_surface(footprint), "footprint": footprint,
        })
        if occupied == 0:
            return
        flats = [(e, f, r) for e in range(1, entrances + 1) for f in range(1, floors + 1)
                 for r in range(1, per_floor + 1)]
        chosen = sorted(rng.choice(len(flats), size=occupied, replace=False))
        ids = self.sd.ids.take("households", occupied)
        members = rng.choice(_MEMBERS[0], size=occupied, p=_MEMBERS[1])
        rented = rng.random(occupied) < 0.25
        for hid, index, size, is_rented in zip(ids, chosen, members, rented, strict=True):
            entrance, floor, flat = flats[index]
            self.households.append({
                "id": int(hid), "building_id": building_id, "entrance": entrance, "floor": floor,
                "room": f"{floor}{flat:02d}", "occupancy": "rented" if is_rented else "owner",
                "member_count": int(size),
            })
            if self.sd.config.residents:
                self._people(int(hid), int(size), bool(is_rented))

    def orphan(self, blind: Polygon) -> str:
        """The one building in the blind spot: it belongs to no grid at any level."""
        centre = blind.centroid
        slot = box(centre.x - 7, centre.y - 5, centre.x + 7, centre.y + 5)
        self._building(slot, "独立院落", self.sd._street_name(0), 999, 1, "residential", (2, 1, 2), 3)
        return self.buildings[-1]["address"]

    def _people(self, household_id: int, size: int, rented: bool) -> None:
        rng = self.rng
        year = REFERENCE_TIME.year
        floating = rented and rng.random() < 0.8 or rng.random() < 0.05
        surname = _SURNAMES[rng.choice(len(_SURNAMES), p=_SURNAME_P)]
        head_age = int(np.clip(rng.normal(52, 16), 20, 92))
        if size == 1 and rng.random() < 0.35:
            head_age = int(rng.integers(60, 92))
        ages = [head_age]
        relations = ["户主"]
        if size >= 2:
            ages.append(int(np.clip(head_age + rng.normal(-2, 3), 18, 95)))
            relations.append("配偶")
        for _ in range(size - len(ages)):
            if head_age >= 55 and rng.random() < 0.35:
                ages.append(int(np.clip(head_age - rng.integers(24, 34), 0, 70)))
                relations.append("子女")
            elif head_age >= 50 and rng.random() < 0.4:
                ages.append(int(np.clip(head_age - rng.integers(50, 62), 0, 20)))
                relations.append("孙子女")
            elif head_age < 50 and rng.random() < 0.2:
                ages.append(int(np.clip(head_age + rng.integers(24, 32), 50, 98)))
                relations.append("父母")
            else:
                ages.append(int(np.clip(head_age - rng.integers(22, 36), 0, 60)))
                relations.append("子女")
        household_tags = set()
        if rng.random() < 0.015:
            household_tags.add("subsistence_allowance")
        all_old = min(ages) >= 60
        working_age = any(20 <= a < 55 for a in ages)
        ids = self.sd.ids.take("residents", size)
        head_sex = rng.choice(["M", "F"], p=[0.55, 0.45])
        for k, (rid, age, relation) in enumerate(zip(ids, ages, relations, strict=True)):
            sex = head_sex if k == 0 else ("F" if head_sex == "M" else "M") if relation == "配偶" else rng.choice(["M", "F"])
            birth = datetime(year - age, 1, 1) + timedelta(days=int(rng.integers(0, 365)))
            if birth >= REFERENCE_TIME.replace(tzinfo=None):  # nobody is born after the demo's today
                birth -= timedelta(days=61)
            region = rng.choice(_FLOATING_REGIONS) if floating else COUNTY_CODE
            sequence = int(rng.integers(0, 500)) * 2 + (1 if sex == "M" else 0)
            tags = set(household_tags)
            if all_old and size == 1:
                tags |= {"elderly_living_alone", "empty_nest_elderly"}
            elif all_old:
                tags.add("empty_nest_elderly")
            if rng.random() < (0.06 if age >= 65 else 0.018):
                tags.add("disabled")
            if ((sex == "F" and 40 <= age < 50) or (sex == "M" and 50 <= age < 60)) and rng.random() < 0.06:
                tags.add("unemployed_4050")
            if 20 <= age < 65 and rng.random() < 0.0012:
                tags.add("released_prisoner")
            elif 20 <= age < 65 and rng.random() < 0.0006:
                tags.add("community_corrections")
            if age < 16 and not working_age and rng.random() < 0.6:
                tags.add("left_behind_child")
            if age >= 50 and rng.random() < 0.008:
                tags.add("entitled_group")
            adult = age >= 18
            self.residents.append({
                "id": int(rid), "household_id": household_id,
                "name": _person_name(rng, sex, surname if relation in ("户主", "子女", "孙子女") else None),
                "sex": sex, "birth_year": year - age, "relation": relation,
                "residence_type": "floating" if floating else "registered",
                "party_member": bool(adult and rng.random() < (0.1 if age >= 60 else 0.065)),
                "id_number": self.sd.ids.id_number(region, birth, sequence),
                "phone": _phone(rng) if age >= 12 else None,
            })
            self.tags.extend({"resident_id": int(rid), "key_group": t} for t in sorted(tags))

    def flush(self) -> None:
        rows = self.sd.rows
        rows["buildings"].extend(self.buildings)
        rows["households"].extend(self.households)
        rows["residents"].extend(self.residents)
        rows["resident_key_groups"].extend(self.tags)


# --- staff --------------------------------------------------------------------------------------

class _Staff:
    def __init__(self, sd: _SubDistrict):
        self.sd, self.rng = sd, sd.rng
        self.staff: list[dict] = []
        self.assignments: list[dict] = []
        self.leads: dict[int, str] = {}
        self.workers: dict[int, int] = {}

    def _person(self, title: str, party: float = 0.5) -> int:
        sex = self.rng.choice(["M", "F"])
        staff_id = self.sd.ids.one("staff")
        self.staff.append({"id": staff_id, "name": _person_name(self.rng, sex), "sex": sex,
                           "phone": _phone(self.rng), "title": title,
                           "party_member": bool(self.rng.random() < party), "active": True})
        return staff_id

    def _assign(self, staff_id: int, grid_id: int, role: StaffRole) -> None:
        self.assignments.append({"id": self.sd.ids.one("grid_assignments"), "staff_id": staff_id,
                                 "grid_id": grid_id, "role": role.value})

    def team(self, kind: str, grid_id: int, code: str, name: str | None) -> None:
        rng = self.rng
        if kind == "l1":
            lead = self._person(f"{name}党委书记", party=1.0)
            self._assign(lead, grid_id, StaffRole.GRID_LEAD)
            self.leads[grid_id] = lead
            return
        if kind == "l3":
            title = "楼栋长" if rng.random() < 0.7 else "驻区单位负责人"
            lead = self._person(title, party=0.6)
            self._assign(lead, grid_id, StaffRole.GRID_LEAD)
            if title == "楼栋长":
                self._assign(lead, grid_id, StaffRole.BUILDING_HEAD)
            self.leads[grid_id] = lead
            return
        lead = self._person("社区工作人员（网格长）", party=0.8)
        self._assign(lead, grid_id, StaffRole.GRID_LEAD)
        self.leads[grid_id] = lead
        worker = self._person("专职网格员")
        self._assign(worker, grid_id, StaffRole.FULL_TIME)
        self.workers[grid_id] = worker
        for role, title, count in (
            (StaffRole.PART_TIME, "兼职网格员", int(rng.integers(1, 3))),
            (StaffRole.ASSISTANT, "协管员", 1),
            (StaffRole.INFORMATION_OFFICER, "综合信息员", 1),
            (StaffRole.CLEANER, "保洁员", 1),
            (StaffRole.PARTY_ACTIVIST, "社区党员骨干", 1),
            (StaffRole.VOLUNTEER, "志愿者", int(rng.integers(2, 4))),
        ):
            for _ in range(count):
                self._assign(self._person(title, party=1.0 if role is StaffRole.PARTY_ACTIVIST else 0.3),
                             grid_id, role)

    def leading_group(self) -> None:
        """The sub-district's grid-management leading group (领导小组): a head and two members."""
        for title, head in (("街道党工委书记（领导小组组长）", True), ("街道办事处主任", False),
                            ("街道网格化服务管理中心主任", False)):
            member = self._person(title, party=1.0)
            self.sd.rows["leading_group_members"].append(
                {"subdistrict_code": self.sd.code, "staff_id": member, "is_head": head})
            if head:
                self.head = member

    def police(self, grid_ids: dict) -> None:
        """One community police officer (社区民警) per community, on each of its grids."""
        for key, (grid_id, code, _) in grid_ids.items():
            if key[0] != "l1":
                continue
            officer = self._person(f"{self.sd.name[:-2]}派出所社区民警", party=0.9)
            self._assign(officer, grid_id, StaffRole.COMMUNITY_POLICE)
            for other, (l2_id, l2_code, _) in grid_ids.items():
                if other[0] == "l2" and l2_code.startswith(code):
                    self._assign(officer, l2_id, StaffRole.COMMUNITY_POLICE)

    def flush(self) -> None:
        self.sd.rows["staff"].extend(self.staff)
        self.sd.rows["grid_assignments"].extend(self.assignments)


# --- cases --------------------------------------------------------------------------------------

_WEEKDAY = np.array([1.3, 1.1, 1.05, 1.0, 0.95, 0.6, 0.5])  # Monday first
_STEPS = ["registered", "dispatched", "in_progress", "handled", "verified", "closed"]
_STEP_HOURS = [(0.3, 4), (0.3, 8), (1, 24), (2, 72), (1, 24), (0.5, 24)]
_NOTES = {
    "reported": "网格巡查发现并上报", "registered": "核实后立案", "rejected": "不属于受理范围，不予立案",
    "duplicate": "与已有案件重复", "dispatched": "派遣至责任网格处置", "in_progress": "网格员到场处置",
    "handled": "处置完毕，反馈结果", "verified": "核查通过", "closed": "结案并回访",
}


_STAGE = {"reported": "register", "registered": "dispatch", "dispatched": "handle", "in_progress": "handle",
          "handled": "close", "verified": "close"}
_TRACKING = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
# Working-hour limits the demo's cases were handled under: migration 0009's urgent sub-types,
# and the settings' defaults for the rest (as the workflow computes them).
_URGENT_HOURS = {
    "urban_management.emergency": (0.5, 0.5, 2, 4), "public_safety.fire_safety": (0.5, 0.5, 2, 4),
    "public_safety.gas_safety": (0.5, 0.5, 2, 4), "stability.mass_incident": (0.5, 0.5, 2, 4),
    "urban_management.street_order": (2, 1, 8, 8),
}


def _demo_hours(subtype: str, stage: str) -> float:
    if subtype in _URGENT_HOURS:
        return _URGENT_HOURS[subtype][("register", "dispatch", "handle", "close").index(stage)]
    return get_settings().case_deadlines[stage]


@dataclass(frozen=True)
class _Handlers:
    """Who handles a case at its place: the L2 grid and its lead, the community and its lead."""

    l2_grid: int | None
    l2_lead: int | None
    l1_grid: int | None
    staff: _Staff

    @property
    def l1_lead(self) -> int | None:
        return self.staff.leads.get(self.l1_grid) if self.l1_grid else None


class _Cases:
    def __init__(self, sd, boundary, buildings, grid_ids, l2_geoms, staff):
        self.sd, self.rng, self.boundary = sd, sd.rng, boundary
        self.buildings, self.grid_ids, self.l2_geoms, self.staff = buildings, grid_ids, l2_geoms, staff

    def generate(self) -> None:
        rng, sd = self.rng, self.sd
        start = REFERENCE_TIME - timedelta(days=365)
        days = np.arange(365)
        weekday = np.array([(start + timedelta(days=int(d))).weekday() for d in days])
        seasonal = 1 + 0.2 * np.sin(2 * np.pi * (days - 100) / 365)
        per_day = rng.poisson(sd.config.cases_per_day * _WEEKDAY[weekday] * seasonal)
        total = int(per_day.sum())
        day_of = np.repeat(days, per_day)
        hours = np.clip(rng.choice([10.5, 15.0], size=total) + rng.normal(0, 1.6, total), 7.5, 21.5)
        reported = [start + timedelta(days=int(d), hours=float(h)) for d, h in zip(day_of, hours, strict=True)]

        points = self._locations(total)
        l2_tree = shapely.STRtree(list(self.l2_geoms.values()))
        l2_keys = list(self.l2_geoms)
        hit = l2_tree.query(points, predicate="within")
        point_l2 = np.full(total, -1)
        point_l2[hit[0]] = [l2_keys[i] for i in hit[1]]

        categories = list(names.CASE_TITLES)
        weights = np.array([names.CASE_TITLES[c][0] for c in categories], float)
        chosen = rng.choice(len(categories), size=total, p=weights / weights.sum())
        case_ids = sd.ids.take("cases", total)
        cases, events = [], []
        lonlat = _to_lonlat(points)
        l1_of = {code: grid_id for (kind, *_), (grid_id, code, _) in self.grid_ids.items() if kind == "l1"}
        for n in range(total):
            category = categories[chosen[n]]
            subtypes = names.CASE_TITLES[category][1]
            subtype = list(subtypes)[int(rng.integers(len(subtypes)))]
            title = subtypes[subtype][int(rng.integers(len(subtypes[subtype])))]
            l2 = int(point_l2[n])
            l2_id, l2_code, _ = self.grid_ids[("l2", l2)] if l2 >= 0 else (None, None, None)
            worker = self.staff.workers.get(l2_id) if l2_id else None
            by_worker = worker is not None and rng.random() < 0.8
            reporter = (self._staff_name(worker) if by_worker
                        else _person_name(rng, rng.choice(["M", "F"])))
            handlers = _Handlers(l2_id, self.staff.leads.get(l2_id), l1_of.get(l2_code[:12]) if l2_code else None,
                                 self.staff)
            timeline, case = self._loop(self._timeline(reported[n]), f"{category}.{subtype}", handlers,
                                        int(case_ids[n]), reporter)
            status = timeline[-1]["to_status"]
            satisfaction = int(rng.choice([5, 4, 3, 2, 1], p=[0.55, 0.3, 0.1, 0.03, 0.02])) if status == "closed" else None
            cases.append({
                "id": int(case_ids[n]), "case_no": f"{sd.code}-{reported[n].year}-{n + 1:06d}",
                "subdistrict_code": sd.code, "category_code": category,
                "subtype_code": f"{category}.{subtype}", "title": title,
                "description": f"{title}，请及时处理。", "reporter_name": reporter,
                "reporter_kind": "grid_worker" if by_worker else "resident",
                "reporter_staff_id": worker if by_worker else None, "status": status,
                "geom": lonlat[n], "satisfaction": satisfaction, "reported_at": reported[n],
                "updated_at": timeline[-1]["at"], "closed_at": timeline[-1]["at"] if status == "closed" else None,
                "tracking_code": "".join(rng.choice(list(_TRACKING), 10)), **case,
            })
            events.extend(timeline)
        event_ids = sd.ids.take("case_events", len(events))
        for event, event_id in zip(events, event_ids, strict=True):
            event["id"] = int(event_id)
        sd.rows["cases"].extend(cases)
        sd.rows["case_events"].extend(events)

    def _loop(self, timeline, subtype: str, handlers: _Handlers, case_id: int, reporter: str):
        """The events of one case as the workflow would have written them: each stage's deadline
        in working hours and whether it was met, who held the case, and the automatic
        escalation to the community when a handling deadline passed."""
        calendar = work_calendar()
        stage, due, holder = "register", None, (None, None, None)  # (staff, level, grid)
        escalations = reopens = 0
        events, previous = [], None

        def record(at, state, actor, *, kind="transition", ended=None, staff=None):
            events.append({"case_id": case_id, "at": at, "from_status": previous, "to_status": state,
                           "actor": actor, "note": _NOTES[state] if kind == "transition" else "超期自动上报",
                           "kind": kind, "actor_staff_id": staff, "assignee_staff_id": holder[0],
                           "handling_level": holder[1], "due_at": ended,
                           "on_time": None if ended is None else bool(at <= ended)})

        def escalate_if_late(until):
            nonlocal holder, due, escalations
            if (stage == "handle" and holder[1] == 2 and handlers.l1_lead
                    and due + timedelta(minutes=5) < min(until, REFERENCE_TIME)):
                ended, swept = due, due + timedelta(minutes=5)  # the service sweeps every 5 minutes
                holder = (handlers.l1_lead, 1, handlers.l1_grid)
                record(swept, previous, "系统（超期上报） / system: deadline", kind="escalation", ended=ended)
                escalations += 1
                due = calendar.add(swept, _demo_hours(subtype, "handle"))

        for at, state, actor in timeline:
            if previous is None:
                due = calendar.add(at, _demo_hours(subtype, "register"))
                record(at, state, reporter)
                previous = state
                continue
            escalate_if_late(at)
            new_stage = _STAGE.get(state)
            if state == "dispatched":
                reopens += previous == "verified"
                holder = (handlers.l2_lead, 2, handlers.l2_grid) if handlers.l2_lead else \
                    (handlers.l1_lead, 1, handlers.l1_grid)
            ended = due if new_stage != stage else None
            staff = holder[0] if state in ("in_progress", "handled") else None
            record(at, state, actor, ended=ended, staff=staff)
            if new_stage != stage:
                stage, due = new_stage, calendar.add(at, _demo_hours(subtype, new_stage)) if new_stage else None
            previous = state
        if due is not None:
            escalate_if_late(REFERENCE_TIME)
        return events, {"assignee_staff_id": holder[0], "handling_level": holder[1], "handling_grid_id": holder[2],
                        "due_at": due, "escalations": escalations, "reopens": reopens}

    def _staff_name(self, staff_id: int) -> str:
        return next(s["name"] for s in reversed(self.staff.staff) if s["id"] == staff_id)

    def _locations(self, total: int) -> np.ndarray:
        """60 % around six hot spots (markets, school gates, an old compound), the rest anywhere."""
        rng = self.rng
        homes = shapely.points([(b["geom"].x, b["geom"].y) for b in self.buildings.buildings])
        homes = shapely.transform(homes, lambda xy: np.column_stack(_TO_METRIC.transform(xy[:, 0], xy[:, 1])))
        spots = homes[rng.choice(len(homes), size=6, replace=False)]
        spot_xy = shapely.get_coordinates(spots)
        near = rng.random(total) < 0.6
        which = rng.integers(0, 6, total)
        base = np.where(near[:, None], spot_xy[which],
                        shapely.get_coordinates(homes[rng.integers(0, len(homes), total)]))
        spread = np.where(near, rng.uniform(50, 130, 6)[which], 25.0)
        xy = base + rng.normal(0, 1, (total, 2)) * spread[:, None]
        points = shapely.points(xy)
        outside = ~shapely.contains(self.boundary, points)
        points[outside] = homes[rng.integers(0, len(homes), int(outside.sum()))]
        return points

    def _timeline(self, reported: datetime) -> list[tuple[datetime, str, str | None]]:
        rng = self.rng
        events = [(reported, "reported", None)]
        roll = rng.random()
        if roll < 0.04:
            return events + [(reported + timedelta(hours=float(rng.uniform(0.5, 6))), "rejected", "街道网格化服务中心")]
        if roll < 0.06:
            return events + [(reported + timedelta(hours=float(rng.uniform(0.5, 6))), "duplicate", "街道网格化服务中心")]
        reopen = rng.random() < 0.03
        steps = _STEPS[:5] + ["dispatched", "in_progress", "handled", "verified", "closed"] if reopen else _STEPS
        at = reported
        for step in steps:
            low, high = _STEP_HOURS[_STEPS.index(step)]
            at = at + timedelta(hours=float(rng.uniform(low, high)))
            if at > REFERENCE_TIME:
                break
            actor = {"registered": "街道网格化服务中心", "dispatched": "街道网格化服务中心",
                     "verified": "网格督查员", "closed": "街道网格化服务中心"}.get(step, "网格员")
            events.append((at, step, actor))
        return events


# --- fieldwork ----------------------------------------------------------------------------------

class _Fieldwork:
    """A year of household visits and information checks by each grid's full-time worker (about
    three a working day), and six training courses with attendance and test scores."""

    COURSES = ("网格员业务基础培训", "矛盾纠纷排查化解", "消防安全与应急处置", "信息采集与系统操作",
               "特殊人群服务管理", "群众工作方法")

    def __init__(self, sd, buildings, grid_ids, l2_geoms, staff):
        self.sd, self.rng, self.buildings, self.grid_ids = sd, sd.rng, buildings, grid_ids
        self.l2_geoms, self.staff = l2_geoms, staff

    def generate(self) -> None:
        rng, sd = self.rng, self.sd
        rows = self.buildings.buildings
        homes = shapely.points([(b["geom"].x, b["geom"].y) for b in rows])
        homes = shapely.transform(homes, lambda xy: np.column_stack(_TO_METRIC.transform(xy[:, 0], xy[:, 1])))
        keys = list(self.l2_geoms)
        hit = shapely.STRtree(list(self.l2_geoms.values())).query(homes, predicate="within")
        in_grid: dict[int, list[int]] = {}
        for building, grid in zip(hit[0], hit[1], strict=True):
            in_grid.setdefault(keys[grid], []).append(rows[building]["id"])
        flats: dict[int, list[int]] = {}
        for household in sd.rows["households"]:
            flats.setdefault(household["building_id"], []).append(household["id"])
        calendar = work_calendar()
        start = REFERENCE_TIME - timedelta(days=365)
        workdays = [d for d in (start + timedelta(days=k) for k in range(365)) if calendar.is_workday(d.date())]
        visits = []
        for p_index, buildings in in_grid.items():
            grid_id = self.grid_ids[("l2", p_index)][0]
            worker = self.staff.workers.get(grid_id)
            if worker is None:
                continue
            for day in workdays:
                for _ in range(int(rng.poisson(3))):
                    building = int(buildings[int(rng.integers(len(buildings)))])
                    households = flats.get(building, [])
                    check = rng.random() < 0.3
                    visits.append({
                        "staff_id": worker, "kind": "info_check" if check else "visit", "building_id": building,
                        "household_id": int(households[int(rng.integers(len(households)))]) if households else None,
                        "subdistrict_code": sd.code, "grid_l2_id": grid_id,
                        "visited_at": day + timedelta(hours=float(rng.uniform(9, 17))),
                        "note": "核对住户信息" if check else "入户走访，了解需求",
                    })
        for visit, visit_id in zip(visits, sd.ids.take("visits", len(visits)), strict=True):
            visit["id"] = int(visit_id)
        sd.rows["visits"].extend(visits)
        people = [self.staff.leads[gid] for (kind, *_), (gid, _, _) in self.grid_ids.items() if kind == "l2"]
        people += list(self.staff.workers.values())
        for k, title in enumerate(self.COURSES):
            course = sd.ids.one("training_courses")
            held = (start + timedelta(days=30 + 55 * k)).date()
            sd.rows["training_courses"].append({"id": course, "subdistrict_code": sd.code, "title": title,
                                                "held_on": held, "hours": 4.0, "max_score": 100.0})
            for person in people:
                attended = bool(rng.random() < 0.9)
                score = float(np.clip(round(rng.normal(80, 9) * 2) / 2, 35, 100)) if attended else None
                sd.rows["training_records"].append({"course_id": course, "staff_id": person,
                                                    "attended": attended, "score": score})
