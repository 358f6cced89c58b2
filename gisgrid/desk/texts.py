"""The desk pages' words, Chinese first, English on ``?lang=en``; case statuses and categories
keep the names the cases domain gives them."""

from __future__ import annotations

TEXT = {
    "zh": {
        "title": "事件工作台", "switch": "English", "other": "en", "inbox": "事件工作台", "report": "上报事件",
        "overdue_views": "超期督办", "my_grids": "我的网格",
        "saving": "正在提交…", "saved": "已提交", "retry": "网络不稳，请再点一次提交（不会重复）", "required": "必填",
    },
    "en": {
        "title": "Case desk", "switch": "中文", "other": "zh", "inbox": "Case desk", "report": "Report a case",
        "overdue_views": "Overdue", "my_grids": "My grids",
        "saving": "Sending…", "saved": "Sent", "retry": "The connection dropped: press send again (it will not be sent twice)",
        "required": "required",
    },
}


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
