"""What a caller may see, as one typed value every reading service requires.

A service that lists or reads what not every caller may see takes a ``scope: Scope`` with no
default, so a route that forgets it fails at once instead of showing everything. Routes pass
the caller's (``Principal.scope``); only the command line (and the signed-out home page's
aggregate totals) pass :data:`WHOLE`. Every field is required, so no scope is built by accident
from nothing (all NULL would be no limit at all).
The conditions are the scope functions of migration 0012; the service names its own table
alias, so no SQL text is rewritten to move a condition onto another alias.
"""

from __future__ import annotations

from dataclasses import dataclass


def rows_condition(alias: str) -> str:
    """A condition on a table carrying ``subdistrict_code``, ``grid_l1_id`` and ``grid_l2_id``."""
    return (f"gisgrid_rows_in_scope({alias}.subdistrict_code, {alias}.grid_l1_id, {alias}.grid_l2_id, "
            "CAST(:scope_sd AS text), CAST(:scope_l1 AS integer), CAST(:scope_grids AS integer[]))")


def code_condition(column: str) -> str:
    """A condition on a grid (or sub-district) code: one above or below the caller's grids."""
    return (f"gisgrid_code_in_scope({column}, CAST(:scope_sd AS text), CAST(:scope_l1_code AS text), "
            "CAST(:scope_codes AS text[]))")


@dataclass(frozen=True)
class Scope:
    """A sub-district (None: every one), a community manager's L1 zone (id, code), a grid
    worker's L2 grids (ids and codes); ``whole`` is the installation, for the command line."""

    subdistrict: str | None
    community: tuple[int, str] | None
    grids: tuple[int, ...] | None
    grid_codes: tuple[str, ...] | None
    whole: bool = False

    def params(self) -> dict:
        """The bound parameters of the scope functions (NULL: no limit at that level)."""
        return {"scope_sd": self.subdistrict, "scope_l1": self.community[0] if self.community else None,
                "scope_l1_code": self.community[1] if self.community else None,
                "scope_grids": None if self.grids is None else list(self.grids),
                "scope_codes": None if self.grid_codes is None else list(self.grid_codes)}

    def rows(self, alias: str) -> tuple[str, dict]:
        """(condition, parameters) on the rows of ``alias`` (buildings, units, shops, cases, visits)."""
        return ("true", {}) if self.whole else (rows_condition(alias), self.params())

    def codes(self, column: str) -> tuple[str, dict]:
        """(condition, parameters) on a grid code ``column`` such as ``g.code``."""
        return ("true", {}) if self.whole else (code_condition(column), self.params())


WHOLE = Scope(None, None, None, None, whole=True)
