"""The field pages' words, Chinese first, English on ``?lang=en``; the ledger's own labels (kinds,
end reasons, enums) come from where they are defined."""

from __future__ import annotations

from gisgrid.core.enums import BuildingUse, Occupancy, ResidenceType, Sex, StaffRole
from gisgrid.ledger.kinds import KINDS

TEXT = {
    "zh": {
        "title": "网格员工作台", "my_grids": "我的网格", "switch": "English", "other": "en",
        "no_grids": "没有分配网格：请管理员在“网格职责”中为你的工作人员记录分配网格。",
        "code": "编码", "name": "名称", "buildings": "楼栋", "households": "户数", "people": "人口", "lead": "网格长",
        "open": "打开", "changes": "本周变更", "report_case": "上报事件", "map": "地图", "list": "楼栋列表", "floors": "层", "entrances": "单元",
        "flats_per_floor": "每层户数", "use": "用途", "address": "地址", "compound": "小区", "lon": "经度", "lat": "纬度",
        "pick_point": "在地图上点选位置，或填写经纬度。", "add_building": "登记新楼栋", "change_building": "修改楼栋",
        "end_building": "注销楼栋", "diagram": "住户状况图", "entrance": "单元", "floor": "楼层", "room": "房号",
        "occupancy": "居住状态", "member_count": "人数", "add_household": "登记新住户", "vacant_hint":
        "点空置的房间，可直接在下方登记住户。", "household": "住户", "residents": "居民", "resident": "居民",
        "change_household": "修改住户", "move_household": "换房（迁往他处）", "end_household": "注销住户（全户迁出等）",
        "to_building": "迁往楼栋", "add_resident": "登记新居民（新生儿、迁入）", "sex": "性别", "birth_year": "出生年份",
        "relation": "与户主关系", "residence_type": "居住类型", "party_member": "党员", "separated": "人户分离",
        "id_number": "身份证号", "phone": "电话", "key_groups": "重点人群", "change_resident": "修改",
        "move_resident": "迁移", "end_resident": "注销（死亡、迁出）", "to_household": "迁入住户",
        "same_building": "本楼住户", "other_household": "或填写住户编号", "add_membership": "加入重点人群",
        "key_group": "类别", "started_on": "开始日期", "end_membership": "结束", "ended_on": "结束日期",
        "end_reason": "结束原因", "reason": "原因（记入历史）", "save": "保存", "saving": "正在保存…", "saved": "已保存",
        "nothing_changed": "没有修改任何字段", "visit": "走访登记", "visit_kind": "类型", "kind_visit": "入户走访",
        "kind_info_check": "信息核查", "note": "情况记录", "visitor": "走访人", "log_visit": "登记走访",
        "visits": "最近走访", "no_visits": "还没有走访记录。", "no_residents": "没有登记居民。", "ended": "已注销",
        "since": "自", "version": "版本", "back_grid": "返回网格", "back_building": "返回楼栋", "back_grids": "我的网格",
        "week": "周", "previous": "上一周", "next": "下一周", "no_changes": "本周没有台帐变更。", "when": "时间",
        "who": "经办", "what": "对象", "operation": "操作", "fields": "变更内容", "op_create": "登记", "op_update": "修改",
        "op_move": "迁移", "op_end": "注销", "stale": "保存前已被他人修改，以下是对方的改动；核对后可再次保存：",
        "retry": "网络中断：请再点一次保存（不会重复登记）。", "required": "必须填写",
        "bad_id": "身份证号校验位不对或格式有误（18 位，末位可为 X）", "bad_phone": "电话应为手机号或带区号的固定电话",
        "reason_short": "请写明原因（至少 2 个字）", "yes": "是", "no": "否", "none": "—", "outside": "楼外",
        "totals": "合计", "vacant": "空置", "persons": "人", "people_here": "本户居民",
    },
    "en": {
        "title": "Grid worker's desk", "my_grids": "My grids", "switch": "中文", "other": "zh",
        "no_grids": "No grid is assigned to you: ask an administrator to assign your staff record to a grid.",
        "code": "Code", "name": "Name", "buildings": "Buildings", "households": "Households", "people": "People",
        "lead": "Grid lead", "open": "Open", "changes": "This week's changes", "report_case": "Report a case", "map": "Map", "list": "Buildings",
        "floors": "floors", "entrances": "Entrances", "flats_per_floor": "Flats per floor", "use": "Use",
        "address": "Address", "compound": "Compound", "lon": "Longitude", "lat": "Latitude",
        "pick_point": "Tap the map to place it, or type the coordinates.", "add_building": "Register a building",
        "change_building": "Change the building", "end_building": "End the building", "diagram": "Household diagram",
        "entrance": "Entrance", "floor": "Floor", "room": "Room", "occupancy": "Occupancy", "member_count": "Members",
        "add_household": "Register a household", "vacant_hint": "Tap a vacant flat to register a household in it below.",
        "household": "Household", "residents": "Residents", "resident": "Resident",
        "change_household": "Change the household", "move_household": "Move to another flat",
        "end_household": "End the household (moved out …)", "to_building": "To building",
        "add_resident": "Register a resident (newborn, moved in)", "sex": "Sex", "birth_year": "Birth year",
        "relation": "Relation to the head", "residence_type": "Residence", "party_member": "Party member",
        "separated": "Lives elsewhere (人户分离)", "id_number": "ID number", "phone": "Phone",
        "key_groups": "Key groups", "change_resident": "Change", "move_resident": "Move",
        "end_resident": "End (deceased, moved out)", "to_household": "To household",
        "same_building": "Households of this building", "other_household": "or a household number",
        "add_membership": "Add a key-group membership", "key_group": "Group", "started_on": "Started on",
        "end_membership": "End", "ended_on": "Ended on", "end_reason": "End reason",
        "reason": "Reason (kept in the history)", "save": "Save", "saving": "Saving…", "saved": "Saved",
        "nothing_changed": "No field was changed", "visit": "Log a visit", "visit_kind": "Kind",
        "kind_visit": "Home visit", "kind_info_check": "Information check", "note": "Notes", "visitor": "Visitor",
        "log_visit": "Log the visit", "visits": "Latest visits", "no_visits": "No visit yet.",
        "no_residents": "No resident registered.", "ended": "ended", "since": "since", "version": "version",
        "back_grid": "Back to the grid", "back_building": "Back to the building", "back_grids": "My grids",
        "week": "Week", "previous": "Previous week", "next": "Next week", "no_changes": "No ledger change this week.",
        "when": "When", "who": "By", "what": "Record", "operation": "Change", "fields": "What changed",
        "op_create": "registered", "op_update": "changed", "op_move": "moved", "op_end": "ended",
        "stale": "Someone changed this before your save; their changes are below. Check them, then save again:",
        "retry": "The connection dropped: press save again (it will not be recorded twice).",
        "required": "required", "bad_id": "The ID number's check digit or format is wrong (18 characters, X last allowed)",
        "bad_phone": "A phone is a mobile number or a fixed line with its area code",
        "reason_short": "Say why (at least 2 characters)", "yes": "yes", "no": "no", "none": "—",
        "outside": "outside the layout", "totals": "Totals", "vacant": "vacant", "persons": " p.",
        "people_here": "People of this household",
    },
}

ENUMS = {"use": BuildingUse, "occupancy": Occupancy, "sex": Sex, "residence_type": ResidenceType, "role": StaffRole}


def choices(lang: str) -> dict[str, list[tuple[str, str]]]:
    """Each enumerated field's (value, label) pairs in the page's language."""
    return {field: [(m.value, m.label_zh if lang == "zh" else m.value.replace("_", " ")) for m in enum]
            for field, enum in ENUMS.items()}


def end_reasons(lang: str) -> dict[str, list[tuple[str, str]]]:
    """Each kind's end reasons, as the ledger defines them, in the page's language."""
    index = 0 if lang == "zh" else 1
    return {name: [(code, labels[index]) for code, labels in kind.end_reasons.items()] for name, kind in KINDS.items()}


def kind_labels(lang: str) -> dict[str, str]:
    index = 0 if lang == "zh" else 1
    return {name: kind.label[index] for name, kind in KINDS.items()}
