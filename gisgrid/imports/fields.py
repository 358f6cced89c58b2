"""What each import kind holds: its fields, the column names tried for them, and how a cell
is read. Cells arrive as text (or None when empty); a parser returns the stored value or raises
:class:`BadValue` with a bilingual reason.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from gisgrid.core.enums import BuildingUse, Labelled, Occupancy, ResidenceType, Sex, StaffRole
from gisgrid.core.phones import phone_key, plausible_phone
from gisgrid.registry.idnumbers import BadValue  # noqa: F401 (the cells of every kind raise it)


class Kind(StrEnum):
    BUILDINGS = "buildings"
    UNITS = "units"
    SHOPS = "shops"
    HOUSEHOLDS = "households"
    RESIDENTS = "residents"
    STAFF = "staff"


KIND_LABELS = {
    Kind.BUILDINGS: "楼栋",
    Kind.UNITS: "驻区单位",
    Kind.SHOPS: "商铺",
    Kind.HOUSEHOLDS: "住户",
    Kind.RESIDENTS: "居民",
    Kind.STAFF: "工作人员",
}
TABLES = {
    Kind.BUILDINGS: "buildings",
    Kind.UNITS: "stationed_units",
    Kind.SHOPS: "shops",
    Kind.HOUSEHOLDS: "households",
    Kind.RESIDENTS: "residents",
    Kind.STAFF: "staff",
}
# Kinds located by a point or footprint of their own; the others hang on a building or a grid.
LOCATED = (Kind.BUILDINGS, Kind.UNITS, Kind.SHOPS)




def clean(value: str | None) -> str | None:
    """NFKC (full-width → half-width), trimmed, inner whitespace collapsed; '' → None."""
    if value is None:
        return None
    value = str(value)
    if value.isascii() and value.isprintable() and "  " not in value:  # the common case, fast
        return value.strip() or None
    text = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", str(value))).strip()
    return text or None


def address_key(value: str) -> str:
    """What makes two addresses the same: NFKC, no whitespace, lower case.

    :func:`key_sql` computes the same key in PostgreSQL, for addresses already stored."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", value)).lower()


def key_sql(column: str) -> str:
    return f"lower(regexp_replace(normalize({column}, NFKC), '\\s+', '', 'g'))"


def text_parser(max_len: int) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = clean(raw)
        if value is None:
            raise BadValue("为空 / is empty")
        if len(value) > max_len:
            raise BadValue(f"超过 {max_len} 个字符 / longer than {max_len} characters ({len(value)})")
        return value

    parse.rule = f"文字，最多 {max_len} 字 / text, up to {max_len} characters"  # the templates describe it
    return parse


_UNIT_SUFFIX = re.compile(r"(层|楼|单元|人|户|口|号|f|F)$")


def int_parser(low: int, high: int, *, nonzero: bool = False) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        text = clean(raw)
        if text is None:
            raise BadValue("为空 / is empty")
        stripped = _UNIT_SUFFIX.sub("", text).strip()
        try:
            number = float(stripped)
        except ValueError:
            raise BadValue(f"“{text}”不是整数 / {text!r} is not a whole number") from None
        if not math.isfinite(number) or not number.is_integer():
            raise BadValue(f"“{text}”不是整数 / {text!r} is not a whole number")
        value = int(number)
        if not low <= value <= high or (nonzero and value == 0):
            extra = "，且不为 0" if nonzero else ""
            extra_en = ", not 0" if nonzero else ""
            raise BadValue(f"{value} 超出范围 {low}–{high}{extra} / {value} is out of range {low}–{high}{extra_en}")
        return value

    parse.rule = (f"整数 {low}–{high}{'，不为 0' if nonzero else ''} / whole number {low}–{high}"
                  f"{', not 0' if nonzero else ''}")
    return parse


def choice_parser(enum: type[Labelled], synonyms: dict[str, Labelled] | None = None) -> Callable[[str], str]:
    """A member by its value, its Chinese label or one of ``synonyms`` (the words files use)."""
    lookup: dict[str, str] = {}
    for member in enum:
        lookup[member.value.casefold()] = member.value
        lookup[member.label_zh] = member.value
    for word, member in (synonyms or {}).items():
        lookup[word.casefold()] = member.value
    allowed = "、".join(f"{m.label_zh}/{m.value}" for m in enum)

    def parse(raw: str) -> str:
        text = clean(raw)
        if text is None:
            raise BadValue("为空 / is empty")
        found = lookup.get(text.casefold()) or lookup.get(text)
        if found is None:
            raise BadValue(f"“{text}”不是可选值 / {text!r} is not one of: {allowed}")
        return found

    parse.rule = "可选值之一（中文或英文）/ one of the allowed values (Chinese or English)"
    parse.choices = enum
    return parse


@dataclass(frozen=True)
class Field:
    name: str
    label_zh: str
    aliases: tuple[str, ...]
    parse: Callable[[str], Any]
    required: bool = False
    default: Any = None
    # A default that stands in for missing information is worth a warning when the column is absent.
    warn_default: str | None = None
    # Personal data (ID number, phone): a refusal never quotes the cell.
    sensitive: bool = False

    @property
    def label(self) -> str:
        return f"{self.label_zh} ({self.name})"


BUILDING_FIELDS = (
    Field("address", "地址", ("地址", "楼栋地址", "门牌地址", "详细地址", "address", "addr"),
          text_parser(200), required=True),
    Field("name", "名称", ("名称", "楼栋名称", "楼名", "楼号", "建筑名称", "name"), text_parser(100),
          warn_default="名称缺省取地址 / name taken from the address"),
    Field("compound", "小区", ("小区", "小区名称", "院落", "compound"), text_parser(100)),
    Field("floors", "层数", ("层数", "楼层数", "地上层数", "总层数", "floors"), int_parser(1, 200),
          required=True),
    Field("entrances", "单元数", ("单元数", "entrances"), int_parser(1, 50), default=1,
          warn_default="单元数缺省为 1 / entrances default to 1"),
    Field("flats_per_floor", "每层户数", ("每层户数", "每单元每层户数", "flats_per_floor"),
          int_parser(0, 50), default=0,
          warn_default="每层户数缺省为 0（住户图为空）/ flats_per_floor default to 0 (empty household diagram)"),
    Field("use", "用途", ("用途", "建筑用途", "使用性质", "use"), choice_parser(BuildingUse),
          default=BuildingUse.RESIDENTIAL.value,
          warn_default="用途缺省为住宅 / use defaults to residential"),
)

_ORG_FIELDS = (
    Field("name", "名称", ("名称", "单位名称", "商铺名称", "店名", "店铺名称", "name"), text_parser(150),
          required=True),
    Field("address", "地址", ("地址", "详细地址", "经营地址", "单位地址", "address", "addr"),
          text_parser(200), required=True),
    Field("kind", "类型", ("类型", "类别", "行业", "业态", "单位类型", "单位性质", "kind", "type", "category"),
          text_parser(40), default="未分类",
          warn_default="类型缺省为“未分类” / kind defaults to 未分类 (unclassified)"),
    Field("contact_name", "联系人", ("联系人", "负责人", "contact_name", "contact"), text_parser(50)),
    Field("contact_phone", "电话", ("电话", "联系电话", "手机", "contact_phone", "phone", "tel"),
          text_parser(20)),
)

UNIT_FIELDS = _ORG_FIELDS
SHOP_FIELDS = (
    *_ORG_FIELDS,
    Field("licence_no", "营业执照", ("营业执照", "营业执照号", "统一社会信用代码", "licence_no", "license_no"),
          text_parser(30)),
)

HOUSEHOLD_FIELDS = (
    Field("building_address", "楼栋地址", ("楼栋地址", "地址", "building_address", "address"),
          text_parser(200)),
    Field("building_id", "楼栋编号", ("楼栋编号", "楼栋id", "building_id"), int_parser(1, 2**31 - 1)),
    Field("entrance", "单元", ("单元", "单元号", "entrance"), int_parser(1, 50), default=1,
          warn_default="单元缺省为 1 / entrance defaults to 1"),
    Field("floor", "楼层", ("楼层", "层", "所在楼层", "floor"), int_parser(-5, 200, nonzero=True),
          required=True),
    Field("room", "房号", ("房号", "门牌号", "房间号", "室", "room"), text_parser(20), required=True),
    Field("occupancy", "居住状态", ("居住状态", "居住情况", "状态", "occupancy"), choice_parser(Occupancy),
          default=Occupancy.OWNER.value,
          warn_default="居住状态缺省为自住 / occupancy defaults to owner"),
    Field("member_count", "人数", ("人数", "居住人数", "户内人数", "member_count", "members"),
          int_parser(0, 100), default=0,
          warn_default="人数缺省为 0（网格人口不计）/ member_count defaults to 0 (no people counted)"),
)

def yes_no(raw: str) -> bool:
    text = clean(raw)
    if text is None:
        raise BadValue("为空 / is empty")
    key = text.casefold()
    if key in ("是", "y", "yes", "true", "1", "√", "✓", "党员", "中共党员"):
        return True
    if key in ("否", "n", "no", "false", "0", "×", "非党员", "群众"):
        return False
    raise BadValue(f"“{text}”应为 是/否 / {text!r} is not yes or no (是/否)")


yes_no.rule = "是 或 否 / yes or no"

_RESIDENCE_WORDS = {
    **dict.fromkeys(("户籍", "本地", "常住", "户籍人口", "常住人口", "本地户籍"), ResidenceType.REGISTERED),
    **dict.fromkeys(("流动", "外来", "暂住", "流动人口", "外来人口", "暂住人口"), ResidenceType.FLOATING),
    **dict.fromkeys(("境外", "外籍", "港澳台", "境外人员", "外籍人员", "港澳台人员"), ResidenceType.OVERSEAS),
}

# A 台帐 names the flat either by building address + 单元 + 楼层 + 房号, or in one 地址 text
# ("朝阳路1号2单元3层301") that the residents import splits. ID number and phone arrive as text:
# the residents import checks them (gisgrid.registry.idnumbers) and seals them as the registry
# stores them; sex and birth year come from the ID number when missing.
RESIDENT_FIELDS = (
    Field("name", "姓名", ("姓名", "居民姓名", "name"), text_parser(50), required=True),
    Field("sex", "性别", ("性别", "sex", "gender"),
          choice_parser(Sex, {"男性": Sex.MALE, "女性": Sex.FEMALE, "male": Sex.MALE, "female": Sex.FEMALE})),
    Field("id_number", "公民身份号码", ("公民身份号码", "身份证号", "身份证号码", "身份证", "证件号码", "id_number"),
          text_parser(40), sensitive=True),
    Field("birth_year", "出生年份", ("出生年份", "出生年", "birth_year"), int_parser(1900, 2100)),
    Field("phone", "联系电话", ("联系电话", "电话", "手机", "手机号码", "phone", "tel"), text_parser(40),
          sensitive=True),
    Field("address", "地址", ("地址", "住址", "家庭住址", "现住址", "address"), text_parser(200)),
    Field("building_address", "楼栋地址", ("楼栋地址", "楼栋", "building_address", "building"), text_parser(200)),
    Field("entrance", "单元", ("单元", "单元号", "entrance"), int_parser(1, 50)),
    Field("floor", "楼层", ("楼层", "层", "所在楼层", "floor"), int_parser(-5, 200, nonzero=True)),
    Field("room", "房号", ("房号", "门牌号", "房间号", "室", "room"), text_parser(20)),
    Field("relation", "与户主关系", ("与户主关系", "关系", "relation"), text_parser(20), default="其他"),
    Field("residence_type", "户籍类型", ("户籍类型", "人口类型", "人员类型", "户籍性质", "居住类型", "residence_type"),
          choice_parser(ResidenceType, _RESIDENCE_WORDS), default=ResidenceType.REGISTERED.value,
          warn_default="户籍类型缺省为户籍人口 / residence_type defaults to registered"),
    Field("party_member", "党员", ("党员", "是否党员", "政治面貌", "party_member"), yes_no, default=False),
    Field("key_groups", "重点人群", ("重点人群", "重点人员", "人群标签", "key_groups"), text_parser(200)),
)

def phone_parser(raw: str) -> str:
    """A phone as its key (:func:`gisgrid.core.phones.phone_key`): how staff are matched."""
    text = clean(raw)
    if text is None:
        raise BadValue("为空 / is empty")
    key = phone_key(text)
    if not plausible_phone(key):
        raise BadValue(f"“{text}”不是电话号码 / {text!r} is not a phone number (7 to 12 digits, +86 allowed)")
    return key


# The words staff lists use for the roles, beside StaffRole's own values and labels.
STAFF_ROLE_SYNONYMS = {
    "网格负责人": StaffRole.GRID_LEAD, "格长": StaffRole.GRID_LEAD, "组长": StaffRole.GRID_LEAD,
    "lead": StaffRole.GRID_LEAD,
    "网格员": StaffRole.FULL_TIME, "专职": StaffRole.FULL_TIME, "full_time": StaffRole.FULL_TIME,
    "兼职": StaffRole.PART_TIME, "part_time": StaffRole.PART_TIME,
    "协管": StaffRole.ASSISTANT, "社区协管员": StaffRole.ASSISTANT,
    "信息员": StaffRole.INFORMATION_OFFICER,
    "保洁": StaffRole.CLEANER,
    "骨干党员": StaffRole.PARTY_ACTIVIST,
    "民警": StaffRole.COMMUNITY_POLICE, "片警": StaffRole.COMMUNITY_POLICE, "社区警务": StaffRole.COMMUNITY_POLICE,
    "police": StaffRole.COMMUNITY_POLICE,
    "楼长": StaffRole.BUILDING_HEAD, "楼道长": StaffRole.BUILDING_HEAD, "单元长": StaffRole.BUILDING_HEAD,
    "义工": StaffRole.VOLUNTEER,
}

# One row per grid assignment: a person on several grids (or with several roles) has several
# rows with the same phone, the staff natural key.
STAFF_FIELDS = (
    Field("name", "姓名", ("姓名", "name"), text_parser(50), required=True),
    Field("phone", "电话", ("电话", "联系电话", "手机", "手机号码", "phone", "tel"), phone_parser, required=True),
    Field("role", "角色", ("角色", "职责", "岗位", "role"), choice_parser(StaffRole, STAFF_ROLE_SYNONYMS),
          required=True),
    Field("grid_code", "网格编码", ("网格编码", "网格", "grid_code", "grid"), text_parser(18), required=True),
    Field("sex", "性别", ("性别", "sex", "gender"), choice_parser(Sex)),
    Field("title", "职务", ("职务", "单位", "工作单位", "title"), text_parser(100)),
    Field("party_member", "党员", ("党员", "是否党员", "政治面貌", "party_member"), yes_no, default=False),
)

FIELDS: dict[Kind, tuple[Field, ...]] = {
    Kind.BUILDINGS: BUILDING_FIELDS,
    Kind.UNITS: UNIT_FIELDS,
    Kind.SHOPS: SHOP_FIELDS,
    Kind.HOUSEHOLDS: HOUSEHOLD_FIELDS,
    Kind.RESIDENTS: RESIDENT_FIELDS,
    Kind.STAFF: STAFF_FIELDS,
}

# Location columns of tables (CSV / Excel): lon/lat, or one WKT geometry column.
LOCATION_ALIASES = {
    "lon": ("lon", "lng", "long", "longitude", "经度", "x"),
    "lat": ("lat", "latitude", "纬度", "y"),
    "wkt": ("wkt", "geometry", "geom", "几何", "轮廓"),
}


def header_key(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", unicodedata.normalize("NFKC", str(name))).casefold()


def targets(kind: Kind) -> list[str]:
    names = [f.name for f in FIELDS[kind]]
    return [*names, *LOCATION_ALIASES] if kind in LOCATED else names


def header_names(kind: Kind, mapping: dict[str, str]) -> list[tuple[str, ...]]:
    """The names each column of ``kind`` may go by (columns named by ``--map`` too): what tells
    the header row of a sheet from the title and notes above it."""
    names = [f.aliases for f in FIELDS[kind]]
    if kind in LOCATED:
        names += list(LOCATION_ALIASES.values())
    return [*names, *((column,) for column in mapping.values())]
