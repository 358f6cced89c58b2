"""Scope fails closed: every service that lists or reads persons requires the caller's scope.

A walk over every module of the package: a ``scope`` parameter is a required ``Scope`` (no
default that shows everything); a function whose SQL reads persons takes a scope or a caller,
or reaches its rows through a key the route has already checked against the caller's scope;
the whole-installation scope is used by the command line and no route.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

import gisgrid
from gisgrid.core.scope import WHOLE, Scope

PERSONS = re.compile(r"\b(FROM|JOIN)\s+(residents|households|resident_key_groups|staff|visits|cases|buildings)\b")

# Reached by a key the route resolved in the caller's scope first, or not a reader for a caller.
BY_CHECKED_KEY = {
    # a case number, resolved by the route's scoped_case dependency (404 outside the scope)
    **dict.fromkeys(("gisgrid.cases.workflow." + name for name in (
        "_by_key", "_case_number", "_check_fields", "_locked", "_place", "_staff_exists", "attachment",
        "detail", "escalate_overdue", "rate", "responsible", "public_view", "steps")), "case"),
    "gisgrid.grids.impact._moved_points": "grid",  # an edit preview on grids checked by grid_in_scope
    "gisgrid.maps.boards.grid_svg": "grid",     # a notice board's map, of a grid checked by grid_in_scope
    "gisgrid.auth.service.create_account": "write",       # links an account to its staff record
    "gisgrid.imports.service._check_households": "write",  # an administrator's import
    "gisgrid.imports.service._write": "write",
    "gisgrid.imports.service._check_changes": "write",
    "gisgrid.imports.service.locate_buildings": "write",
    **dict.fromkeys(("gisgrid.imports.residents." + name for name in (
        "_check", "_write", "_update_existing", "_recount")), "write"),
    # a boundary's impact, on the sub-district the route let this administrator replace
    "gisgrid.onboarding.territory._impact": "subdistrict",
    "gisgrid.imports.staff._check_database": "write",  # an administrator's staff import
    # an administrator linking a new account to its staff record, by phone or a grid's lead
    "gisgrid.auth.accounts._staff": "write",
    "gisgrid.auth.accounts._lead": "write",
    # a ledger write's checks on a resident already read in the writer's scope: one open
    # membership per group, one current resident per ID number (answered masked)
    "gisgrid.ledger.service._key_group_open": "write",
    "gisgrid.ledger.service._person": "write",
    # one current person per work phone, checked on a staff write in the writer's scope
    "gisgrid.teams.service._phone_free": "write",
    # a parent grid found by _parents, which applies the caller's scope
    "gisgrid.division.service._buildings": "parent",
    "gisgrid.division.entrances.units": "parent",  # the 单元 of buildings _buildings read under a scoped parent
    # a building just ended in the writer's scope: whether households remain in it
    "gisgrid.ledger.service._empty": "write",
    # the visit an Idempotency-Key logged, answered only when it is this caller's same visit
    "gisgrid.fieldwork.service._logged_before": "write",
}
# Scoped services the walk must find, so that renaming the parameter cannot hide one.
EXPECTED = {
    "gisgrid.registry.service." + n for n in (
        "list_buildings", "list_households", "list_residents", "export_residents", "household_diagram", "reveal")
} | {"gisgrid.grids.service.list_grids", "gisgrid.grids.service.grid_table", "gisgrid.grids.service.buildings_of",
     "gisgrid.grids.history.layer_as_of", "gisgrid.staff.service.list_staff", "gisgrid.territory.service.subdistricts",
     "gisgrid.organisations.service.list_organisations", "gisgrid.maps.boards.diagram",
     "gisgrid.cases.service.CaseFilter", "gisgrid.cases.service.case_in_scope",
     "gisgrid.reports.assessment.assessment"}


def _modules():
    for info in pkgutil.walk_packages(gisgrid.__path__, "gisgrid."):
        if ".demo" not in info.name:
            yield importlib.import_module(info.name)


def _callables():
    """(qualified name, function or dataclass) for everything the package defines at module level."""
    for module in _modules():
        for name, value in vars(module).items():
            if (inspect.isfunction(value) or inspect.isclass(value)) and value.__module__ == module.__name__:
                yield f"{module.__name__}.{name}", value


def test_every_scope_parameter_is_a_required_scope():
    """Any parameter typed ``Scope`` (a route's ``?scope=`` query or coverage's analysed area are
    other things) is required, and every service known to need one has it."""
    found, loose = set(), []
    for name, value in _callables():
        if inspect.isclass(value) and not dataclasses.is_dataclass(value):
            continue
        for parameter in inspect.signature(value, eval_str=True).parameters.values():
            if parameter.annotation is not Scope:
                continue
            found.add(name)
            if parameter.default is not inspect.Parameter.empty:
                loose.append((name, parameter.name, parameter.default))
    assert loose == []
    assert EXPECTED - found == set()


def test_no_default_shows_everything():
    """The old fail-open default, ``("true", {})``, is nowhere a parameter's default any more."""
    open_defaults = [name for name, value in _callables() if inspect.isfunction(value)
                     for p in inspect.signature(value).parameters.values()
                     if isinstance(p.default, tuple) and p.default[:1] == ("true",)]
    assert open_defaults == []


def test_every_function_that_reads_persons_takes_a_scope_or_a_checked_key():
    unscoped = []
    for name, value in _callables():
        if not inspect.isfunction(value) or not PERSONS.search(inspect.getsource(value)):
            continue
        # a ledger Editor carries the writer's scope (a required field)
        if {"scope", "caller", "principal", "filters", "editor"} & set(inspect.signature(value).parameters):
            continue
        if name not in BY_CHECKED_KEY:
            unscoped.append(name)
    assert unscoped == []


def test_every_case_route_resolves_its_number_in_the_callers_scope(engine):
    from fastapi.routing import APIRoute

    from gisgrid.web.app import create_app

    def flat(routes):
        for route in routes:
            inner = getattr(route, "original_router", None)
            yield from flat(inner.routes) if inner is not None else [route]

    def calls(dependant):
        for sub in dependant.dependencies:
            yield getattr(sub.call, "__name__", "")
            yield from calls(sub)

    case_routes = [r for r in flat(create_app(engine).routes) if isinstance(r, APIRoute) and "{case_no}" in r.path]
    assert case_routes
    assert [r.path for r in case_routes if "scoped_case" not in set(calls(r.dependant))] == []


def test_the_whole_installation_is_for_the_command_line_only():
    """No route module builds the whole-installation scope; the home page's signed-out totals
    (counts, no persons) are the one page that does."""
    root = Path(gisgrid.__file__).parent
    users = sorted(str(p.relative_to(root)) for p in root.rglob("*.py")
                   if re.search(r"\bWHOLE\b", p.read_text(encoding="utf-8")) and p.name != "scope.py")
    assert [u for u in users if not u.endswith("commands.py") and u != "web/pages.py"] == []
    assert WHOLE.rows("b") == ("true", {})
    with pytest.raises(TypeError):
        Scope()  # type: ignore[call-arg]  # an empty scope would be no limit at all
    assert Scope("510107001", None, None, None).rows("b")[0] != "true"
