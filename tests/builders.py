"""Hand-built territories for tests: shapes drawn in metres, stored in WGS84.

Shapes are given in a local metric frame (UTM 50N, metres east/north of a point in Beijing's
Dongcheng), so a test can state areas and distances it knows exactly.
"""

from __future__ import annotations

import shapely
from geoalchemy2.shape import from_shape
from pyproj import Transformer
from shapely import MultiPolygon, Point, Polygon, box

from gisgrid.core.database import set_change_context
from gisgrid.core.enums import BuildingUse, Occupancy, Sex, StaffRole
from gisgrid.grids.models import Grid
from gisgrid.organisations.models import Shop, StationedUnit
from gisgrid.registry.models import Building, Household
from gisgrid.staff.models import GridAssignment, Staff
from gisgrid.territory.models import SubDistrict

ORIGIN = (447000.0, 4417000.0)  # UTM 50N, near 116.38°E 39.90°N
_TO_LONLAT = Transformer.from_crs("EPSG:32650", "EPSG:4326", always_xy=True)


def lonlat(geom_m):
    """Local metres → WGS84, rounded to the 7 decimals gisgrid stores."""
    moved = shapely.transform(
        geom_m, lambda xy: shapely.get_coordinates(shapely.points(*_TO_LONLAT.transform(
            xy[:, 0] + ORIGIN[0], xy[:, 1] + ORIGIN[1]))))
    return shapely.set_precision(moved, 1e-7)


def metres_box(x0, y0, x1, y1) -> Polygon:
    return box(x0, y0, x1, y1)


def _multi(geom_m):
    geom = lonlat(geom_m)
    return from_shape(geom if geom.geom_type == "MultiPolygon" else MultiPolygon([geom]), srid=4326)


class Territory:
    """A sub-district under construction inside the test's transaction."""

    def __init__(self, db, code: str, boundary_m):
        self.db, self.code = db, code
        set_change_context(db, actor="test", reason="hand-built territory", operation="create")
        db.add(SubDistrict(code=code, name="测试街道", county="东城区", city="北京市",
                           boundary=_multi(boundary_m)))
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
                            address=f"{self.code}测试路{x:.1f}-{y:.1f}", floors=6, entrances=1,
                            flats_per_floor=max(1, households), use=BuildingUse.RESIDENTIAL,
                            geom=from_shape(lonlat(Point(x, y)), srid=4326))
        self.db.add(building)
        self.db.flush()
        self.db.add_all([
            Household(building_id=building.id, entrance=1, floor=1 + i // 4, room=str(101 + i),
                      occupancy=Occupancy.OWNER, member_count=people_each)
            for i in range(households)
        ])
        self.db.flush()
        return building

    def unit(self, x: float, y: float, name: str = "驻区单位") -> StationedUnit:
        unit = StationedUnit(subdistrict_code=self.code, name=name, kind="机关单位", address=name,
                             geom=from_shape(lonlat(Point(x, y)), srid=4326))
        self.db.add(unit)
        self.db.flush()
        return unit

    def shop(self, x: float, y: float, name: str = "商铺") -> Shop:
        shop = Shop(subdistrict_code=self.code, name=name, kind="零售", address=name,
                    geom=from_shape(lonlat(Point(x, y)), srid=4326))
        self.db.add(shop)
        self.db.flush()
        return shop
