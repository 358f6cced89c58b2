"""Alembic owns the schema: it builds from empty, tears down to nothing, and matches the models."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from gisgrid.core import migrate
from gisgrid.schema import metadata


@pytest.fixture(scope="module")
def scratch_url(engine):
    """A separate, empty database in the same cluster, so the shared test data is untouched."""
    name = "gisgrid_migrations_test"
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(str(engine.url.render_as_string(hide_password=False))).set(database=name)
    yield url.render_as_string(hide_password=False)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _tables(url: str) -> set[str]:
    scratch = create_engine(url)
    try:
        return set(inspect(scratch).get_table_names()) - {"spatial_ref_sys"}
    finally:
        scratch.dispose()


def test_upgrade_downgrade_upgrade(scratch_url):
    migrate.upgrade(scratch_url)
    assert set(metadata.tables) <= _tables(scratch_url)
    migrate.downgrade(scratch_url, "base")
    assert _tables(scratch_url) == {"alembic_version"}
    migrate.upgrade(scratch_url)
    scratch = create_engine(scratch_url)
    try:
        assert migrate.current_revision(scratch) == migrate.head_revision()
        with scratch.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM case_categories WHERE parent_code IS NULL")).scalar() == 8
    finally:
        scratch.dispose()


def test_models_and_migrations_agree(engine):
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={"include_object": _include, "compare_type": True},
        )
        diff = compare_metadata(context, metadata)
    assert diff == []


def _include(obj, name, type_, reflected, compare_to):
    return not (type_ == "table" and name in {"spatial_ref_sys"})
