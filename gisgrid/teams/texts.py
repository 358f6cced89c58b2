"""The teams and accounts pages' words, Chinese and English."""

from __future__ import annotations

from gisgrid.core.enums import StaffRole

TEXT = {
    "zh": {"teams": "网格团队", "accounts": "账号管理", "switch": "English", "staff": "工作人员",
           "without_lead": "待配网格长的网格", "none_without": "每个网格都有网格长。", "name": "姓名", "phone": "电话",
           "title": "职务", "roles": "现任职责", "no_role": "无现任职责", "assign": "分配职责", "grid": "网格",
           "role": "职责", "person": "人员", "reason": "原因", "save": "保存", "release": "离任", "release_on": "离任日期",
           "new_staff": "登记工作人员", "edit": "修改", "party": "党员", "active": "在岗", "stale": "他人已修改此记录：",
           "saved": "已保存", "history": "历史", "lead": "网格长", "inactive": "已停用", "more": "共 {n} 人，显示前 {m} 人",
           "username": "用户名", "password": "密码", "account_role": "角色", "staff_phone": "工作人员电话",
           "scope": "范围", "status": "状态", "last": "最近登录", "disable": "停用", "enable": "启用",
           "reset": "重设密码", "new_account": "新建账号", "disabled": "已停用", "enabled": "正常", "locked": "已锁定",
           "new_password": "新密码", "community": "社区（一级网格）", "subdistrict": "街道", "left_without": "以下网格现无网格长：",
           "replaced": "原网格长的职责已结束：", "board": "公示牌", "default_reason": "调整网格团队"},
    "en": {"teams": "Grid teams", "accounts": "Accounts", "switch": "中文", "staff": "Staff",
           "without_lead": "Grids needing a lead", "none_without": "Every grid has a lead.", "name": "Name",
           "phone": "Phone", "title": "Post", "roles": "Current roles", "no_role": "no current role",
           "assign": "Assign a role", "grid": "Grid", "role": "Role", "person": "Person", "reason": "Reason",
           "save": "Save", "release": "Release", "release_on": "Leaves on", "new_staff": "Register a person",
           "edit": "Edit", "party": "party member", "active": "on duty", "stale": "Someone else changed this record:",
           "saved": "Saved", "history": "History", "lead": "grid lead", "inactive": "inactive",
           "more": "{n} people, the first {m} shown", "username": "Username", "password": "Password",
           "account_role": "Role", "staff_phone": "Staff phone", "scope": "Scope", "status": "Status",
           "last": "Last sign-in", "disable": "Disable", "enable": "Enable", "reset": "Reset password",
           "new_account": "Create an account", "disabled": "disabled", "enabled": "active", "locked": "locked",
           "new_password": "New password", "community": "Community (L1 grid)", "subdistrict": "Sub-district",
           "left_without": "These grids now have no lead:", "replaced": "The previous lead's role ended:",
           "board": "board", "default_reason": "team change"},
}
ROLE_EN = {r.value: r.value.replace("_", " ") for r in StaffRole}
