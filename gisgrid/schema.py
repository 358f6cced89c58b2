"""Every table, imported in one place so Alembic and the tests see the whole schema."""

from gisgrid.audit.models import AuditEntry
from gisgrid.auth.models import Account, ApiKey, AuthSession
from gisgrid.cases.models import Case, CaseAttachment, CaseCategory, CaseEvent, CaseNumber
from gisgrid.core.database import Base
from gisgrid.fieldwork.models import TrainingCourse, TrainingRecord, Visit
from gisgrid.grids.models import Grid, GridVersion
from gisgrid.ledger.models import LedgerRequest, LedgerVersion
from gisgrid.maps.models import BuildingLoad, GridLoad, TileCache
from gisgrid.organisations.models import Shop, StationedUnit
from gisgrid.registry.models import Building, Household, KeyGroup, Resident, ResidentKeyGroup
from gisgrid.staff.models import GridAssignment, LeadingGroupMember, Staff
from gisgrid.territory.models import SubDistrict, SubDistrictVersion

metadata = Base.metadata

__all__ = [
    "Account", "ApiKey", "AuditEntry", "AuthSession", "Building", "BuildingLoad", "Case", "CaseAttachment",
    "CaseCategory", "CaseEvent", "CaseNumber", "Grid", "GridAssignment", "GridLoad", "GridVersion", "Household",
    "KeyGroup", "LeadingGroupMember", "LedgerRequest", "LedgerVersion", "Resident", "ResidentKeyGroup", "Shop", "Staff", "StationedUnit",
    "SubDistrict", "SubDistrictVersion", "TileCache", "TrainingCourse", "TrainingRecord", "Visit", "metadata",
]
