"""Reference data: key groups (重点人群) and the eight information categories with sub-types.

Frozen here as literals: later changes to these lists are migrations of their own.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# code, 中文, English, sensitive personal information (PIPL art. 28)
KEY_GROUPS = [
    ("empty_nest_elderly", "空巢老人", "Empty-nest elderly", False),
    ("elderly_living_alone", "独居老人", "Elderly living alone", False),
    ("disabled", "残疾人", "Person with disability", True),
    ("subsistence_allowance", "低保家庭", "Subsistence-allowance household", True),
    ("unemployed_4050", "4050人员", "Unemployed aged 40/50+", False),
    ("released_prisoner", "刑释解教人员", "Released from prison or re-education", True),
    ("community_corrections", "社区矫正对象", "Under community corrections", True),
    ("left_behind_child", "留守儿童", "Left-behind child", True),
    ("entitled_group", "优抚对象", "Entitled group (veterans, martyrs' families)", False),
]

# The eight information categories of the source document (8大类信息), each with sub-types;
# 城市管理's sub-types are the event classes of digital urban management.
CATEGORIES = [
    ("livelihood", "民生保障", "Livelihood and social security", [
        ("employment", "就业服务", "Employment services"),
        ("social_assistance", "社会救助", "Social assistance"),
        ("elderly_care", "养老服务", "Elderly care"),
        ("health", "医疗卫生", "Health care"),
        ("education", "教育服务", "Education"),
        ("housing", "住房保障", "Housing security"),
    ]),
    ("urban_management", "城市管理", "Urban management", [
        ("city_appearance", "市容环境", "City appearance and environment"),
        ("advertising", "宣传广告", "Publicity and advertising"),
        ("construction", "施工管理", "Construction management"),
        ("street_order", "街面秩序", "Street order"),
        ("emergency", "突发事件", "Emergencies"),
        ("other", "其他", "Other"),
    ]),
    ("public_safety", "公共安全", "Public safety", [
        ("fire_safety", "消防安全", "Fire safety"),
        ("work_safety", "安全生产", "Work safety"),
        ("food_drug_safety", "食品药品安全", "Food and drug safety"),
        ("traffic_safety", "交通安全", "Traffic safety"),
        ("gas_safety", "燃气安全", "Gas safety"),
    ]),
    ("peace_rule_of_law", "平安法治", "Public order and rule of law", [
        ("public_order", "治安隐患", "Public order hazards"),
        ("dispute", "矛盾纠纷", "Disputes"),
        ("legal_service", "法律服务", "Legal services"),
        ("drug_control", "禁毒", "Drug control"),
    ]),
    ("population", "人口和特殊人群管理", "Population and special groups", [
        ("floating_population", "流动人口", "Floating population"),
        ("rental_housing", "出租房屋", "Rental housing"),
        ("special_groups", "特殊人群", "Special groups"),
        ("family_planning", "计划生育", "Family planning"),
    ]),
    ("party_building", "区域党建", "Party building in the area", [
        ("party_members", "党员管理", "Party member management"),
        ("party_activities", "组织生活", "Party organisation activities"),
        ("party_services", "党群服务", "Party and mass services"),
    ]),
    ("civilisation", "文明创建", "Civilised community building", [
        ("civic_publicity", "文明宣传", "Civic publicity"),
        ("volunteer_service", "志愿服务", "Volunteer services"),
        ("sanitation", "环境卫生", "Environmental sanitation"),
    ]),
    ("stability", "综治维稳", "Comprehensive governance and stability", [
        ("petition", "信访", "Petitions"),
        ("instability", "不稳定因素", "Sources of instability"),
        ("mass_incident", "群体性事件", "Mass incidents"),
    ]),
]


def upgrade() -> None:
    key_groups = sa.table(
        "key_groups", sa.column("code"), sa.column("name_zh"), sa.column("name_en"),
        sa.column("sensitive"), sa.column("sort_order"),
    )
    op.bulk_insert(key_groups, [
        {"code": c, "name_zh": zh, "name_en": en, "sensitive": s, "sort_order": i}
        for i, (c, zh, en, s) in enumerate(KEY_GROUPS, 1)
    ])
    categories = sa.table(
        "case_categories", sa.column("code"), sa.column("parent_code"), sa.column("name_zh"),
        sa.column("name_en"), sa.column("sort_order"),
    )
    rows = []
    for i, (code, zh, en, subtypes) in enumerate(CATEGORIES, 1):
        rows.append({"code": code, "parent_code": None, "name_zh": zh, "name_en": en, "sort_order": i})
        rows += [
            {"code": f"{code}.{sub}", "parent_code": code, "name_zh": szh, "name_en": sen,
             "sort_order": j}
            for j, (sub, szh, sen) in enumerate(subtypes, 1)
        ]
    op.bulk_insert(categories, rows)


def downgrade() -> None:
    # Rows still referenced by data stay; the tables themselves go with revision 0001.
    op.execute("""DELETE FROM case_categories c WHERE parent_code IS NOT NULL AND NOT EXISTS
                  (SELECT 1 FROM cases WHERE c.code IN (category_code, subtype_code))""")
    op.execute("""DELETE FROM case_categories c WHERE NOT EXISTS
                  (SELECT 1 FROM case_categories s WHERE s.parent_code = c.code) AND NOT EXISTS
                  (SELECT 1 FROM cases WHERE c.code IN (category_code, subtype_code))""")
    op.execute("""DELETE FROM key_groups k WHERE NOT EXISTS
                  (SELECT 1 FROM resident_key_groups r WHERE r.key_group = k.code)""")
