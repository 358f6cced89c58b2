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

from gisgrid.core.enums import BuildingUse, Labelled, Occupancy


class Kind(StrEnum):
    BUILDINGS = "buildings"
    UNITS = "units"
    SHOPS = "shops"
    HOUSEHOLDS = "households"


KIND_LABELS = {
    Kind.BUILDINGS: "楼栋",
    Kind.UNITS: "驻区单位",
    Kind.SHOPS: "商铺",
    Kind.HOUSEHOLDS: "住户",
}
TABLES = {
    Kind.BUILDINGS: "buildings",
    Kind.UNITS: "stationed_units",
    Kind.SHOPS: "shops",
    Kind.HOUSEHOLDS: "households",
}


class BadValue(ValueError):
    """A cell that cannot be stored; ``reason`` is 'Chinese / English'."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


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

    return parse


def choice_parser(enum: type[Labelled]) -> Callable[[str], str]:
    lookup: dict[str, str] = {}
    for member in enum:
        lookup[member.value.casefold()] = member.value
        lookup[member.label_zh] = member.value
    allowed = "、".join(f"{m.label_zh}/{m.value}" for m in enum)

    def parse(raw: str) -> str:
        text = clean(raw)
        if text is None:
            raise BadValue("为空 / is empty")
        found = lookup.get(text.casefold()) or lookup.get(text)
        if found is None:
            raise BadValue(f"“{text}”不是可选值 / {text!r} is not one of: {allowed}")
        return found

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

FIELDS: dict[Kind, tuple[Field, ...]] = {
    Kind.BUILDINGS: BUILDING_FIELDS,
    Kind.UNITS: UNIT_FIELDS,
    Kind.SHOPS: SHOP_FIELDS,
    Kind.HOUSEHOLDS: HOUSEHOLD_FIELDS,
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
    return names if kind is Kind.HOUSEHOLDS else [*names, *LOCATION_ALIASES]
