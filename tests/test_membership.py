"""Which grid holds a point: borders, holes, multipolygons, outside, nearest join, refresh."""

from __future__ import annotations

from geoalchemy2.shape import from_shape
from shapely import MultiPolygon, Polygon
from sqlalchemy import text

from gisgrid.core.database import set_change_context
from gisgrid.grids import membership

from builders import Territory, lonlat, metres_box

SD = "110101098"


def grids_of(db, table: str, row_id: int) -> tuple:
    return db.execute(text(f"""
        SELECT g1.code, g2.code, g3.code FROM {table} p
        LEFT JOIN grids g1 ON g1.id = p.grid_l1_id LEFT JOIN grids g2 ON g2.id = p.grid_l2_id
        LEFT JOIN grids g3 ON g3.id = p.grid_l3_id WHERE p.id = :id
    """), {"id": row_id}).one()


def two_halves(db) -> Territory:
    """West and east halves sharing a border with a common vertex at (500, 500)."""
    t = Territory(db, SD, metres_box(0, 0, 1000, 1000))
    west = Polygon([(0, 0), (500, 0), (500, 500), (500, 1000), (0, 1000)])
    east = Polygon([(500, 0), (1000, 0), (1000, 1000), (500, 1000), (500, 500)])
    t.grid("001", west)
    t.grid("002", east)
    t.grid("001001", west)
    t.grid("002001", east)
    return t


def test_point_on_a_shared_border_belongs_to_the_smaller_code(db):
    t = two_halves(db)
    on_border = t.building(500, 500)
    membership.refresh(db, subdistrict=SD)
    assert grids_of(db, "buildings", on_border.id) == (SD + "001", SD + "001001", None)


def test_point_strictly_inside_belongs_to_that_grid_only(db):
    t = two_halves(db)
    east = t.building(750, 250)
    membership.refresh(db, subdistrict=SD)
    assert grids_of(db, "buildings", east.id) == (SD + "002", SD + "002001", None)


def test_a_hole_is_not_part_of_the_grid(db):
    t = Territory(db, SD, metres_box(0, 0, 1000, 1000))
    donut = Polygon(metres_box(0, 0, 1000, 1000).exterior.coords, [metres_box(400, 400, 600, 600).exterior.coords])
    t.grid("001", donut)
    in_hole, in_ring = t.building(500, 500), t.building(100, 100)
    membership.refresh(db, subdistrict=SD)
    assert grids_of(db, "buildings", in_hole.id) == (None, None, None)
    assert grids_of(db, "buildings", in_ring.id)[0] == SD + "001"


def test_every_part_of_a_multipolygon_counts(db):
    t = Territory(db, SD, metres_box(0, 0, 1000, 1000))
    t.grid("001", MultiPolygon([metres_box(0, 0, 300, 300), metres_box(700, 700, 1000, 1000)]))
    far_part = t.building(850, 850)
    between = t.building(500, 500)
    membership.refresh(db, subdistrict=SD)
    assert grids_of(db, "buildings", far_part.id)[0] == SD + "001"
    assert grids_of(db, "buildings", between.id)[0] is None


def test_points_outside_the_subdistrict_have_no_grid(db):
    t = two_halves(db)
    outside = t.building(1500, 500)
    shop = t.shop(-200, 300)
    membership.refresh(db, subdistrict=SD)
    assert grids_of(db, "buildings", outside.id) == (None, None, None)
    assert grids_of(db, "shops", shop.id) == (None, None, None)


def test_a_unit_in_no_grid_joins_the_nearest(db):
    t = Territory(db, SD, metres_box(0, 0, 1000, 1000))
    t.grid("001", metres_box(0, 0, 1000, 1000))
    t.grid("001001", metres_box(0, 0, 400, 1000))
    t.grid("001002", metres_box(600, 0, 1000, 1000))
    t.grid("001002001", metres_box(600, 0, 1000, 500))
    t.grid("001002002", metres_box(600, 500, 1000, 1000))
    unit = t.unit(570, 800, "区税务所")       # 30 m from 001002, 170 m from 001001
    membership.refresh(db, subdistrict=SD)
    assert grids_of(db, "stationed_units", unit.id) == (SD + "001", SD + "001002", SD + "001002002")
    assert db.execute(text("SELECT joined_nearest FROM stationed_units WHERE id = :i"),
                      {"i": unit.id}).scalar_one() is True


def test_refresh_after_an_edit_touches_only_the_changed_area(db):
    t = two_halves(db)
    moved = t.building(450, 900)
    stays = [t.building(100 + 50 * i, 100) for i in range(5)]
    membership.refresh(db, subdistrict=SD)
    assert grids_of(db, "buildings", moved.id)[0] == SD + "001"

    # Give the north-east corner of the west half (x 400-500, y 800-1000) to the east half.
    piece = metres_box(400, 800, 500, 1000)
    west, east = t.grids["001"], t.grids["002"]
    set_change_context(db, actor="test", reason="transfer a compound", operation="transfer")
    for grid, shape in ((west, Polygon([(0, 0), (500, 0), (500, 500), (500, 800), (400, 800), (400, 1000), (0, 1000)])),
                        (east, Polygon([(500, 0), (1000, 0), (1000, 1000), (400, 1000), (400, 800), (500, 800), (500, 500)]))):
        grid.geom = from_shape(MultiPolygon([lonlat(shape)]), srid=4326)
        grid.version += 1
    db.flush()
    changed = membership.refresh(db, area_ewkt=f"SRID=4326;{lonlat(piece).wkt}")
    assert changed["buildings"] == 1
    assert grids_of(db, "buildings", moved.id)[0] == SD + "002"
    assert all(grids_of(db, "buildings", b.id)[0] == SD + "001" for b in stays)


def test_on_a_tie_the_micro_grid_is_one_of_the_chosen_grids_children(db):
    """West 001001 wins the border at x = 500, but its micro-grid stops 10 m short of it and
    only the east grid's micro-grid reaches it: the building is in no micro-grid of 001001."""
    t = Territory(db, SD, metres_box(0, 0, 1000, 1000))
    t.grid("001", metres_box(0, 0, 1000, 1000))
    t.grid("001001", metres_box(0, 0, 500, 1000))
    t.grid("001002", metres_box(500, 0, 1000, 1000))
    t.grid("001001001", metres_box(0, 0, 490, 1000))
    t.grid("001002001", metres_box(500, 0, 1000, 1000))
    on_border = t.building(500, 500)
    in_west_micro = t.building(250, 500)
    membership.refresh(db, subdistrict=SD)
    assert grids_of(db, "buildings", on_border.id) == (SD + "001", SD + "001001", None)
    assert grids_of(db, "buildings", in_west_micro.id) == (SD + "001", SD + "001001", SD + "001001001")


def test_on_a_tie_between_communities_the_grids_below_are_the_chosen_communitys(db):
    """The same at the level above: community 001 takes the border, its only L2 stops short."""
    t = Territory(db, SD, metres_box(0, 0, 1000, 1000))
    t.grid("001", metres_box(0, 0, 500, 1000))
    t.grid("002", metres_box(500, 0, 1000, 1000))
    t.grid("001001", metres_box(0, 0, 490, 1000))
    t.grid("002001", metres_box(500, 0, 1000, 1000))
    t.grid("002001001", metres_box(500, 0, 1000, 1000))
    on_border = t.shop(500, 500)
    membership.refresh(db, subdistrict=SD)
    assert grids_of(db, "shops", on_border.id) == (SD + "001", None, None)
