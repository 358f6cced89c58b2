"""The demo generator without a database: deterministic, and exactly the planted defects.

The coverage checks redo in shapely what the PostGIS analysis does (overlays on the 1e-7°
storage grid, any area above zero counts), so a defect the generator did not mean to plant
fails here before it reaches a database.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Geod

from gisgrid.core.settings import get_settings
from gisgrid.demo.generator import REFERENCE_TIME, DemoConfig, generate

GRID = 1e-7  # degrees: the precision grids are stored and overlaid at
GEOD = Geod(ellps="WGS84")
CLOSED_LOOP = {
    (None, "reported"), ("reported", "registered"), ("reported", "rejected"),
    ("reported", "duplicate"), ("registered", "dispatched"), ("dispatched", "in_progress"),
    ("in_progress", "handled"), ("handled", "verified"), ("verified", "closed"),
    ("verified", "dispatched"),
}
MOBILE = re.compile(r"^1[3-9][0-9]{9}$")


@pytest.fixture(scope="module")
def demo():
    return generate(DemoConfig())


@pytest.fixture(scope="module")
def planted(demo):
    return demo.planted[0]


@pytest.fixture(scope="module")
def grids(demo) -> pd.DataFrame:
    return demo["grids"].set_index("code", drop=False)


def area_m2(geometry) -> float:
    return abs(GEOD.geometry_area_perimeter(geometry)[0])


def check_digit(body: str) -> str:
    weights = [2 ** (17 - i) % 11 for i in range(17)]
    return "10X98765432"[sum(int(c) * w for c, w in zip(body, weights, strict=True)) % 11]


def households_per_building(demo) -> pd.Series:
    return demo["households"].query("occupancy != 'vacant'").groupby("building_id").size()


# --- determinism -----------------------------------------------------------------------------

def test_same_seed_gives_identical_frames_and_another_seed_does_not():
    config = DemoConfig(communities=2)
    first, second = generate(config), generate(config)
    assert set(first.tables) == set(second.tables)
    for table in first.tables:
        pd.testing.assert_frame_equal(first[table], second[table], check_like=True)
    assert first.planted == second.planted
    other = generate(DemoConfig(communities=2, seed=7))
    for table in ("grids", "buildings", "residents", "cases"):
        assert not first[table].equals(other[table]), table


# --- size and site ---------------------------------------------------------------------------

def test_counts_fall_in_the_stated_ranges(demo, grids):
    levels = grids["level"].value_counts()
    assert levels[1] == 8
    assert 85 <= levels[2] <= 120
    assert 2 * levels[2] <= levels[3] <= 4 * levels[2]
    assert 1200 <= len(demo["buildings"]) <= 1800
    assert 20_000 <= len(demo["households"]) <= 30_000
    assert 48_000 <= len(demo["residents"]) <= 72_000
    assert len(demo["shops"]) >= 400 and len(demo["stationed_units"]) >= 30
    assert 7_000 <= len(demo["cases"]) <= 12_000


def test_sited_in_wuhou_chengdu_as_valid_multipolygons(demo, grids):
    sub = demo["subdistricts"].iloc[0]
    assert sub["code"] == "510107001" and sub["county"] == "武侯区" and sub["city"] == "成都市"
    centre = sub["boundary"].centroid
    assert abs(centre.x - 104.043) < 0.02 and abs(centre.y - 30.642) < 0.02
    assert 5e6 < area_m2(sub["boundary"]) < 15e6
    shapes = np.array([sub["boundary"], *grids["geom"]], dtype=object)
    assert set(shapely.get_type_id(shapes)) == {6}  # MultiPolygon
    assert shapely.is_valid(shapes).all()
    coords = shapely.get_coordinates(shapes)
    assert np.array_equal(coords, np.round(coords, 7))


def test_codes_and_names_follow_the_hierarchy(grids):
    for row in grids.itertuples():
        assert len(row.code) == 9 + 3 * row.level and row.code.isdigit()
        assert row.code.startswith(row.subdistrict_code) and int(row.code[-3:]) == row.serial
        if row.level == 1:
            assert pd.isna(row.parent_code) and row.name.endswith("社区")
        else:
            parent = grids.loc[row.parent_code]
            assert parent["level"] == row.level - 1 and row.code.startswith(parent["code"])
            assert row.name.startswith(parent["name"])
    assert grids.loc[grids["level"] == 2, "name"].str.fullmatch(r".+社区第\d+网格").all()
    assert grids.loc[grids["level"] == 3, "name"].str.fullmatch(r".+社区第\d+网格\d+号微网格").all()


def test_serials_run_west_to_east_within_a_row(grids):
    """Among touching siblings side by side (same latitude), the western one has the smaller code."""
    l2 = grids[grids["level"] == 2]
    points = shapely.point_on_surface(l2["geom"].to_numpy())
    x, y = shapely.get_x(points), shapely.get_y(points)
    verdicts = []
    for i, a in enumerate(l2.itertuples()):
        for j, b in enumerate(l2.itertuples()):
            if (a.parent_code == b.parent_code and abs(y[i] - y[j]) < 0.0003 and x[i] < x[j] - 0.001
                    and a.geom.touches(b.geom)):
                verdicts.append(a.code < b.code)
    assert verdicts and np.mean(verdicts) > 0.9


# --- coverage: exactly the planted defects ---------------------------------------------------

def test_every_level_partitions_its_parent_but_for_the_blind_spot(demo, grids, planted):
    sub = demo["subdistricts"].iloc[0]
    parents = {None: sub["boundary"], **dict(zip(grids["code"], grids["geom"], strict=True))}
    children = grids.groupby(grids["parent_code"].fillna("")).groups
    gaps = {}
    for code, geometry in parents.items():
        members = children.get(code or "")
        if members is None:
            continue
        union = shapely.union_all(grids.loc[members, "geom"].to_numpy(), grid_size=GRID)
        gap = shapely.difference(geometry, union, grid_size=GRID)
        if gap.area > 0:
            gaps[code] = gap
    assert list(gaps) == [None], "a blind spot other than the planted one"
    blind = gaps[None]
    assert shapely.equals_exact(shapely.normalize(blind), shapely.normalize(planted.blind_spot), 1e-9)
    assert area_m2(blind) == pytest.approx(planted.blind_spot_area_m2, rel=0.01)
    assert 2_000 <= planted.blind_spot_area_m2 <= 8_000


def test_no_grid_spills_out_of_its_parent(demo, grids):
    sub = demo["subdistricts"].iloc[0]
    for row in grids.itertuples():
        parent = sub["boundary"] if pd.isna(row.parent_code) else grids.loc[row.parent_code, "geom"]
        assert shapely.difference(row.geom, parent, grid_size=GRID).area == 0, row.code


def test_siblings_overlap_only_in_the_planted_pair(grids, planted):
    overlaps = {}
    for _, siblings in grids.groupby(grids["parent_code"].fillna("")):
        shapes = siblings["geom"].to_numpy()
        tree = shapely.STRtree(shapes)
        left, right = tree.query(shapes, predicate="intersects")
        for i, j in zip(left, right, strict=True):
            if i < j:
                piece = shapely.intersection(shapes[i], shapes[j], grid_size=GRID)
                if piece.area > 0:
                    overlaps[tuple(sorted(siblings["code"].iloc[[i, j]]))] = piece
    assert list(overlaps) == [tuple(planted.overlap_grids)]
    piece = overlaps[tuple(planted.overlap_grids)]
    assert area_m2(piece) == pytest.approx(planted.overlap_area_m2, rel=0.01)
    assert 1_000 <= planted.overlap_area_m2 <= 3_000
    assert {code[:12] for code in planted.overlap_grids} == {planted.overlap_grids[0][:12]}


def test_points_sit_in_grids_except_the_one_orphan_building(demo, grids, planted):
    l3 = grids[grids["level"] == 3]
    tree = shapely.STRtree(l3["geom"].to_numpy())
    for table in ("buildings", "shops", "stationed_units"):
        points = demo[table]["geom"].to_numpy()
        covered = np.zeros(len(points), bool)
        covered[tree.query(points, predicate="covered_by")[0]] = True
        outside = demo[table].loc[~covered]
        if table == "buildings":
            assert outside["address"].tolist() == [planted.orphan_building]
            assert planted.blind_spot.contains(outside["geom"].iloc[0])
        else:
            assert outside.empty, table


def test_footprints_hold_their_point_and_keep_clear_of_borders_and_each_other(demo, grids, planted):
    buildings = demo["buildings"]
    footprints = buildings["footprint"].to_numpy()
    assert shapely.is_valid(footprints).all() and shapely.covers(footprints, buildings["geom"].to_numpy()).all()
    borders = shapely.union_all(shapely.boundary(grids["geom"].to_numpy()))
    assert not shapely.intersects(footprints, borders).any()
    assert not shapely.intersects(footprints, planted.overlap).any()
    left, right = shapely.STRtree(footprints).query(footprints, predicate="intersects")
    assert (left == right).all()
    assert buildings["address"].is_unique


def test_household_loads_stay_in_their_bands_but_for_the_planted_pair(demo, grids, planted):
    bands = get_settings().load_bands
    buildings = demo["buildings"]
    per_building = households_per_building(demo).reindex(buildings["id"], fill_value=0).to_numpy()
    loads = {}
    for level in (1, 2, 3):
        shapes = grids.loc[grids["level"] == level]
        tree = shapely.STRtree(shapes["geom"].to_numpy())
        points, holders = tree.query(buildings["geom"].to_numpy(), predicate="covered_by")
        assert len(points) == len(set(points)), "a building in two grids of one level"
        totals = np.bincount(holders, weights=per_building[points], minlength=len(shapes))
        loads.update({code: (level, int(n)) for code, n in zip(shapes["code"], totals, strict=True)})
    verdicts = {code: bands[level].households.classify(n) for code, (level, n) in loads.items()}
    assert {c: v for c, v in verdicts.items() if v != "within"} == {
        planted.overloaded_grid: "over", planted.underloaded_grid: "under",
    }


def test_exactly_one_lead_per_grid_and_a_full_team_per_l2(demo, grids):
    assignments = demo["grid_assignments"]
    assert set(assignments["staff_id"]) <= set(demo["staff"]["id"])
    assert set(assignments["grid_id"]) <= set(grids["id"])
    leads = assignments.loc[assignments["role"] == "grid_lead", "grid_id"].value_counts()
    assert set(leads.index) == set(grids["id"]) and (leads == 1).all()
    roles = assignments.groupby("grid_id")["role"].agg(set)
    team = {"full_time_worker", "part_time_worker", "assistant", "information_officer", "cleaner",
            "party_activist", "community_police", "volunteer"}
    for grid_id in grids.loc[grids["level"] == 2, "id"]:
        assert team <= roles[grid_id]
    assert not assignments.duplicated(["staff_id", "grid_id", "role"]).any()


# --- people ----------------------------------------------------------------------------------

def test_households_and_residents_link_and_count(demo):
    households, residents = demo["households"], demo["residents"]
    assert set(households["building_id"]) <= set(demo["buildings"]["id"])
    homes = demo["buildings"].set_index("id").loc[households["building_id"].unique(), "use"]
    assert set(homes) <= {"residential", "mixed"}
    members = residents.groupby("household_id").size().reindex(households["id"], fill_value=0)
    assert (members.to_numpy() == households["member_count"].to_numpy()).all()
    assert not households.duplicated(["building_id", "entrance", "floor", "room"]).any()
    assert 2.2 <= households["member_count"].mean() <= 2.7
    assert residents["id"].is_unique and households["id"].is_unique


def test_id_numbers_and_phones_are_valid_and_unique(demo):
    residents = demo["residents"]
    for row in residents.sample(3000, random_state=1).itertuples():
        number = row.id_number
        assert len(number) == 18 and check_digit(number[:17]) == number[17]
        assert int(number[6:10]) == row.birth_year
        pd.Timestamp(number[6:14])  # a real calendar date
        assert int(number[16]) % 2 == (1 if row.sex == "M" else 0)
        assert (number[:6] == "510107") == (row.residence_type == "registered")
    assert residents["id_number"].is_unique
    phones = residents["phone"].dropna()
    assert phones.str.match(MOBILE).all() and phones.is_unique
    assert demo["staff"]["phone"].str.match(MOBILE).all()


def test_population_and_key_groups_are_plausible(demo):
    residents = demo["residents"]
    age = REFERENCE_TIME.year - residents["birth_year"]
    assert 0.15 <= (age >= 60).mean() <= 0.28
    assert 0.18 <= (residents["residence_type"] == "floating").mean() <= 0.32
    assert 0.04 <= residents.loc[age >= 18, "party_member"].mean() <= 0.10
    assert set(residents["relation"]) <= {"户主", "配偶", "子女", "父母", "孙子女", "其他"}
    rates = demo["resident_key_groups"]["key_group"].value_counts() / len(residents)
    plausible = {
        "empty_nest_elderly": (0.05, 0.2), "elderly_living_alone": (0.01, 0.08),
        "disabled": (0.015, 0.04), "subsistence_allowance": (0.005, 0.04),
        "unemployed_4050": (0.003, 0.03), "released_prisoner": (0.0002, 0.003),
        "community_corrections": (0.00005, 0.002), "left_behind_child": (0, 0.01),
        "entitled_group": (0.001, 0.01),
    }
    for group, (low, high) in plausible.items():
        assert low <= rates.get(group, 0) <= high, (group, rates.get(group))
    tagged = demo["resident_key_groups"].merge(residents, left_on="resident_id", right_on="id")
    elderly = tagged[tagged["key_group"].isin(["empty_nest_elderly", "elderly_living_alone"])]
    assert (REFERENCE_TIME.year - elderly["birth_year"] >= 60).all()


# --- cases -----------------------------------------------------------------------------------

def test_cases_cover_a_year_with_a_weekly_rhythm(demo):
    cases = demo["cases"]
    reported = pd.to_datetime(cases["reported_at"])
    assert reported.min() >= REFERENCE_TIME - timedelta(days=365) and reported.max() < REFERENCE_TIME
    weekday = Counter(reported.dt.tz_convert("Asia/Shanghai").dt.day_of_week)  # Monday is 0
    assert weekday[0] > 1.5 * weekday[5] and weekday[0] > 1.5 * weekday[6]
    assert cases["case_no"].is_unique
    assert cases["case_no"].str.fullmatch(r"510107001-20\d\d-\d{6}").all()
    assert (cases["subtype_code"].str.split(".").str[0] == cases["category_code"]).all()


def test_cases_follow_the_closed_loop(demo):
    cases = demo["cases"].set_index("id")
    events = demo["case_events"].sort_values(["case_id", "at", "id"])
    transitions = events[events["kind"] == "transition"]
    steps = {(None if pd.isna(a) else a, b)
             for a, b in zip(transitions["from_status"], transitions["to_status"], strict=True)}
    assert steps <= CLOSED_LOOP
    # the sweep's escalations: a handling deadline missed, the case sent to the community
    escalations = events[events["kind"] == "escalation"]
    assert len(escalations) > 0 and (escalations["from_status"] == escalations["to_status"]).all()
    assert (escalations["handling_level"] == 1).all() and (~escalations["on_time"].astype(bool)).all()
    assert (escalations["at"] > escalations["due_at"]).all()
    last = events.groupby("case_id").tail(1).set_index("case_id")
    assert (last["to_status"] == cases.loc[last.index, "status"]).all()
    assert set(cases.index) == set(last.index)
    assert events.groupby("case_id")["at"].apply(lambda at: at.is_monotonic_increasing).all()
    closed = cases[cases["status"] == "closed"]
    assert closed["satisfaction"].between(1, 5).all() and closed["closed_at"].notna().all()
    assert cases.loc[cases["status"] != "closed", "satisfaction"].isna().all()
    assert (cases["status"] == "closed").mean() > 0.8


def test_cases_cluster_at_hot_spots(demo, grids):
    l2 = grids[grids["level"] == 2]
    tree = shapely.STRtree(l2["geom"].to_numpy())
    _, holders = tree.query(demo["cases"]["geom"].to_numpy(), predicate="covered_by")
    busiest = np.sort(np.bincount(holders, minlength=len(l2)))[::-1][:5]
    assert busiest.sum() > 5 * 5 * len(demo["cases"]) / len(l2)
