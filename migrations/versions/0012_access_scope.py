"""Who is calling and what they may see, answered inside the database in one round trip.

``gisgrid_principal(token_hash, is_api_key, now)`` turns a session token's or API key's digest into
the caller: account, role and scope (sub-district, a manager's L1 zone, a worker's L2 grids and
their codes) and a ``scope_key`` naming that scope, which keys cached tiles. It touches
``last_seen_at`` / ``last_used_at`` at most once a minute, so a burst of tile requests does not
write (and queue on) the same row each time.

``gisgrid_rows_in_scope`` is the one definition of "this row is in the caller's scope" for tables
carrying ``subdistrict_code``, ``grid_l1_id`` and ``grid_l2_id``; ``gisgrid_code_in_scope`` the
same for a grid code (a grid is in scope when it is above or below one of the caller's). NULL
scope arguments mean "no limit at that level".

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PRINCIPAL = """
CREATE FUNCTION gisgrid_principal(p_hash text, p_api_key boolean, p_now timestamptz)
RETURNS TABLE (account_id integer, username text, role text, subdistrict text, l1_id integer, l1_code text,
               grid_ids integer[], grid_codes text[], scope_key text, staff_id integer)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_account integer;
    v_row integer;
    v_seen timestamptz;
BEGIN
    IF p_api_key THEN
        SELECT k.account_id, k.id, k.last_used_at INTO v_account, v_row, v_seen FROM api_keys k
        WHERE k.key_hash = p_hash AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > p_now);
        IF v_account IS NOT NULL AND (v_seen IS NULL OR v_seen < p_now - interval '1 minute') THEN
            UPDATE api_keys SET last_used_at = p_now WHERE id = v_row;
        END IF;
    ELSE
        SELECT s.account_id, s.id, s.last_seen_at INTO v_account, v_row, v_seen FROM auth_sessions s
        WHERE s.token_hash = p_hash AND s.revoked_at IS NULL AND s.expires_at > p_now;
        IF v_account IS NOT NULL AND (v_seen IS NULL OR v_seen < p_now - interval '1 minute') THEN
            UPDATE auth_sessions SET last_seen_at = p_now WHERE id = v_row;
        END IF;
    END IF;
    IF v_account IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY
    WITH mine AS (
        SELECT DISTINCT l2.id, l2.code::text AS code
        FROM accounts a JOIN grid_assignments ga ON ga.staff_id = a.staff_id
        JOIN grids g ON g.id = ga.grid_id AND g.level IN (2, 3) AND g.retired_at IS NULL
        JOIN grids l2 ON l2.code = CASE WHEN g.level = 2 THEN g.code ELSE g.parent_code END
        WHERE a.id = v_account AND a.role = 'grid_worker'
    ), worker AS (
        SELECT coalesce(array_agg(id ORDER BY id), '{}') AS ids, coalesce(array_agg(code ORDER BY id), '{}') AS codes
        FROM mine
    )
    SELECT a.id, a.username::text, a.role::text, a.subdistrict_code::text, l1.id, l1.code::text,
           CASE WHEN a.role = 'grid_worker' THEN worker.ids END,
           CASE WHEN a.role = 'grid_worker' THEN worker.codes END,
           CASE WHEN a.role = 'grid_worker' THEN 'w:' || array_to_string(worker.ids, ',')
                WHEN a.role = 'community_manager' THEN 'l1:' || l1.id
                WHEN a.subdistrict_code IS NOT NULL THEN 'sd:' || a.subdistrict_code
                ELSE 'all' END,
           a.staff_id
    FROM accounts a CROSS JOIN worker
    LEFT JOIN grids l1 ON l1.id = a.scope_grid_id AND a.role = 'community_manager'
    WHERE a.id = v_account AND a.active;
END
$$;
"""

ROWS_IN_SCOPE = """
CREATE FUNCTION gisgrid_rows_in_scope(p_subdistrict text, p_l1 integer, p_l2 integer,
                                      scope_sd text, scope_l1 integer, scope_grids integer[])
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT (scope_sd IS NULL OR p_subdistrict = scope_sd)
       AND (scope_l1 IS NULL OR p_l1 = scope_l1)
       AND (scope_grids IS NULL OR p_l2 = ANY(scope_grids))
$$;
"""

CODE_IN_SCOPE = """
CREATE FUNCTION gisgrid_code_in_scope(p_code text, scope_sd text, scope_l1_code text, scope_codes text[])
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT (scope_sd IS NULL OR starts_with(p_code, scope_sd))
       AND (scope_l1_code IS NULL OR starts_with(p_code, scope_l1_code) OR starts_with(scope_l1_code, p_code))
       AND (scope_codes IS NULL OR EXISTS (
            SELECT 1 FROM unnest(scope_codes) AS m(code) WHERE starts_with(p_code, m.code) OR starts_with(m.code, p_code)))
$$;
"""


def upgrade() -> None:
    op.execute(PRINCIPAL)
    op.execute(ROWS_IN_SCOPE)
    op.execute(CODE_IN_SCOPE)


def downgrade() -> None:
    op.execute("DROP FUNCTION gisgrid_code_in_scope(text, text, text, text[])")
    op.execute("DROP FUNCTION gisgrid_rows_in_scope(text, integer, integer, text, integer, integer[])")
    op.execute("DROP FUNCTION gisgrid_principal(text, boolean, timestamptz)")
