"""Initial schema: territory, grids and history, registry, organisations, staff, cases, audit.

Revision ID: 0001
Revises:
Create Date: 2026-11-26 19:44:26.444110
"""

from collections.abc import Sequence

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


ENUMS = ("case_status", "staff_role", "reporter_kind", "occupancy", "residence_type", "sex", "building_use")


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table('audit_log',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('action', sa.String(length=50), nullable=False),
    sa.Column('object_type', sa.String(length=50), nullable=True),
    sa.Column('object_id', sa.String(length=100), nullable=True),
    sa.Column('client_addr', postgresql.INET(), nullable=True),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('detail', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_audit_log_actor', 'audit_log', ['actor', 'at'], unique=False)
    op.create_index('ix_audit_log_at', 'audit_log', ['at'], unique=False)
    op.create_table('case_categories',
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('parent_code', sa.String(length=40), nullable=True),
    sa.Column('name_zh', sa.String(length=40), nullable=False),
    sa.Column('name_en', sa.String(length=80), nullable=False),
    sa.Column('sort_order', sa.SmallInteger(), nullable=False),
    sa.ForeignKeyConstraint(['parent_code'], ['case_categories.code'], ),
    sa.PrimaryKeyConstraint('code')
    )
    op.create_table('key_groups',
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name_zh', sa.String(length=40), nullable=False),
    sa.Column('name_en', sa.String(length=80), nullable=False),
    sa.Column('sensitive', sa.Boolean(), nullable=False, comment='sensitive personal information under PIPL: counts only on maps'),
    sa.Column('sort_order', sa.SmallInteger(), nullable=False),
    sa.PrimaryKeyConstraint('code')
    )
    op.create_table('staff',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=50), nullable=False),
    sa.Column('sex', sa.Enum('M', 'F', name='sex'), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('title', sa.String(length=100), nullable=True, comment='post or employer'),
    sa.Column('party_member', sa.Boolean(), nullable=False),
    sa.Column('active', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('subdistricts',
    sa.Column('code', sa.String(length=9), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('county', sa.String(length=100), nullable=False),
    sa.Column('city', sa.String(length=100), nullable=False),
    sa.Column('boundary', geoalchemy2.types.Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("code ~ '^[0-9]{9}$'", name='code_is_9_digits'),
    sa.CheckConstraint('ST_IsValid(boundary) AND NOT ST_IsEmpty(boundary)', name='boundary_valid'),
    sa.PrimaryKeyConstraint('code')
    )
    op.create_index('ix_subdistricts_boundary', 'subdistricts', ['boundary'], unique=False, postgresql_using='gist')
    op.create_table('buildings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subdistrict_code', sa.String(length=9), nullable=False),
    sa.Column('compound', sa.String(length=100), nullable=True),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('address', sa.String(length=200), nullable=False),
    sa.Column('floors', sa.SmallInteger(), nullable=False),
    sa.Column('entrances', sa.SmallInteger(), nullable=False, comment='单元 (stairwells) in the building'),
    sa.Column('flats_per_floor', sa.SmallInteger(), nullable=False, comment='户 per 单元 per floor; 0 for buildings without dwellings'),
    sa.Column('use', sa.Enum('residential', 'mixed', 'commercial', 'public', name='building_use'), nullable=False),
    sa.Column('geom', geoalchemy2.types.Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('footprint', geoalchemy2.types.Geometry(geometry_type='POLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry'), nullable=True),
    sa.CheckConstraint('entrances BETWEEN 1 AND 50', name='entrances_range'),
    sa.CheckConstraint('flats_per_floor BETWEEN 0 AND 50', name='flats_per_floor_range'),
    sa.CheckConstraint('floors BETWEEN 1 AND 200', name='floors_range'),
    sa.CheckConstraint('footprint IS NULL OR (ST_IsValid(footprint) AND ST_Covers(footprint, geom))', name='point_on_footprint'),
    sa.ForeignKeyConstraint(['subdistrict_code'], ['subdistricts.code'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('address')
    )
    op.create_index('ix_buildings_footprint', 'buildings', ['footprint'], unique=False, postgresql_using='gist')
    op.create_index('ix_buildings_geom', 'buildings', ['geom'], unique=False, postgresql_using='gist')
    op.create_index('ix_buildings_subdistrict', 'buildings', ['subdistrict_code'], unique=False)
    op.create_table('grids',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subdistrict_code', sa.String(length=9), nullable=False),
    sa.Column('level', sa.SmallInteger(), nullable=False),
    sa.Column('code', sa.String(length=18), nullable=False),
    sa.Column('parent_code', sa.String(length=15), nullable=True),
    sa.Column('serial', sa.SmallInteger(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('geom', geoalchemy2.types.Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("code ~ '^[0-9]+$' AND char_length(code) = 9 + 3 * level", name='code_digits'),
    sa.CheckConstraint('(level = 1) = (parent_code IS NULL)', name='parent_unless_l1'),
    sa.CheckConstraint('ST_IsValid(geom) AND NOT ST_IsEmpty(geom)', name='geom_valid'),
    sa.CheckConstraint('left(code, 9) = subdistrict_code', name='code_in_subdistrict'),
    sa.CheckConstraint('level BETWEEN 1 AND 3', name='level_1_to_3'),
    sa.CheckConstraint('parent_code IS NULL OR (char_length(code) = char_length(parent_code) + 3 AND left(code, char_length(parent_code)) = parent_code)', name='code_extends_parent'),
    sa.CheckConstraint('right(code, 3)::int = serial', name='serial_in_code'),
    sa.CheckConstraint('serial BETWEEN 1 AND 999', name='serial_range'),
    sa.CheckConstraint('version >= 1', name='version_positive'),
    sa.ForeignKeyConstraint(['parent_code'], ['grids.code'], onupdate='CASCADE'),
    sa.ForeignKeyConstraint(['subdistrict_code'], ['subdistricts.code'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    op.create_index('ix_grids_geom', 'grids', ['geom'], unique=False, postgresql_using='gist')
    op.create_index('ix_grids_level', 'grids', ['subdistrict_code', 'level'], unique=False)
    op.create_index('ix_grids_parent_code', 'grids', ['parent_code'], unique=False)
    op.create_table('shops',
    sa.Column('licence_no', sa.String(length=30), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subdistrict_code', sa.String(length=9), nullable=False),
    sa.Column('name', sa.String(length=150), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('address', sa.String(length=200), nullable=False),
    sa.Column('contact_name', sa.String(length=50), nullable=True),
    sa.Column('contact_phone', sa.String(length=20), nullable=True),
    sa.Column('geom', geoalchemy2.types.Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.ForeignKeyConstraint(['subdistrict_code'], ['subdistricts.code'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_shops_geom', 'shops', ['geom'], unique=False, postgresql_using='gist')
    op.create_table('stationed_units',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subdistrict_code', sa.String(length=9), nullable=False),
    sa.Column('name', sa.String(length=150), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('address', sa.String(length=200), nullable=False),
    sa.Column('contact_name', sa.String(length=50), nullable=True),
    sa.Column('contact_phone', sa.String(length=20), nullable=True),
    sa.Column('geom', geoalchemy2.types.Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.ForeignKeyConstraint(['subdistrict_code'], ['subdistricts.code'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_stationed_units_geom', 'stationed_units', ['geom'], unique=False, postgresql_using='gist')
    op.create_table('cases',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('case_no', sa.String(length=30), nullable=False),
    sa.Column('subdistrict_code', sa.String(length=9), nullable=False),
    sa.Column('category_code', sa.String(length=40), nullable=False),
    sa.Column('subtype_code', sa.String(length=40), nullable=True),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('reporter_name', sa.String(length=50), nullable=False),
    sa.Column('reporter_kind', sa.Enum('grid_worker', 'resident', 'integration', name='reporter_kind'), nullable=False),
    sa.Column('reporter_staff_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.Enum('reported', 'registered', 'rejected', 'duplicate', 'dispatched', 'in_progress', 'handled', 'verified', 'closed', name='case_status'), nullable=False),
    sa.Column('geom', geoalchemy2.types.Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('grid_l1_id', sa.Integer(), nullable=True),
    sa.Column('grid_l2_id', sa.Integer(), nullable=True),
    sa.Column('grid_l3_id', sa.Integer(), nullable=True),
    sa.Column('satisfaction', sa.SmallInteger(), nullable=True),
    sa.Column('reported_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('closed_at IS NULL OR closed_at >= reported_at', name='closed_after_reported'),
    sa.CheckConstraint('satisfaction IS NULL OR satisfaction BETWEEN 1 AND 5', name='satisfaction_1_5'),
    sa.ForeignKeyConstraint(['category_code'], ['case_categories.code'], ),
    sa.ForeignKeyConstraint(['grid_l1_id'], ['grids.id'], ),
    sa.ForeignKeyConstraint(['grid_l2_id'], ['grids.id'], ),
    sa.ForeignKeyConstraint(['grid_l3_id'], ['grids.id'], ),
    sa.ForeignKeyConstraint(['reporter_staff_id'], ['staff.id'], ),
    sa.ForeignKeyConstraint(['subdistrict_code'], ['subdistricts.code'], ),
    sa.ForeignKeyConstraint(['subtype_code'], ['case_categories.code'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('case_no')
    )
    op.create_index('ix_cases_geom', 'cases', ['geom'], unique=False, postgresql_using='gist')
    op.create_index('ix_cases_grid_l2', 'cases', ['grid_l2_id'], unique=False)
    op.create_index('ix_cases_reported_at', 'cases', ['reported_at'], unique=False)
    op.create_index('ix_cases_status', 'cases', ['status'], unique=False)
    op.create_table('grid_assignments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('grid_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.Enum('grid_lead', 'full_time_worker', 'part_time_worker', 'assistant', 'information_officer', 'cleaner', 'party_activist', 'community_police', 'building_head', 'volunteer', name='staff_role'), nullable=False),
    sa.ForeignKeyConstraint(['grid_id'], ['grids.id'], ),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('staff_id', 'grid_id', 'role', name='uq_grid_assignments_staff_grid_role')
    )
    op.create_index('ix_grid_assignments_grid', 'grid_assignments', ['grid_id'], unique=False)
    op.create_index('uq_grid_assignments_one_lead', 'grid_assignments', ['grid_id'], unique=True, postgresql_where=sa.text("role = 'grid_lead'"))
    op.create_table('grid_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('grid_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=18), nullable=False),
    sa.Column('parent_code', sa.String(length=15), nullable=True),
    sa.Column('level', sa.SmallInteger(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('geom', geoalchemy2.types.Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('valid_from', sa.DateTime(timezone=True), nullable=False),
    sa.Column('valid_to', sa.DateTime(timezone=True), nullable=True),
    sa.Column('changed_by', sa.String(length=100), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('operation', sa.String(length=30), nullable=False),
    sa.ForeignKeyConstraint(['grid_id'], ['grids.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('grid_id', 'version', name='uq_grid_versions_grid_version')
    )
    op.create_index('ix_grid_versions_geom', 'grid_versions', ['geom'], unique=False, postgresql_using='gist')
    op.create_index('ix_grid_versions_valid', 'grid_versions', ['valid_from', 'valid_to'], unique=False)
    op.create_table('households',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('building_id', sa.Integer(), nullable=False),
    sa.Column('entrance', sa.SmallInteger(), nullable=False, comment='单元'),
    sa.Column('floor', sa.SmallInteger(), nullable=False),
    sa.Column('room', sa.String(length=20), nullable=False),
    sa.Column('occupancy', sa.Enum('owner', 'rented', 'vacant', name='occupancy'), nullable=False),
    sa.Column('member_count', sa.SmallInteger(), nullable=False, comment='people living here; equals the residents registered when they are'),
    sa.CheckConstraint('member_count >= 0', name='member_count_nonnegative'),
    sa.ForeignKeyConstraint(['building_id'], ['buildings.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('building_id', 'entrance', 'floor', 'room', name='uq_households_flat')
    )
    op.create_table('case_events',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('case_id', sa.BigInteger(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('from_status', sa.Enum('reported', 'registered', 'rejected', 'duplicate', 'dispatched', 'in_progress', 'handled', 'verified', 'closed', name='case_status'), nullable=True),
    sa.Column('to_status', sa.Enum('reported', 'registered', 'rejected', 'duplicate', 'dispatched', 'in_progress', 'handled', 'verified', 'closed', name='case_status'), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_case_events_case', 'case_events', ['case_id', 'at'], unique=False)
    op.create_table('residents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('household_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=50), nullable=False),
    sa.Column('sex', sa.Enum('M', 'F', name='sex'), nullable=False),
    sa.Column('birth_year', sa.SmallInteger(), nullable=False),
    sa.Column('relation', sa.String(length=20), nullable=False, comment='与户主关系'),
    sa.Column('residence_type', sa.Enum('registered', 'floating', name='residence_type'), nullable=False),
    sa.Column('party_member', sa.Boolean(), nullable=False),
    sa.Column('id_number_enc', sa.LargeBinary(), nullable=True),
    sa.Column('id_number_masked', sa.String(length=18), nullable=True),
    sa.Column('id_number_index', sa.LargeBinary(), nullable=True),
    sa.Column('phone_enc', sa.LargeBinary(), nullable=True),
    sa.Column('phone_masked', sa.String(length=11), nullable=True),
    sa.Column('phone_index', sa.LargeBinary(), nullable=True),
    sa.CheckConstraint('birth_year BETWEEN 1900 AND 2100', name='birth_year_range'),
    sa.ForeignKeyConstraint(['household_id'], ['households.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_residents_household', 'residents', ['household_id'], unique=False)
    op.create_index('ix_residents_id_number_index', 'residents', ['id_number_index'], unique=False)
    op.create_index('ix_residents_phone_index', 'residents', ['phone_index'], unique=False)
    op.create_table('resident_key_groups',
    sa.Column('resident_id', sa.Integer(), nullable=False),
    sa.Column('key_group', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['key_group'], ['key_groups.code'], ),
    sa.ForeignKeyConstraint(['resident_id'], ['residents.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('resident_id', 'key_group')
    )
    op.create_index('ix_resident_key_groups_group', 'resident_key_groups', ['key_group'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_resident_key_groups_group', table_name='resident_key_groups')
    op.drop_table('resident_key_groups')
    op.drop_index('ix_residents_phone_index', table_name='residents')
    op.drop_index('ix_residents_id_number_index', table_name='residents')
    op.drop_index('ix_residents_household', table_name='residents')
    op.drop_table('residents')
    op.drop_index('ix_case_events_case', table_name='case_events')
    op.drop_table('case_events')
    op.drop_table('households')
    op.drop_index('ix_grid_versions_valid', table_name='grid_versions')
    op.drop_index('ix_grid_versions_geom', table_name='grid_versions', postgresql_using='gist')
    op.drop_table('grid_versions')
    op.drop_index('uq_grid_assignments_one_lead', table_name='grid_assignments', postgresql_where=sa.text("role = 'grid_lead'"))
    op.drop_index('ix_grid_assignments_grid', table_name='grid_assignments')
    op.drop_table('grid_assignments')
    op.drop_index('ix_cases_status', table_name='cases')
    op.drop_index('ix_cases_reported_at', table_name='cases')
    op.drop_index('ix_cases_grid_l2', table_name='cases')
    op.drop_index('ix_cases_geom', table_name='cases', postgresql_using='gist')
    op.drop_table('cases')
    op.drop_index('ix_stationed_units_geom', table_name='stationed_units', postgresql_using='gist')
    op.drop_table('stationed_units')
    op.drop_index('ix_shops_geom', table_name='shops', postgresql_using='gist')
    op.drop_table('shops')
    op.drop_index('ix_grids_parent_code', table_name='grids')
    op.drop_index('ix_grids_level', table_name='grids')
    op.drop_index('ix_grids_geom', table_name='grids', postgresql_using='gist')
    op.drop_table('grids')
    op.drop_index('ix_buildings_subdistrict', table_name='buildings')
    op.drop_index('ix_buildings_geom', table_name='buildings', postgresql_using='gist')
    op.drop_index('ix_buildings_footprint', table_name='buildings', postgresql_using='gist')
    op.drop_table('buildings')
    op.drop_index('ix_subdistricts_boundary', table_name='subdistricts', postgresql_using='gist')
    op.drop_table('subdistricts')
    op.drop_table('staff')
    op.drop_table('key_groups')
    op.drop_table('case_categories')
    op.drop_index('ix_audit_log_at', table_name='audit_log')
    op.drop_index('ix_audit_log_actor', table_name='audit_log')
    op.drop_table('audit_log')
    for name in ENUMS:
        op.execute(f"DROP TYPE IF EXISTS {name}")
