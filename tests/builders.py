"""Hand-built territories for tests: shapes drawn in metres, stored in WGS84.

Shapes are given in a local frame of metres east/north of a point in Beijing's Dongcheng. The
frame is affine with steps of whole 1e-7° (the precision gisgrid stores): one unit is 117e-7°
of longitude (0.999 m there) and 90e-7° of latitude (0.999 m), so whole-metre vertices land
exactly on the storage grid, straight shared borders stay exactly shared, and areas stated in
m² come back within 0.3 %.
"""

from __future__ import annotations

import itertools

import numpy as np
import shapely
from geoalchemy2.shape import from_shape
from shapely import MultiPolygon, Point, Polygon, box
from shapely.affinity import translate
from shapely.geometry import mapping
from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.core.database import set_change_context
from gisgrid.core.enums import BuildingUse, Occupancy, Sex, StaffRole
from gisgrid.grids.models import Grid
from gisgrid.organisations.models import Shop, StationedUnit
from gisgrid.registry.models import Building, Household
from gisgrid.staff.models import GridAssignment, Staff
from gisgrid.territory.models import SubDistrict

LON0, LAT0 = 116.3800000, 39.9000000
LON_STEP, LAT_STEP = 117e-7, 90e-7  # degrees per local metre


def lonlat(geom_m, *, on_grid: bool = True):
    """Local metres → WGS84 on the 1e-7° grid (or, ``on_grid=False``, at full double precision,
    as an outline converted from GCJ-02 arrives)."""
    def convert(xy):
        lonlats = np.column_stack([LON0 + xy[:, 0] * LON_STEP, LAT0 + xy[:, 1] * LAT_STEP])
        return np.round(lonlats, 7) if on_grid else lonlats

    return shapely.transform(geom_m, convert)


def metres_box(x0, y0, x1, y1) -> Polygon:
    return box(x0, y0, x1, y1)


def _multi(geom_m, *, on_grid: bool = True):
    geom = lonlat(geom_m, on_grid=on_grid)
    return from_shape(geom if geom.geom_type == "MultiPolygon" else MultiPolygon([geom]), srid=4326)


class Territory:
    """A sub-district under construction inside the test's transaction."""

    def __init__(self, db, code: str, boundary_m, *, boundary_on_grid: bool = True):
        self.db, self.code = db, code
        set_change_context(db, actor="test", reason="hand-built territory", operation="create")
        db.add(SubDistrict(code=code, name="测试街道", county="东城区", city="北京市",
                           boundary=_multi(boundary_m, on_grid=boundary_on_grid)))
        db.flush()
        self.grids: dict[str, Grid] = {}

    def grid(self, suffix: str, geom_m, *, lead: bool = True) -> Grid:
        """``suffix`` is the part of the code below the sub-district: '001', '001002', …"""
        level = len(suffix) // 3
        code = self.code + suffix
        parent = code[:-3] if level > 1 else None
        grid = Grid(subdistrict_code=self.code, level=level, code=code, parent_code=parent,
                    serial=int(suffix[-3:]), name=f"网格{suffix}", geom=_multi(geom_m))
        self.db.add(grid)
        self.db.flush()
        if lead:
            staff = Staff(name=f"组长{suffix}", sex=Sex.FEMALE, phone="028-00000000")
            self.db.add(staff)
            self.db.flush()
            self.db.add(GridAssignment(staff_id=staff.id, grid_id=grid.id, role=StaffRole.GRID_LEAD))
        self.grids[suffix] = grid
        return grid

    def building(self, x: float, y: float, *, households: int = 0, people_each: int = 2) -> Building:
        building = Building(subdistrict_code=self.code, name=f"{x:.0f}-{y:.0f}号楼",
                            address=f"{self.code}测试路{x:.1f}-{y:.1f}",
                            floors=max(1, -(-households // 4)), entrances=1, flats_per_floor=4,
                            use=BuildingUse.RESIDENTIAL,
                            geom=from_shape(lonlat(Point(x, y)), srid=4326))
        self.db.add(building)
        self.db.flush()
        self.db.add_all([
            Household(building_id=building.id, entrance=1, floor=1 + i // 4, room=str(101 + i % 4),
                      occupancy=Occupancy.OWNER, member_count=people_each)
            for i in range(households)
        ])
        self.db.flush()
        return building

    def unit(self, x: float, y: float, name: str = "驻区单位") -> StationedUnit:
        return self._organisation(StationedUnit, x, y, name, "机关单位")

    def shop(self, x: float, y: float, name: str = "商铺") -> Shop:
        return self._organisation(Shop, x, y, name, "零售")

    def _organisation(self, model, x: float, y: float, name: str, kind: str):
        place = model(subdistrict_code=self.code, name=name, kind=kind, address=name,
                      geom=from_shape(lonlat(Point(x, y)), srid=4326))
        self.db.add(place)
        self.db.flush()
        return place


def ready_territory(db, code: str, *, planted: bool = False) -> dict:
    """Six L2 grids of 250 households (one L1 of 1,500: every load in band), each household with
    one resident, every lead with an account. ``planted``: the boundary reaches 100 m east of the
    L1 zone (a blind spot, with a building in it), a building without households, a household
    without residents, a staff member without an account and a grid whose lead has left."""
    t = Territory(db, code, metres_box(0, 0, 700 if planted else 600, 200))
    t.grid("001", metres_box(0, 0, 600, 200))
    for i in range(6):
        t.grid(f"001{i + 1:03d}", metres_box(100 * i, 0, 100 * (i + 1), 200))
        t.building(100 * i + 50, 100, households=250, people_each=1)
    plants: dict = {}
    if planted:
        plants["outside"] = t.building(650, 100, households=1, people_each=1)
        plants["empty"] = t.building(20, 20)
        crowded = t.building(150, 20, households=1, people_each=1)
        plants["household"] = db.execute(text("SELECT id FROM households WHERE building_id = :b"),
                                          {"b": crowded.id}).scalar_one()
    db.execute(text("""INSERT INTO residents (household_id, name, sex, birth_year, relation, residence_type, party_member)
                       SELECT h.id, '居民', 'F', 1980, '户主', 'registered', false
                       FROM households h JOIN buildings b ON b.id = h.building_id
                       WHERE b.subdistrict_code = :sd AND h.id <> :skip"""),
               {"sd": code, "skip": plants.get("household", 0)})
    db.execute(text("""INSERT INTO accounts (username, display_name, role, staff_id, subdistrict_code, password_hash)
                       SELECT 'lead' || a.staff_id, '组长', 'grid_worker', a.staff_id, CAST(:sd AS text), 'not a hash'
                       FROM grid_assignments a JOIN grids g ON g.id = a.grid_id WHERE g.subdistrict_code = :sd"""),
               {"sd": code})
    if planted:
        volunteer = Staff(name="志愿者甲", phone="13800000001", party_member=False)
        db.add(volunteer)
        db.flush()
        db.add(GridAssignment(staff_id=volunteer.id, grid_id=t.grids["001001"].id, role=StaffRole.VOLUNTEER))
        plants["volunteer"] = volunteer.id
        db.execute(text("UPDATE staff SET active = false WHERE id = (SELECT staff_id FROM grid_leads WHERE grid_id = :g)"),
                   {"g": t.grids["001003"].id})
    from gisgrid.grids import membership

    membership.refresh(db, subdistrict=code)
    db.flush()
    return plants


_towns = itertools.count(1)


class Town:
    """Committed (for tests whose changes commit): a sub-district of its own, 1 km east of the
    previous one, with one L1 zone, two L2 grids (west, east) and a building in the west one."""

    def __init__(self, engine):
        from gisgrid.grids import membership

        n = next(_towns)
        self.sd, self.dx = f"110109{n:03d}", 1000 * n
        with Session(engine) as db:
            t = Territory(db, self.sd, self.box(0, 0, 400, 200))
            t.grid("001", self.box(0, 0, 400, 200))
            t.grid("001001", self.box(0, 0, 200, 200))
            t.grid("001002", self.box(200, 0, 400, 200))
            self.west_building = t.building(170 + self.dx, 50, households=10).id
            membership.refresh(db, subdistrict=self.sd)
            db.commit()
        self.l1, self.west, self.east = self.sd + "001", self.sd + "001001", self.sd + "001002"

    def box(self, x0, y0, x1, y1):
        return translate(metres_box(x0, y0, x1, y1), self.dx)

    def geo(self, x0, y0, x1, y1) -> dict:
        return mapping(lonlat(self.box(x0, y0, x1, y1)))
