"""The demo's accounts, one per role, with the passwords the README lists. Only the demo has
them: a real installation starts with no account and no default password."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.auth.service import create_account
from gisgrid.core.enums import Role

PASSWORDS = {
    "admin": "Jiedao-Demo-2026",
    "shequ": "Pianqu-Demo-2026",
    "wangge": "Xunjian-Demo-2026",
    "viewer": "Chakan-Demo-2026",
    "auditor": "Shenji-Demo-2026",
}


def create_demo_accounts(session: Session, subdistrict: str) -> list[dict]:
    """admin (the sub-district), shequ (its first community), wangge (the lead of that
    community's first grid), viewer and auditor."""
    community = session.execute(text("SELECT code FROM grids WHERE subdistrict_code = :sd AND level = 1 "
                                     "ORDER BY code LIMIT 1"), {"sd": subdistrict}).scalar_one()
    lead = session.execute(text("""SELECT a.staff_id FROM grids g JOIN grid_assignments a ON a.grid_id = g.id
                                   AND a.role = 'grid_lead' WHERE g.parent_code = :c ORDER BY g.code LIMIT 1"""),
                           {"c": community}).scalar_one()
    made = [
        create_account(session, username="admin", display_name="街道管理员（示范）", role=Role.ADMIN,
                       password=PASSWORDS["admin"], subdistrict=subdistrict),
        create_account(session, username="shequ", display_name="社区管理员（示范）", role=Role.COMMUNITY_MANAGER,
                       password=PASSWORDS["shequ"], scope_grid=community),
        create_account(session, username="wangge", display_name="网格员（示范）", role=Role.GRID_WORKER,
                       password=PASSWORDS["wangge"], staff_id=lead, subdistrict=subdistrict),
        create_account(session, username="viewer", display_name="只读用户（示范）", role=Role.VIEWER,
                       password=PASSWORDS["viewer"], subdistrict=subdistrict),
        create_account(session, username="auditor", display_name="审计员（示范）", role=Role.AUDITOR,
                       password=PASSWORDS["auditor"], subdistrict=subdistrict),
    ]
    return made
