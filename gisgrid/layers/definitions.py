"""Map layers declared in files: one YAML file per layer in ``layers/``, read and checked at start-up.

A layer says what it shows and where from (a table or view with an optional filter, or a SQL
query), which properties it carries, how it is drawn (a base style and colour rules), its popup,
the zoom range and who may see it. The same definition feeds GeoJSON pages, vector tiles and the
folium map pages, so a new layer is a new file. A file that does not hold together is refused
with its name and the field at fault (``layers/grids_l2.yaml: style.rules[0].when.property: …``).

Sources are trusted configuration (they are SQL written by the deployer), never request input;
request values only ever reach them as bound parameters.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from gisgrid.core.errors import SetupError
from gisgrid.core.scope import code_condition, rows_condition
from gisgrid.core.sql import IDENTIFIER

ROLES = ("admin", "community_manager", "grid_worker", "viewer", "auditor", "public")
COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Title(Strict):
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)


class Source(Strict):
    """A table or view (``table`` + optional ``filter``) or a whole ``query``; either way the rows
    have an id column, a geometry column in SRID 4326 and the layer's properties."""

    table: str | None = None
    filter: str | None = None
    query: str | None = None
    id: str = "id"
    geometry: str = "geom"

    @model_validator(mode="after")
    def _one_kind(self) -> Source:
        if (self.table is None) == (self.query is None):
            raise ValueError("give either 'table' or 'query'")
        if self.query is not None and self.filter is not None:
            raise ValueError("'filter' goes with 'table'; put conditions inside the query")
        for name in ("table", "id", "geometry"):
            value = getattr(self, name)
            if value is not None and not IDENTIFIER.match(value):
                raise ValueError(f"{name} must be a plain SQL name, got {value!r}")
        if self.query is not None and ";" in self.query.strip().rstrip(";"):
            raise ValueError("query must be a single statement")
        return self

    def sql(self) -> str:
        """The rows as a sub-query named ``src``."""
        if self.query is not None:
            return f"({self.query.strip().rstrip(';')})"
        where = f" WHERE {self.filter}" if self.filter else ""
        return f"(SELECT * FROM {self.table}{where})"


class Scope(Strict):
    """How the caller's scope (``gisgrid.auth.access``) limits the layer's rows, so a grid worker's
    tiles and pages hold their own grids only: ``rows`` — the source has ``subdistrict_code``,
    ``grid_l1_id`` and ``grid_l2_id``; ``grid`` — a grid (or sub-district) code in ``column``, in
    scope when above or below one of the caller's grids; ``query`` — an aggregating query that
    applies ``gisgrid_rows_in_scope(…, :scope_sd, :scope_l1, :scope_grids)`` itself."""

    by: Literal["rows", "grid", "query"]
    column: str = "code"

    def sql(self, alias: str = "src") -> str:
        if self.by == "rows":
            return rows_condition(alias)
        if self.by == "grid":
            return code_condition(f"{alias}.{self.column}")
        return "true"


class When(Strict):
    property: str
    equals: str | int | float | bool | None = None
    in_: list[str | int | float] | None = Field(None, alias="in")
    below: float | None = None
    above: float | None = None
    missing: bool | None = Field(None, description="true: the property is empty (null)")

    @model_validator(mode="after")
    def _one_test(self) -> When:
        tests = [t for t in ("equals", "in_", "below", "above", "missing") if getattr(self, t) is not None]
        if len(tests) != 1:
            raise ValueError("give exactly one of equals, in, below, above, missing")
        return self

    def matches(self, properties: dict) -> bool:
        value = properties.get(self.property)
        if self.missing is not None:
            return (value is None) == self.missing
        if self.equals is not None:
            return value == self.equals
        if self.in_ is not None:
            return value in self.in_
        if value is None:
            return False
        return value < self.below if self.below is not None else value > self.above


class Paint(Strict):
    color: str | None = None
    fill_color: str | None = None
    weight: float | None = Field(None, ge=0, le=20)
    opacity: float | None = Field(None, ge=0, le=1)
    fill_opacity: float | None = Field(None, ge=0, le=1)
    radius: float | None = Field(None, ge=1, le=50)
    dash_array: str | None = None

    @field_validator("color", "fill_color")
    @classmethod
    def _colour(cls, value: str | None) -> str | None:
        if value is not None and not COLOUR.match(value):
            raise ValueError(f"a colour is written #rrggbb, got {value!r}")
        return value

    def leaflet(self) -> dict:
        """As Leaflet path options (camelCase), leaving out what is not set."""
        names = {"fill_color": "fillColor", "fill_opacity": "fillOpacity", "dash_array": "dashArray"}
        return {names.get(k, k): v for k, v in self.model_dump().items() if v is not None}


class Rule(Paint):
    when: When
    label: Title | None = None


class Style(Paint):
    rules: list[Rule] = Field(default_factory=list)

    def for_feature(self, properties: dict) -> dict:
        """The base style with the first matching rule laid over it."""
        style = Paint.leaflet(self)
        for rule in self.rules:
            if rule.when.matches(properties):
                style.update(Paint.leaflet(rule))
                break
        return style


class Zoom(Strict):
    min: int = Field(0, ge=0, le=24)
    max: int = Field(22, ge=0, le=24)

    @model_validator(mode="after")
    def _ordered(self) -> Zoom:
        if self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class Layer(Strict):
    name: str
    title: Title
    kind: Literal["polygon", "line", "point"]
    source: Source
    scope: Scope
    properties: list[str] = Field(default_factory=list)
    style: Style = Field(default_factory=Style)
    popup: Title | None = None
    zoom: Zoom = Field(default_factory=Zoom)
    visible_to: list[Literal[ROLES]] = Field(default_factory=lambda: list(ROLES))  # type: ignore[valid-type]
    depends_on: list[str] = Field(default_factory=list, description="tables whose changes alter the layer")
    small_counts: list[str] = Field(default_factory=list, description="properties counting people of key groups: "
                                    "shown as '<N' under the small_count setting to callers without person access")
    order: int = 100

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not IDENTIFIER.match(value):
            raise ValueError(f"a layer name is lower-case letters, digits and _, got {value!r}")
        return value

    @field_validator("properties")
    @classmethod
    def _properties(cls, value: list[str]) -> list[str]:
        for name in value:
            if not IDENTIFIER.match(name):
                raise ValueError(f"property {name!r} is not a plain SQL name")
        if len(set(value)) != len(value):
            raise ValueError("a property is listed twice")
        return value

    @model_validator(mode="after")
    def _scope_applied(self) -> Layer:
        if self.scope.by == "query" and ":scope_" not in (self.source.query or ""):
            raise ValueError("scope.by 'query' needs a query that applies :scope_sd, :scope_l1 and :scope_grids")
        if not IDENTIFIER.match(self.scope.column):
            raise ValueError(f"scope.column must be a plain SQL name, got {self.scope.column!r}")
        return self

    @model_validator(mode="after")
    def _small_counts_are_properties(self) -> Layer:
        for name in self.small_counts:
            if name not in self.properties:
                raise ValueError(f"small_counts {name!r} is not one of the layer's properties {self.properties}")
            if any(rule.when.property == name for rule in self.style.rules):
                raise ValueError(f"a style rule may not test {name!r}: callers without person access see it masked")
        return self

    def property_sql(self, name: str, alias: str, masked: bool) -> str:
        """A property's value for the caller: a small count becomes '<N' when ``masked``."""
        column = f"{alias}.{name}"
        if not masked or name not in self.small_counts:
            return column
        return (f"CASE WHEN {column} > 0 AND {column} < CAST(:small_count AS integer) "
                f"THEN '<' || CAST(:small_count AS integer) ELSE CAST({column} AS text) END")

    @model_validator(mode="after")
    def _rules_use_properties(self) -> Layer:
        for i, rule in enumerate(self.style.rules):
            if rule.when.property not in self.properties:
                raise ValueError(f"style.rules[{i}].when.property {rule.when.property!r} is not one of "
                                 f"the layer's properties {self.properties}")
        for lang in ("zh", "en"):
            template = getattr(self.popup, lang) if self.popup else ""
            for used in re.findall(r"{(\w+)}", template):
                if used not in self.properties:
                    raise ValueError(f"popup.{lang} uses {{{used}}}, which is not one of the layer's properties")
        return self

    def popup_html(self, properties: dict, lang: str = "zh") -> str | None:
        if self.popup is None:
            return None
        from html import escape

        template = getattr(self.popup, lang)
        return re.sub(r"{(\w+)}", lambda m: escape(str(properties.get(m.group(1), ""))), template)


def _where(error: dict) -> str:
    return ".".join(str(p) for p in error["loc"] if p not in ("function-after",)) or "(file)"


def read_layer(path: Path) -> Layer:
    """One layer file, or a SetupError naming the file and the field."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise SetupError(f"图层文件 {path.name} 不是有效的 YAML / layer file {path.name} is not valid YAML: {exc}",
                         where=path.name) from None
    if not isinstance(raw, dict):
        raise SetupError(f"图层文件 {path.name} 应为映射 / layer file {path.name} must be a mapping of fields",
                         where=path.name)
    raw.setdefault("name", path.stem)
    try:
        layer = Layer.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise SetupError(f"图层文件 {path.name} 字段 {_where(first)} 有误 / layer file {path.name}, field "
                         f"{_where(first)}: {first['msg']}", where=f"{path.name}:{_where(first)}") from None
    if layer.name != path.stem:
        raise SetupError(f"图层文件 {path.name} 的 name 应与文件名一致 / layer file {path.name}: name "
                         f"{layer.name!r} differs from the file name", where=f"{path.name}:name")
    return layer


def read_layers(folder: Path) -> dict[str, Layer]:
    """Every ``*.yaml`` layer in ``folder``, in display order."""
    if not folder.is_dir():
        raise SetupError(f"图层目录不存在 / the layers folder {folder} does not exist", where="layers_dir")
    layers = [read_layer(path) for path in sorted(folder.glob("*.yaml"))]
    return {layer.name: layer for layer in sorted(layers, key=lambda layer: (layer.order, layer.name))}
