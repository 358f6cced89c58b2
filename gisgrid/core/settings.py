"""Settings from the environment (prefix ``GISGRID_``), one object for the whole process."""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Band(BaseModel):
    """An inclusive range of load a grid of one level is expected to carry."""

    low: int
    high: int

    @model_validator(mode="after")
    def _ordered(self) -> Band:
        if self.low > self.high:
            raise ValueError(f"band low {self.low} is above high {self.high}")
        return self

    def classify(self, value: int) -> str:
        """'under', 'within' or 'over': the edges belong to the band."""
        if value < self.low:
            return "under"
        if value > self.high:
            return "over"
        return "within"


class LevelBands(BaseModel):
    households: Band
    people: Band


def _default_bands() -> dict[int, LevelBands]:
    # L2 comes from the source document (每个网格管理200-300户, 人口1000-1500人左右).
    # L1 (a community zone of ~8-16 grids) and L3 (a building group / courtyard) are local choices.
    return {
        1: LevelBands(households=Band(low=1500, high=4500), people=Band(low=3000, high=15000)),
        2: LevelBands(households=Band(low=200, high=300), people=Band(low=1000, high=1500)),
        3: LevelBands(households=Band(low=30, high=150), people=Band(low=60, high=500)),
    }


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GISGRID_", env_nested_delimiter="__")

    home: Path = Field(default=Path(".gisgrid"), description="data folder of the embedded cluster")
    database_url: str | None = Field(default=None, description="external PostGIS (the owner, for migrations and "
                                     "the command line); embedded if unset")
    app_database_url: str | None = Field(default=None, description="the same database as the application's role "
                                         "(gisgrid_app), which the HTTP app connects as; with an external "
                                         "database and this unset, the app connects as the owner (warned)")
    data_key: str | None = Field(
        default=None,
        description="base64 key(s) for personal data, 'id:key,...' newest first; "
        "generated into the home folder when unset",
    )
    load_bands: dict[int, LevelBands] = Field(default_factory=_default_bands)
    layers_dir: Path = Field(default=Path(__file__).resolve().parents[2] / "layers",
                             description="the folder of declarative layer files")
    tile_cache: bool = Field(default=True, description="keep rendered vector tiles in the database, swept "
                             "exactly by the changes that touch them")
    basemap_url: str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    basemap_attribution: str = "© OpenStreetMap contributors"
    basemap_crs: str = Field(default="WGS84", description="the basemap's coordinate system: WGS84 (OSM, "
                             "天地图) or GCJ-02 / BD-09 (AMap, Tencent, Baidu tiles): overlays are shifted to match")
    language: str = "zh"
    small_count: int = Field(default=5, ge=2, le=100, description="a count of people in a key group under this "
                             "(and above 0) is shown as '<N' to callers without person access: 1 in 250 households names someone")
    board_service_hours: str = Field(default="周一至周五 8:30–12:00，14:00–17:30；节假日值班电话见社区公告",
                                     description="the service hours printed on every grid notice board")
    max_page_size: int = Field(default=5000, description="the most items one page of a list may ask for (limit)")
    max_bbox_degrees: float = Field(default=5.0, description="the widest and tallest bbox a list takes, in degrees "
                                    "(a large city with its counties); leave bbox out to page through everything")
    sliver_tolerance_m2: float = Field(
        default=1.0, description="gaps and overlaps smaller than this are slivers, reported apart"
    )
    max_grid_vertices: int = Field(default=20_000, description="the most vertices a drawn grid may have")
    snap_tolerance_m: float = Field(
        default=1.0,
        description="in 'fit' mode, gaps nowhere wider than this join the grid bordering them most",
    )

    case_deadlines: dict[str, float] = Field(
        default_factory=lambda: {"register": 4.0, "dispatch": 2.0, "handle": 16.0, "close": 8.0},
        description="working hours each case stage may take when its category sets none: register (上报→立案), "
        "dispatch (立案→派遣), handle (派遣→处置完毕), close (处置完毕→结案)")
    work_days: list[int] = Field(default=[0, 1, 2, 3, 4], description="working weekdays, Monday = 0")
    work_hours: list[str] = Field(default=["08:30-12:00", "13:30-17:30"],
                                  description="working periods of a working day, local time")
    holidays: list[date] = Field(default_factory=list, description="dates that are not working days")
    workdays_extra: list[date] = Field(default_factory=list,
                                       description="weekend dates that are working days (调休)")
    timezone: str = Field(default="Asia/Shanghai", description="the local time of deadlines and weekly reports")
    case_sweep_seconds: int = Field(default=300, description="how often the service escalates cases whose "
                                    "handling deadline has passed; 0 turns the sweep off")
    max_attachment_bytes: int = Field(default=10 * 1024 * 1024, description="the largest photo or document")
    assessment_weights: dict[str, float] = Field(
        default_factory=lambda: {"performance": 0.5, "skills": 0.2, "satisfaction": 0.3},
        description="weights of 工作实绩 (performance), 业务技能 (skills) and 群众满意度 (satisfaction)")

    session_hours: float = Field(default=8.0, description="how long a sign-in lasts")
    max_body_bytes: int = Field(default=64 * 1024 * 1024, description="the largest request body (413 above)")
    statement_timeout_ms: int = Field(default=120_000, description="the longest any statement of a request runs")
    public_report_rate: int = Field(default=10, description="reports one address may send through the public "
                                    "form in 10 minutes before it gets 429")
    lockout_attempts: int = Field(default=5, description="failed sign-ins in a row that lock an account")
    lockout_minutes: int = Field(default=15, description="how long a locked account stays locked")
    sign_in_rate: int = Field(default=20, description="failed sign-ins from one address in 5 minutes before "
                              "it gets 429")

    @model_validator(mode="after")
    def _complete_dicts(self):
        """A partial GISGRID_CASE_DEADLINES or GISGRID_ASSESSMENT_WEIGHTS keeps the other defaults;
        an unknown key or a value that is not positive stops the start, naming it."""
        for name, defaults in (("case_deadlines", {"register": 4.0, "dispatch": 2.0, "handle": 16.0, "close": 8.0}),
                               ("assessment_weights", {"performance": 0.5, "skills": 0.2, "satisfaction": 0.3})):
            given = getattr(self, name)
            unknown = set(given) - set(defaults)
            if unknown:
                raise ValueError(f"GISGRID_{name.upper()}: unknown keys {sorted(unknown)}; known: {sorted(defaults)}")
            merged = {**defaults, **given}
            if any(not (value > 0 if name == "case_deadlines" else value >= 0) for value in merged.values()):
                raise ValueError(f"GISGRID_{name.upper()}: values must be positive numbers")
            setattr(self, name, merged)
        return self

    @property
    def home_dir(self) -> Path:
        return self.home.expanduser().resolve()


@lru_cache
def get_settings() -> Settings:
    return Settings()
