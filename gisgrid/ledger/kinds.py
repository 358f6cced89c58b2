"""The ledger's record kinds: where each lives, how it finds its grid, what may be written, how it ends.

A record is in a caller's scope through the point that places it: a building, unit or shop
itself; a household through its building; a resident through their household's building; a
key-group membership through its resident's; a grid assignment through its grid; a staff
member through the grids they hold or held a role on (one on no grid yet is an
administrator's: :func:`staff_condition`). Ended records stay readable (their history is the
ledger's past), so scope reads the ``all_`` tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gisgrid.core.enums import BuildingUse, Occupancy, ResidenceType, Sex, StaffRole
from gisgrid.core.errors import NotFound
from gisgrid.core.scope import Scope


@dataclass(frozen=True)
class Kind:
    name: str                    # the current-records view, and ledger_versions.kind
    table: str                   # every record, ended ones included
    label: tuple[str, str]
    joins: str                   # from the record ``r`` to the point ``p`` that places it
    public: str                  # what a reader sees of ``r`` (never a ciphertext or blind index)
    end_reasons: dict[str, tuple[str, str]]
    place_alias: str = "p"
    geometries: tuple[str, ...] = ()
    sealed: dict[str, str] = field(default_factory=dict)  # the field a reader sees → its masked column


END_MOVED_OUT = {"moved_out": ("迁出", "moved out")}
ORGANISATION = ("r.id, r.subdistrict_code, r.name, r.kind, r.address, r.contact_name, r.contact_phone, "
                "ST_X(r.geom) AS lon, ST_Y(r.geom) AS lat")
BOOKKEEPING = ("r.version, nullif(r.valid_from, '-infinity') AS valid_from, "
               " r.changed_by, r.change_reason, r.change_operation, r.ended_on, r.end_reason")

KINDS: dict[str, Kind] = {kind.name: kind for kind in (
    Kind("buildings", "all_buildings", ("楼栋", "building"), "", place_alias="r",
         public="r.id, r.subdistrict_code, r.compound, r.name, r.address, r.floors, r.entrances, "
                "r.flats_per_floor, r.use, ST_X(r.geom) AS lon, ST_Y(r.geom) AS lat",
         end_reasons={"demolished": ("拆除", "demolished"), "merged": ("合并", "merged into another"),
                      "split": ("拆分", "split by 单元 into parts")},
         geometries=("geom", "footprint")),
    Kind("households", "all_households", ("住户", "household"), "JOIN all_buildings p ON p.id = r.building_id",
         public="r.id, r.building_id, p.address AS building_address, r.entrance, r.floor, r.room, r.occupancy, "
                "r.member_count",
         end_reasons=END_MOVED_OUT | {"dissolved": ("销户", "dissolved")}),
    Kind("residents", "all_residents", ("居民", "resident"),
         "JOIN all_households h ON h.id = r.household_id JOIN all_buildings p ON p.id = h.building_id",
         public="r.id, r.household_id, r.name, r.sex, r.birth_year, r.relation, r.residence_type, r.party_member, "
                "r.separated, r.id_number_masked AS id_number, r.phone_masked AS phone, "
                "(SELECT coalesce(json_agg(json_build_object('id', k.id, 'key_group', k.key_group, 'started_on', "
                "k.started_on, 'ended_on', k.ended_on, 'version', k.version) ORDER BY k.id), '[]') "
                "FROM all_resident_key_groups k WHERE k.resident_id = r.id) AS key_groups",
         end_reasons=END_MOVED_OUT | {"deceased": ("死亡", "deceased")},
         sealed={"id_number": "id_number_masked", "phone": "phone_masked"}),
    Kind("resident_key_groups", "all_resident_key_groups", ("重点人群", "key-group membership"),
         "JOIN all_residents pr ON pr.id = r.resident_id JOIN all_households h ON h.id = pr.household_id "
         "JOIN all_buildings p ON p.id = h.building_id",
         public="r.id, r.resident_id, r.key_group, r.started_on",
         end_reasons={"expired": ("期满", "term ended"), "revoked": ("取消", "no longer applies"),
                      "moved_out": ("迁出", "moved out"), "deceased": ("死亡", "deceased")}),
    Kind("stationed_units", "all_stationed_units", ("驻区单位", "stationed unit"), "", place_alias="r",
         public=ORGANISATION, end_reasons={"closed": ("注销", "closed"), "moved_out": ("迁出", "moved out")},
         geometries=("geom",)),
    Kind("shops", "all_shops", ("商铺", "shop"), "", place_alias="r",
         public=ORGANISATION + ", r.licence_no", end_reasons={"closed": ("关闭", "closed"),
                                                             "moved_out": ("迁出", "moved out")},
         geometries=("geom",)),
    Kind("grid_assignments", "all_grid_assignments", ("网格职责", "grid assignment"),
         "JOIN grids g ON g.id = r.grid_id",
         public="r.id, r.staff_id, r.grid_id, g.code AS grid_code, r.role",
         end_reasons={"released": ("离任", "released"), "reassigned": ("调整", "reassigned")}),
    Kind("staff", "staff", ("工作人员", "staff member"), "",
         public="r.id, r.name, r.sex, r.phone, r.title, r.party_member, r.active",
         end_reasons={"left": ("离职", "left"), "retired": ("退休", "retired")}),
)}
# the path segment a kind is served under → the kind
PATHS = {"buildings": "buildings", "households": "households", "residents": "residents",
         "key-group-memberships": "resident_key_groups", "units": "stationed_units", "shops": "shops",
         "assignments": "grid_assignments"}
ENUMS = {"use": BuildingUse, "occupancy": Occupancy, "sex": Sex, "residence_type": ResidenceType,
         "role": StaffRole}


def staff_condition(scope: Scope) -> tuple[str, dict]:
    """A condition on staff ``r``: they hold or held a role on a grid in ``scope``, or on no grid
    at all and the caller is not bound to a community or to grids (a person just registered,
    before their first assignment, is the administrators')."""
    if scope.whole:
        return "true", {}
    condition, params = scope.codes("g.code")
    return (f"""(EXISTS (SELECT 1 FROM all_grid_assignments sa JOIN grids g ON g.id = sa.grid_id
                        WHERE sa.staff_id = r.id AND {condition})
                OR (CAST(:scope_l1 AS integer) IS NULL AND CAST(:scope_grids AS integer[]) IS NULL
                    AND NOT EXISTS (SELECT 1 FROM all_grid_assignments sa WHERE sa.staff_id = r.id)))""", params)


def kind_of(name: str) -> Kind:
    try:
        return KINDS[name]
    except KeyError:
        raise NotFound(f"没有这类台帐记录 {name!r} / no ledger record kind {name!r}", where="kind") from None


