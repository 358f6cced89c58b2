"""The demo sub-district: counts in range, deterministic, planted defects present, plausible people."""

from __future__ import annotations

import pandas as pd
import pytest
import shapely
from sqlalchemy import text

from gisgrid.coverage.service import Scope, analyse
from gisgrid.demo.generator import DemoConfig, generate, id_number
from gisgrid.grids.models import code_length


def test_counts_fall_in_the_stated_ranges(db, demo):
    counts = dict(db.execute(text("""
        SELECT 'l1', count(*) FROM grids WHERE level = 1 UNION ALL
        SELECT 'l2', count(*) FROM grids WHERE level = 2 UNION ALL
        SELECT 'l3', count(*) FROM grids WHERE level = 3 UNION ALL
        SELECT 'buildings', count(*) FROM buildings UNION ALL
        SELECT 'households', count(*) FROM households UNION ALL
        SELECT 'residents', count(*) FROM residents UNION ALL
        SELECT 'shops', count(*) FROM shops UNION ALL
        SELECT 'units', count(*) FROM stationed_units UNION ALL
        SELECT 'cases', count(*) FROM cases
    """)).all())
    assert counts["l1"] == 8
    assert 85 <= counts["l2"] <= 120
    assert 2 * counts["l2"] <= counts["l3"] <= 4 * counts["l2"]
    assert 1200 <= counts["buildings"] <= 1800
    assert 20_000 <= counts["households"] <= 30_000
    assert 48_000 <= counts["residents"] <= 72_000
    assert 400 <= counts["shops"] and 30 <= counts["units"]
    assert 7_000 <= counts["cases"] <= 12_000  # a year at ~25 a day


def test_sited_in_chengdu_with_hierarchical_codes(db, demo):
    row = db.execute(text("SELECT code, ST_X(ST_Centroid(boundary)), ST_Y(ST_Centroid(boundary)) FROM subdistricts")).one()
    assert row[0] == "510107001"
    assert abs(row[1] - 104.043) < 0.02 and abs(row[2] - 30.642) < 0.02
    bad = db.execute(text("""
        SELECT count(*) FROM grids c LEFT JOIN grids p ON p.code = c.parent_code
        WHERE c.level > 1 AND (p.level IS DISTINCT FROM c.level - 1 OR left(c.code, length(p.code)) <> p.code)
    """)).scalar_one()
    assert bad == 0
    assert db.execute(text("SELECT min(length(code)), max(length(code)) FROM grids WHERE level = 2")).one() == (
        code_length(2), code_length(2))


def test_serials_run_west_to_east_within_a_row(db, demo):
    """Within one parent, a grid's serial is smaller than a grid due east of it at the same latitude."""
    rows = db.execute(text("""
        SELECT a.code < b.code FROM grids a JOIN grids b ON a.parent_code = b.parent_code AND a.level = 2
        WHERE ST_Touches(a.geom, b.geom)
          AND abs(ST_Y(ST_PointOnSurface(a.geom)) - ST_Y(ST_PointOnSurface(b.geom))) < 0.0003
          AND ST_X(ST_PointOnSurface(a.geom)) < ST_X(ST_PointOnSurface(b.geom)) - 0.001
    """)).scalars().all()
    assert rows and sum(rows) / len(rows) > 0.9


def test_coverage_finds_exactly_the_planted_defects(db, demo):
    planted = demo.planted[0]
    report = analyse(db, Scope(subdistrict=planted.subdistrict))
    found = sorted((d.type, tuple(d.grids)) for d in report.defects if d.type != "orphan_building")
    blind = next(d for d in report.defects if d.type == "blind_spot")
    assert found == sorted([
        ("blind_spot", tuple(blind.grids)),
        ("overlap", planted.overlap_grids),
        ("overloaded", (planted.overloaded_grid,)),
        ("underloaded", (planted.underloaded_grid,)),
    ])
    assert blind.area_m2 == pytest.approx(planted.blind_spot_area_m2, rel=0.01)
    assert shapely.equals_exact(shapely.normalize(blind.geometry), shapely.normalize(planted.blind_spot), 1e-6)
    overlap = next(d for d in report.defects if d.type == "overlap")
    assert overlap.area_m2 == pytest.approx(planted.overlap_area_m2, rel=0.01)
    orphans = [d for d in report.defects if d.type == "orphan_building"]
    address = db.execute(text("SELECT address FROM buildings WHERE id = :i"), {"i": orphans[0].detail["id"]}).scalar_one()
    assert len(orphans) == 1 and address == planted.orphan_building
    assert orphans[0].detail["missing_levels"] == [1, 2, 3]


def test_every_residential_building_has_households_and_every_grid_a_lead(db, demo):
    empty = db.execute(text("""
        SELECT count(*) FROM buildings b WHERE b.use IN ('residential', 'mixed')
        AND NOT EXISTS (SELECT 1 FROM households h WHERE h.building_id = b.id)
    """)).scalar_one()
    assert empty == 0
    leads = db.execute(text("""
        SELECT count(*) FROM grids g WHERE NOT EXISTS
        (SELECT 1 FROM grid_assignments a WHERE a.grid_id = g.id AND a.role = 'grid_lead')
    """)).scalar_one()
    assert leads == 0
    members = db.execute(text("""
        SELECT count(*) FROM households h WHERE h.member_count <>
        (SELECT count(*) FROM residents r WHERE r.household_id = h.id)
    """)).scalar_one()
    assert members == 0


def test_key_group_rates_are_plausible(db, demo):
    total = db.execute(text("SELECT count(*) FROM residents")).scalar_one()
    rates = {k: n / total for k, n in db.execute(text(
        "SELECT key_group, count(*) FROM resident_key_groups GROUP BY 1")).all()}
    plausible = {
        "empty_nest_elderly": (0.05, 0.2), "elderly_living_alone": (0.01, 0.08),
        "disabled": (0.01, 0.05), "subsistence_allowance": (0.005, 0.04),
        "unemployed_4050": (0.003, 0.03), "released_prisoner": (0.0001, 0.004),
        "community_corrections": (0.00002, 0.002), "entitled_group": (0.001, 0.01),
    }
    for group, (low, high) in plausible.items():
        assert low <= rates.get(group, 0) <= high, (group, rates.get(group))
    elderly = db.execute(text("SELECT avg((2026 - birth_year >= 60)::int) FROM residents")).scalar_one()
    assert 0.12 <= elderly <= 0.32


def test_id_numbers_are_encrypted_valid_and_masked(db, demo):
    from gisgrid.core.secrets import keyring

    rows = db.execute(text("SELECT id_number_enc, id_number_masked, birth_year FROM residents ORDER BY id LIMIT 200")).all()
    ring = keyring()
    for sealed, masked, birth_year in rows:
        plain = ring.open(sealed)
        assert len(plain) == 18 and int(plain[6:10]) == birth_year
        assert id_number(plain[:6], pd.Timestamp(plain[6:14]).to_pydatetime(), int(plain[14:17])) == plain
        assert masked == plain[:6] + "********" + plain[-4:]
        assert plain.encode() not in sealed


def test_cases_have_a_weekly_rhythm_and_hot_spots(db, demo):
    by_dow = dict(db.execute(text("""
        SELECT extract(isodow FROM reported_at AT TIME ZONE 'Asia/Shanghai')::int, count(*) FROM cases GROUP BY 1
    """)).all())
    assert by_dow[1] > by_dow[6] * 1.5 and by_dow[1] > by_dow[7] * 1.5
    busiest = db.execute(text("""
        SELECT count(*) FROM cases GROUP BY grid_l2_id ORDER BY count(*) DESC LIMIT 5
    """)).scalars().all()
    grids = db.execute(text("SELECT count(*) FROM grids WHERE level = 2")).scalar_one()
    total = db.execute(text("SELECT count(*) FROM cases")).scalar_one()
    assert sum(busiest) > 5 * 5 * total / grids  # five hot grids carry far more than their share
    stuck = db.execute(text("""
        SELECT count(*) FROM cases c WHERE c.status <> (SELECT e.to_status FROM case_events e
        WHERE e.case_id = c.id ORDER BY e.at DESC, e.id DESC LIMIT 1)
    """)).scalar_one()
    assert stuck == 0


def test_same_seed_same_data_other_seed_other_data():
    small = DemoConfig(communities=2, cases=False)
    first, second = generate(small), generate(small)
    for table in first.tables:
        pd.testing.assert_frame_equal(first[table], second[table], check_like=True)
    other = generate(DemoConfig(communities=2, cases=False, seed=7))
    assert not first["buildings"]["address"].equals(other["buildings"]["address"])


def test_the_demo_cases_separate_handling_from_checking_and_closing(db, demo):
    """No demo case is checked or closed by the person who handled it (GB/T 30428's loop)."""
    checked = db.execute(text("""
        SELECT count(*) FILTER (WHERE c.to_status IN ('verified', 'closed')) AS steps,
               count(*) FILTER (WHERE c.to_status IN ('verified', 'closed') AND (c.actor = h.actor
                                OR c.actor_staff_id = h.actor_staff_id)) AS by_handler
        FROM case_events c JOIN LATERAL (
            SELECT actor, actor_staff_id FROM case_events h WHERE h.case_id = c.case_id AND h.to_status = 'handled'
              AND (h.at, h.id) < (c.at, c.id) ORDER BY h.at DESC, h.id DESC LIMIT 1) h ON true""")).one()
    assert checked.steps > 100 and checked.by_handler == 0
    intake = db.execute(text("""
        SELECT count(*) FROM case_events e JOIN staff s ON s.id = e.actor_staff_id
        JOIN accounts a ON a.staff_id = s.id AND a.role = 'grid_worker'
        WHERE e.to_status IN ('registered', 'rejected', 'duplicate', 'dispatched') AND e.kind = 'transition'
          AND e.from_status <> 'verified'""")).scalar_one()
    assert intake == 0
