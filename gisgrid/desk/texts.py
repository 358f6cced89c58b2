"""The desk pages' words, Chinese first, English on ``?lang=en``; case statuses and categories
keep the names the cases domain gives them."""

from __future__ import annotations

TEXT = {
    "zh": {
        "title": "事件工作台", "switch": "English", "other": "en", "inbox": "事件工作台", "report": "上报事件",
        "overdue_views": "超期督办", "my_grids": "我的网格",
        "saving": "正在提交…", "saved": "已提交", "retry": "网络不稳，请再点一次提交（不会重复）", "required": "必填",
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
