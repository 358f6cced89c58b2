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
