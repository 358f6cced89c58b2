"""Enumerations shared by models, API and CLI: stored values in English, labels in Chinese."""

from __future__ import annotations

from enum import Enum, StrEnum

from sqlalchemy import Enum as SAEnum


class Labelled(StrEnum):
    """A str enum whose members carry a Chinese label: ``Member = ("value", "标签")``."""

    def __new__(cls, value: str, label_zh: str):
        member = str.__new__(cls, value)
        member._value_ = value
        member.label_zh = label_zh
        return member


def pg_enum(enum: type[Enum], name: str) -> SAEnum:
    """A native PostgreSQL enum storing the members' values (not their Python names)."""
    return SAEnum(enum, name=name, values_callable=lambda e: [m.value for m in e])


class BuildingUse(Labelled):
    RESIDENTIAL = ("residential", "住宅")
    MIXED = ("mixed", "商住")
    COMMERCIAL = ("commercial", "商业")
    PUBLIC = ("public", "公共")


class Occupancy(Labelled):
    OWNER = ("owner", "自住")
    RENTED = ("rented", "出租")
    VACANT = ("vacant", "空置")


class Sex(Labelled):
    MALE = ("M", "男")
    FEMALE = ("F", "女")


class ResidenceType(Labelled):
    REGISTERED = ("registered", "户籍人口")
    FLOATING = ("floating", "流动人口")
    OVERSEAS = ("overseas", "境外人员")


class StaffRole(Labelled):
    GRID_LEAD = ("grid_lead", "网格长")
    FULL_TIME = ("full_time_worker", "专职网格员")
    PART_TIME = ("part_time_worker", "兼职网格员")
    ASSISTANT = ("assistant", "协管员")
    INFORMATION_OFFICER = ("information_officer", "综合信息员")
    CLEANER = ("cleaner", "保洁员")
    PARTY_ACTIVIST = ("party_activist", "党员骨干")
    COMMUNITY_POLICE = ("community_police", "社区民警")
    BUILDING_HEAD = ("building_head", "楼栋长")
    VOLUNTEER = ("volunteer", "志愿者")


class CaseStatus(Labelled):
    """The closed loop of digital urban management (信息采集 … 综合评价) as states."""

    REPORTED = ("reported", "上报")
    REGISTERED = ("registered", "立案")
    REJECTED = ("rejected", "不予立案")
    DUPLICATE = ("duplicate", "重复")
    DISPATCHED = ("dispatched", "派遣")
    IN_PROGRESS = ("in_progress", "处置中")
    HANDLED = ("handled", "处置完毕")
    VERIFIED = ("verified", "核查")
    CLOSED = ("closed", "结案")


class ReporterKind(Labelled):
    GRID_WORKER = ("grid_worker", "网格员")
    RESIDENT = ("resident", "居民")
    INTEGRATION = ("integration", "系统对接")


class Role(Labelled):
    """What an account may do; where is its scope (sub-district, community, its own grids)."""

    ADMIN = ("admin", "街道管理员")
    COMMUNITY_MANAGER = ("community_manager", "社区管理员")
    GRID_WORKER = ("grid_worker", "网格员")
    VIEWER = ("viewer", "只读用户")
    AUDITOR = ("auditor", "审计员")
