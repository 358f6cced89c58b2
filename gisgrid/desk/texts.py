"""The desk pages' words, Chinese first, English on ``?lang=en``; case statuses and categories
keep the names the cases domain gives them."""

from __future__ import annotations

from gisgrid.core.enums import CaseStatus

TEXT = {
    "zh": {
        "title": "事件工作台", "switch": "English", "other": "en", "inbox": "事件工作台", "report": "上报事件",
        "overdue_views": "超期督办", "my_grids": "我的网格",
        "saving": "正在提交…", "saved": "已提交", "retry": "网络不稳，请再点一次提交（不会重复）", "required": "必填",
        # the inbox (desk-inbox)
        "tab_mine": "待我办理", "tab_grids": "辖区在办", "tab_due_soon": "即将到期", "tab_overdue": "已超期",
        "tab_escalated": "上报给我", "tab_closed": "近30天结案", "tab_all": "全部",
        "tabs_label": "事件分类", "cases_label": "事件列表",
        "step_register": "待立案", "step_dispatch": "待派遣", "step_start": "待开始处置", "step_handle": "处置中，待办结",
        "step_verify": "待核查", "step_close": "待结案（或核查不通过退回）",
        "col_case": "事件编号", "col_title": "事件", "col_grid": "网格", "col_status": "状态", "col_holder": "当前责任人",
        "col_clock": "本环节时限", "col_reported": "上报时间",
        "clock_left": "剩 {h} 工作小时", "clock_over": "超期 {h} 工作小时",
        "clock_ok": "正常", "clock_soon": "已过半", "clock_near": "临期", "clock_none": "无时限",
        "filters": "筛选", "f_category": "类别", "f_grid": "网格", "f_status": "状态", "f_from": "上报日期起",
        "f_to": "上报日期止", "f_any": "不限", "f_open": "未办结", "f_closed": "已办结", "f_apply": "筛选",
        "f_clear": "清除筛选", "f_whole": "（全部小类）",
        "nobody": "未指派", "empty": "这里没有事件", "next_page": "下一页", "first_page": "回到第一页",
        "level_2": "网格", "level_1": "社区", "level_0": "街道领导小组", "shown": "本页 {n} 件",
        "status_names": {s.value: s.label_zh for s in CaseStatus},
        # --- the field report form (/desk/report) ---
        "report_intro": "在现场上报：选类别，写明情况，用本机定位或在地图上标点，拍照后提交。",
        "category": "事件大类", "subtype": "小类", "choose": "请选择", "not_sure": "（不确定）",
        "case_title": "标题", "title_hint": "例如：井盖缺失", "description": "情况描述",
        "place": "位置", "locate": "用本机定位", "locating": "正在定位…",
        "map_hint": "或在地图上点击标点，拖动图钉可调整。", "no_place": "尚未选择位置",
        "from_device": "本机定位（WGS84 坐标，按 WGS84 提交），精度约 {m} 米",
        "from_pin": "地图标点（{crs} 坐标，按 {crs} 提交）",
        "no_geolocation": "无法取得本机定位：请在地图上标点。", "photos": "现场照片",
        "photos_hint": "拍照或从相册选择；上传前在手机上缩小（最长边 {px} 像素）。", "remove": "移除",
        "photo_sent": "已上传", "photo_failed": "此照片未上传：", "too_many": "最多 {n} 张照片",
        "send": "提交上报", "sending_photo": "正在上传照片 {i}/{n}…", "kept": "上报内容已保留，点“提交上报”原样重发。",
        "case_made": "事件已登记，照片尚未全部上传：", "done": "已上报，事件编号：", "open_case": "查看事件",
        "another": "再报一件", "bad_image": "无法读取这张图片",
    },
    "en": {
        "title": "Case desk", "switch": "中文", "other": "zh", "inbox": "Case desk", "report": "Report a case",
        "overdue_views": "Overdue", "my_grids": "My grids",
        "saving": "Sending…", "saved": "Sent", "retry": "The connection dropped: press send again (it will not be sent twice)",
        "required": "required",
        # the inbox (desk-inbox)
        "tab_mine": "Waiting for me", "tab_grids": "Open in my area", "tab_due_soon": "Due soon", "tab_overdue": "Overdue",
        "tab_escalated": "Escalated to me", "tab_closed": "Closed (30 days)", "tab_all": "All",
        "tabs_label": "Case tabs", "cases_label": "Cases",
        "step_register": "To register", "step_dispatch": "To dispatch", "step_start": "To start",
        "step_handle": "Being handled: to finish", "step_verify": "To verify", "step_close": "To close (or send back)",
        "col_case": "Case", "col_title": "What", "col_grid": "Grid", "col_status": "Status", "col_holder": "Held by",
        "col_clock": "Stage deadline", "col_reported": "Reported",
        "clock_left": "{h} working h left", "clock_over": "{h} working h overdue",
        "clock_ok": "on time", "clock_soon": "over half used", "clock_near": "near deadline",
        "clock_none": "no deadline",
        "filters": "Filter", "f_category": "Category", "f_grid": "Grid", "f_status": "Status", "f_from": "Reported from",
        "f_to": "Reported to", "f_any": "Any", "f_open": "Open", "f_closed": "Finished", "f_apply": "Apply",
        "f_clear": "Clear filters", "f_whole": "(every sub-type)",
        "nobody": "not assigned", "empty": "No cases here", "next_page": "Next page", "first_page": "First page",
        "level_2": "grid", "level_1": "community", "level_0": "leading group", "shown": "{n} on this page",
        "status_names": {s.value: s.value.replace("_", " ") for s in CaseStatus},
        # --- the field report form (/desk/report) ---
        "report_intro": "Report from the spot: pick the category, say what is wrong, take the place from the "
                        "device or pin it on the map, add photos and send.",
        "category": "Category", "subtype": "Sub-type", "choose": "Choose…", "not_sure": "(not sure)",
        "case_title": "Title", "title_hint": "e.g. manhole cover missing", "description": "What is wrong",
        "place": "Place", "locate": "Use this device's location", "locating": "Locating…",
        "map_hint": "Or tap the map to drop a pin; drag it to adjust.", "no_place": "No place yet",
        "from_device": "From this device (WGS84, sent as WGS84), accurate to about {m} m",
        "from_pin": "Pinned on the map ({crs}, sent as {crs})",
        "no_geolocation": "This device's location is not available: pin the place on the map.",
        "photos": "Photos", "photos_hint": "Take photos or pick them; they are made smaller on the phone "
                                           "(longest side {px} px) before upload.",
        "remove": "Remove", "photo_sent": "uploaded", "photo_failed": "This photo was not uploaded: ",
        "too_many": "At most {n} photos", "send": "Send report", "sending_photo": "Uploading photo {i} of {n}…",
        "kept": "The report is kept as it was: press “Send report” to send it again.",
        "case_made": "The case is recorded; not every photo is uploaded yet: ", "done": "Reported. Case number:",
        "open_case": "Open the case", "another": "Report another", "bad_image": "This image cannot be read",
    },
}

# --- supervisor views (超期督办) ----------------------------------------------------------------
TEXT["zh"].update({
    "overdue_title": "超期督办", "overdue_total": "超期未办结事件", "overdue_none": "没有超期的事件。",
    "overdue_at": "统计时刻", "by_community": "按社区", "by_grid": "按网格", "by_worker": "按承办人",
    "longest_cases": "超期最久的事件", "community": "社区", "grid": "网格", "worker": "承办人", "cases_n": "件数",
    "longest": "最长超期", "longest_case": "超期最久", "open_list": "查看列表", "all_overdue": "在工作台查看全部超期事件",
    "no_grid": "未入格", "no_holder": "未指派（待立案或待派遣）", "case_no": "事件编号", "status": "状态",
    "category": "类别", "holder": "承办人", "overdue_for": "已超期", "level": "办理层级", "escalations": "上报次数",
    "days": "天", "hours": "小时", "shown_of": "显示超期最久的 {n} 件，共 {total} 件",
    "levels": {0: "街道", 1: "社区", 2: "网格"},
})
TEXT["en"].update({
    "overdue_title": "Overdue cases", "overdue_total": "Open cases past their deadline", "overdue_none": "No case is overdue.",
    "overdue_at": "As of", "by_community": "By community", "by_grid": "By grid", "by_worker": "By holder",
    "longest_cases": "Longest overdue", "community": "Community", "grid": "Grid", "worker": "Holder", "cases_n": "Cases",
    "longest": "Longest overdue", "longest_case": "Longest case", "open_list": "open the list",
    "all_overdue": "Open every overdue case in the desk", "no_grid": "in no grid",
    "no_holder": "nobody yet (to register or dispatch)", "case_no": "Case", "status": "Status", "category": "Category",
    "holder": "Holder", "overdue_for": "Overdue by", "level": "Handled by", "escalations": "Escalations",
    "days": "d", "hours": "h", "shown_of": "the {n} longest overdue of {total}",
    "levels": {0: "sub-district", 1: "community", 2: "grid"},
})

# --- the case page (/desk/cases/{case_no}) -------------------------------------------------------

CASE_TEXT = {
    "zh": {
        "case": "事件", "status": "状态", "category": "类别", "reported": "上报", "reporter": "上报人",
        "address": "地点", "place": "事件位置", "words": "上报内容", "no_words": "（未填写描述）",
        "attachments": "附件", "no_attachments": "暂无附件", "timeline": "办理过程", "holder": "当前责任人",
        "nobody": "尚未派遣", "due": "时限", "overdue": "已超期", "on_time": "按时", "late": "超时",
        "deadline_was": "该环节时限", "by": "经办", "to_holder": "交由", "levels": {"2": "网格", "1": "社区", "0": "街道领导小组"},
        "kinds": {"escalation": "上报上级", "reassignment": "改派"},
        "steps": "办理", "no_steps": "此时没有您可办理的步骤。", "send": "提交", "cancel": "取消",
        "step_names": {
            "register": "立案", "reject": "不予立案", "duplicate": "重复件", "dispatch": "派遣", "start": "开始处置",
            "handled": "处置完毕", "verify_pass": "核查通过", "verify_fail": "核查不通过，退回", "close": "结案",
            "escalate": "上报上级", "reassign": "改派"},
        "fields": {"note": "说明", "duplicate_of": "与哪件重复（事件编号）", "assignee_staff_id": "责任人",
                   "satisfaction": "满意度", "feedback": "群众反馈"},
        "suggested": "建议", "choose": "请选择", "no_rating": "（不填）",
        "scores": {"5": "非常满意", "4": "满意", "3": "基本满意", "2": "不满意", "1": "非常不满意"},
        "goes_to": "将交由", "stale": "他人已办理此事件，页面已更新为最新情况。期间的步骤：",
        "done": "已办理：", "map": "事件位置地图", "track_hint": "居民可凭查询码在 /track 查询进度。",
    },
    "en": {
        "case": "Case", "status": "Status", "category": "Category", "reported": "Reported", "reporter": "Reported by",
        "address": "Place", "place": "Where", "words": "What was reported", "no_words": "(no description)",
        "attachments": "Attachments", "no_attachments": "No attachments yet", "timeline": "Timeline",
        "holder": "Held by", "nobody": "not dispatched yet", "due": "Due", "overdue": "overdue", "on_time": "on time",
        "late": "late", "deadline_was": "stage deadline", "by": "by", "to_holder": "to",
        "levels": {"2": "grid", "1": "community", "0": "the leading group"},
        "kinds": {"escalation": "escalated", "reassignment": "reassigned"},
        "steps": "Take a step", "no_steps": "No step is yours to take now.", "send": "Send", "cancel": "Cancel",
        "step_names": {
            "register": "Register", "reject": "Reject", "duplicate": "Mark duplicate", "dispatch": "Dispatch",
            "start": "Start", "handled": "Handled", "verify_pass": "Check passed",
            "verify_fail": "Check failed: send back", "close": "Close", "escalate": "Escalate",
            "reassign": "Reassign"},
        "fields": {"note": "Note", "duplicate_of": "Original case number", "assignee_staff_id": "Assignee",
                   "satisfaction": "Satisfaction", "feedback": "Reporter's feedback"},
        "suggested": "suggested", "choose": "choose", "no_rating": "(none)",
        "scores": {"5": "very satisfied", "4": "satisfied", "3": "fair", "2": "dissatisfied", "1": "very dissatisfied"},
        "goes_to": "goes to", "stale": "Someone else moved this case meanwhile; the page now shows where it stands. "
        "The steps taken since:",
        "done": "Done:", "map": "Map of the case's place", "track_hint": "The reporter follows it on /track by the tracking code.",
    },
}
CASE_SCRIPT_WORDS = ("stale", "done", "by", "kinds", "step_names", "send")


for _lang, _words in CASE_TEXT.items():
    TEXT[_lang].update(_words)
