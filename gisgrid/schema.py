"""Every table, imported in one place so Alembic and the tests see the whole schema."""

from gisgrid.audit.models import AuditEntry
from gisgrid.cases.models import Case, CaseCategory, CaseEvent
from gisgrid.core.database import Base
from gisgrid.grids.models import Grid, GridVersion
from gisgrid.maps.models import BuildingLoad, GridLoad, TileCache
from gisgrid.organisations.models import Shop, StationedUnit
from gisgrid.registry.models import Building, Household, KeyGroup, Resident, ResidentKeyGroup
from gisgrid.staff.models import GridAssignment, Staff
from gisgrid.territory.models import SubDistrict

metadata = Base.metadata

__all__ = [
    "AuditEntry", "Building", "BuildingLoad", "Case", "CaseCategory", "CaseEvent", "Grid",
    "GridAssignment", "GridLoad", "GridVersion", "Household", "KeyGroup", "Resident",
    "ResidentKeyGroup", "Shop", "Staff", "StationedUnit", "SubDistrict", "TileCache", "metadata",
]
