"""The application's own database role: it reads and writes the data, appends to the audit log,
and can do nothing else.

``gisgrid_app`` is made here without a login. The embedded cluster gives it one (a password kept
in its state file, ``Cluster.allow_app_login``); on an external database the operator gives it
one, or grants it to a login role, and names that in ``GISGRID_APP_DATABASE_URL`` (README,
Settings). Migrations, the demo loader and the command line keep the owner.

It gets SELECT, INSERT, UPDATE and DELETE on gisgrid's tables and USAGE on their sequences, but
on ``audit_log`` only SELECT and INSERT, and on ``alembic_version`` only SELECT (``/health``).
It owns nothing and may not create in the schema (PostgreSQL 15 grants CREATE on ``public`` to
nobody), so it can neither UPDATE, DELETE nor TRUNCATE the audit log nor ALTER, DROP or DISABLE
the triggers that refuse those: the database holds the log append-only against any SQL that
reaches it through the app, not only against the app's own code.

What the app does at run time needs nothing more: triggers run as the role whose statement
fires them, and write only tables granted here (``grid_versions``, the loads, ``tile_cache``);
advisory locks, ``set_config`` of ``gisgrid.*`` and ``SET LOCAL statement_timeout`` need no grant.
Tables of later migrations get the same rights by default privileges; one the app must not
change takes them back in its own migration, as this one does for ``audit_log``.

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLE = "gisgrid_app"
READ_ONLY = {"alembic_version": "SELECT", "audit_log": "SELECT, INSERT"}

CREATE = f"""
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{ROLE}') THEN
        CREATE ROLE {ROLE} NOLOGIN;
    END IF;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE EXCEPTION 'role {ROLE} does not exist and % may not create it', current_user
        USING HINT = 'as a superuser: CREATE ROLE {ROLE} LOGIN PASSWORD ''…''; then migrate again';
END $$;
DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{ROLE}'
               AND (rolsuper OR rolbypassrls OR rolcreaterole OR rolcreatedb OR rolreplication))
       OR pg_has_role('{ROLE}', current_user, 'USAGE') THEN
        RAISE EXCEPTION 'role {ROLE} must be an ordinary role, not a superuser nor a member of %', current_user;
    END IF;
END $$;
DO $$ BEGIN
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO {ROLE}', current_database());
END $$;
GRANT USAGE ON SCHEMA public TO {ROLE};
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {ROLE};
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {ROLE};
"""

# gisgrid's tables and sequences: PostGIS's own (spatial_ref_sys) belong to the extension.
OWN = """
SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'S')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                  AND d.deptype = 'e')
ORDER BY c.relname
"""


def upgrade() -> None:
    op.execute(CREATE)
    for name, kind in op.get_bind().execute(text(OWN)).all():
        if kind == "S":
            op.execute(f'GRANT USAGE, SELECT ON SEQUENCE "{name}" TO {ROLE}')
        else:
            op.execute(f'GRANT {READ_ONLY.get(name, "SELECT, INSERT, UPDATE, DELETE")} ON "{name}" TO {ROLE}')


def downgrade() -> None:
    op.execute(f"""
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON SEQUENCES FROM {ROLE};
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM {ROLE};
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {ROLE};
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {ROLE};
REVOKE USAGE ON SCHEMA public FROM {ROLE};
DO $$ BEGIN
    EXECUTE format('REVOKE CONNECT ON DATABASE %I FROM {ROLE}', current_database());
END $$;
DO $$ BEGIN
    DROP ROLE {ROLE};
EXCEPTION WHEN dependent_objects_still_exist THEN
    NULL;  -- still granted rights in another database of the cluster: it stays for that one
END $$;
""")
