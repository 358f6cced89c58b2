"""No mass assignment: a request body may carry only the fields its model declares. Every body
model of every route (and every model nested in one) refuses undeclared fields, read off the
app's routes so a new route cannot slip past; over HTTP an undeclared field is 422 naming it,
at the top of a body and deep inside one."""

from __future__ import annotations

import types
import typing

import pytest
from pydantic import BaseModel

from gisgrid.web.errors import api_routes


def _models(annotation) -> typing.Iterator[type[BaseModel]]:
    """The pydantic models in an annotation: itself, inside list/dict/Optional, and their fields'."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        for field in annotation.model_fields.values():
            yield from _models(field.annotation)
    for argument in typing.get_args(annotation):
        yield from _models(argument)


def test_every_body_model_forbids_undeclared_fields(engine):
    from gisgrid.web.app import create_app

    seen, lax = set(), []
    for route in api_routes(create_app(engine).routes):
        for param in route.dependant.body_params:
            annotation = param.field_info.annotation
            if type(param.field_info).__name__ in ("Form", "File"):
                # a form field is read by its name into one parameter: nothing else is assigned
                assert not list(_models(annotation)), (route.path, param.name)
                continue
            for model in _models(annotation):
                seen.add(model)
                if model.model_config.get("extra") != "forbid":
                    lax.append(f"{route.path}: {model.__module__}.{model.__qualname__}")
    assert lax == []
    names = {model.__name__ for model in seen}
    assert {"SignInBody", "CaseReport", "Location", "SplitPart", "RecordIn", "VisitIn", "RevealBody"} <= names
    assert len(seen) >= 20


def test_a_hand_made_lax_model_would_be_caught():
    class Lax(BaseModel):
        name: str

    class Outer(BaseModel):
        model_config = {"extra": "forbid"}
        items: list[Lax] | None = None

    assert [m.model_config.get("extra") for m in _models(Outer | types.NoneType)] == ["forbid", None]


UNDECLARED = [
    ("POST", "/auth/sign-in", {"username": "tests", "password": "wrong-password", "role": "admin"}, "body.role"),
    ("POST", "/visits", {"staff_id": 1, "note": "走访", "id": 7}, "body.id"),
    ("POST", "/public/cases", {"category": "urban_management", "title": "路灯坏了", "status": "closed",
                               "location": {"lon": 104.04, "lat": 30.64}}, "body.status"),
    ("POST", "/cases", {"category": "urban_management", "title": "路灯坏了", "reporter_name": "王",
                        "location": {"lon": 104.04, "lat": 30.64, "grid_l2_id": 1}}, "body.location.grid_l2_id"),
    ("PUT", "/training/courses/1/records", [{"staff_id": 1, "attended": True, "score": 90, "approved": True}],
     "body.0.approved"),
    ("POST", "/residents/1/reveal", {"field": "phone", "reason": "核实身份", "approved_by": "admin"},
     "body.approved_by"),
    ("POST", "/grids/110101001001001/split", {"reason": "拆分", "parts": [
        {"geometry": {"type": "Polygon", "coordinates": []}, "code": "110101001001009"}]}, "body.parts.0.code"),
]


@pytest.mark.parametrize(("method", "path", "body", "where"), UNDECLARED, ids=[u[3] for u in UNDECLARED])
def test_an_undeclared_field_is_refused_naming_it(scratch_http, method, path, body, where):
    """On the scratch database: a check that failed would write nothing the demo tests read."""
    answer = scratch_http.request(method, path, json=body)
    assert answer.status_code == 422, answer.text
    problems = answer.json()["detail"]["problems"]
    field = where.removeprefix("body.")
    message = f"{field}：不是可填的字段 / {field}: Extra inputs are not permitted"  # Chinese first, as every message
    assert {"where": where, "message": message} in problems, problems
