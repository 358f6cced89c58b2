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
