"""What an import did: rows read, added, changed (field by field), refused (row, field, reason),
warnings; as text, JSON or a CSV of the refused rows."""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path

from gisgrid.core.errors import InvalidInput

REFUSAL_LABELS = {
    "bad_geometry": "几何错误",
    "outside_subdistrict": "不在街道内",
    "duplicate": "重复",
    "unknown_building": "楼栋不存在",
    "bad_value": "取值错误",
    "missing_value": "缺少必填项",
    "ambiguous": "匹配多条记录",
    "conflict": "与已有数据冲突",
    "living_elsewhere": "已在别户登记",
    "unknown_grid": "网格不存在",
    "one_lead": "一格一长",
    "name_mismatch": "姓名不一致",
}


@dataclass
class Refusal:
    row: int            # as the user sees it: CSV/Excel header = row 1; features from 1
    code: str           # one of REFUSAL_LABELS
    reason: str         # 'Chinese / English'
    field: str | None = None
    value: str | None = None


@dataclass
class Change:
    """One field of one existing record that an update changes (or, in a dry run, would)."""
    row: int
    id: int             # the record's id in its table
    field: str          # the table's column; geom / footprint as WKT
    before: str | None
    after: str | None


@dataclass
class Move:
    """A person an ``--update`` moved to the household its row names (never silently)."""
    row: int
    name: str
    id_number: str | None   # masked
    from_flat: str
    to_flat: str


@dataclass
class ImportReport:
    kind: str
    file: str
    format: str
    crs: str | None
    rows: int = 0
    loaded: int = 0     # records written: added + changed (0 when nothing was written)
    # What the accepted rows add and change — written, or in a dry run / refused strict run, not:
    added: int = 0
    changed: int = 0    # with --update: existing records (by natural key) whose values differed
    unchanged: int = 0  # with --update: existing records already as the row says
    changes: list[Change] = field(default_factory=list)
    moves: list[Move] = field(default_factory=list)  # residents: with --update, people moved to another flat
    households_added: int = 0  # residents: households created for the flats the rows name
    refused: list[Refusal] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    dry_run: bool = False
    strict: bool = False
    update: bool = False
    written: bool = False
    row_numbering: str = ""
    subdistricts: dict[str, int] = field(default_factory=dict)
    membership: dict[str, int] = field(default_factory=dict)
    ids: list[int] = field(default_factory=list)

    @property
    def refused_rows(self) -> int:
        return len({r.row for r in self.refused})

    @property
    def accepted(self) -> int:
        return self.rows - self.refused_rows

    @property
    def ok(self) -> bool:
        return not self.refused

    def by_code(self) -> dict[str, int]:
        counts: dict[str, set[int]] = {}
        for refusal in self.refused:
            counts.setdefault(refusal.code, set()).add(refusal.row)
        return {code: len(rows) for code, rows in counts.items()}

    def to_dict(self) -> dict:
        body = asdict(self)
        body.pop("ids")
        body.update(refused_rows=self.refused_rows, accepted=self.accepted, refusals_by_code=self.by_code())
        return body


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    """Left-justify by display width: a Chinese character takes two columns."""
    return text + " " * max(0, width - _width(text))


def _short(value: str | None, width: int = 40) -> str:
    if value is None:
        return "（空）/ none"
    return value if len(value) <= width else value[:width - 1] + "…"


def format_report(report: ImportReport, limit: int = 50, changes: int = 20) -> str:
    """The report as the CLI prints it: Chinese first, English after a slash."""
    crs = report.crs if report.crs in (None, "WGS84") else f"{report.crs} → WGS84"
    lines = [f"导入 / import {report.kind} ← {report.file} ({', '.join(p for p in (report.format, crs) if p)})"]

    def line(label: str, value: int, indent: int = 2) -> None:
        lines.append(" " * indent + _pad(label, 40 - indent) + f"{value:>8,}")

    line("读取行数 / rows read", report.rows)
    line("接受 / accepted", report.accepted)
    line("拒绝 / refused", report.refused_rows)
    for code, count in report.by_code().items():
        line(f"{REFUSAL_LABELS.get(code, code)} / {code}", count, indent=4)
    line("写入 / loaded", report.loaded)
    planned = report.dry_run or (report.strict and report.refused)  # counted, not written
    line("将新增 / would add" if planned else "新增 / added", report.added, indent=4)
    if report.update:
        line("将修改 / would change" if planned else "修改 / changed", report.changed, indent=4)
        line("未变 / unchanged", report.unchanged, indent=4)
    if report.households_added:
        line("新建住户 / households created", report.households_added)
    if report.moves:
        line("迁移 / moved", len(report.moves))
    shown = {"in_grid": "在网格内 / in a grid", "in_no_grid": "不在任何网格（盲区）/ in no grid",
             "joined_nearest": "就近划入 / joined the nearest grid"}
    for key, count in report.membership.items():
        line(shown.get(key, key), count)
    if report.subdistricts:
        lines.append("  " + _pad("街道 / sub-districts", 38)
                     + ", ".join(f"{c}: {n:,}" for c, n in report.subdistricts.items()))
    if report.dry_run:
        lines.append("试运行：未写入任何数据 / dry run: nothing was written")
    elif report.strict and report.refused:
        lines.append("严格模式：有行被拒绝，未写入任何数据 / --strict: rows were refused, nothing was written")
    if report.changes:
        lines += ["", f"  修改明细 / changes{'' if len(report.changes) <= changes else f' (first {changes})'}:"]
        for c in report.changes[:changes]:
            lines.append(f"  {c.row:>9}  #{c.id} {c.field}: {_short(c.before)} → {_short(c.after)}")
        if len(report.changes) > changes:
            lines.append(f"  … 另有 {len(report.changes) - changes} 处修改，完整列表见 --report FILE.json / "
                         f"{len(report.changes) - changes} more: write them all with --report FILE.json")
    if report.refused:
        lines += ["", f"  {report.row_numbering}",
                  f"  {' ' * (9 - _width('行 / row'))}行 / row  {_pad('字段 / field', 20)}原因 / reason"]
        ordered = sorted(report.refused, key=lambda r: r.row)
        for refusal in ordered[:limit]:
            lines.append(f"  {refusal.row:>9}  {_pad(refusal.field or '', 20)}{refusal.reason}")
        if len(ordered) > limit:
            lines.append(f"  … 另有 {len(ordered) - limit} 条，完整列表见 --report / "
                         f"{len(ordered) - limit} more: write them all with --report FILE")
    if report.moves:
        lines += ["", "  迁移 / moves (from → to):"]
        for move in report.moves[:limit]:
            lines.append(f"  {move.row:>9}  {move.name} {move.id_number or ''}  {move.from_flat} → {move.to_flat}")
        if len(report.moves) > limit:
            lines.append(f"  … 另有 {len(report.moves) - limit} 条，完整列表见 --report / "
                         f"{len(report.moves) - limit} more: write them all with --report FILE")
    if report.warnings:
        lines += ["", "  提示 / warnings:"] + [f"    {w}" for w in report.warnings]
    return "\n".join(lines)


def write_report(report: ImportReport, path: Path) -> None:
    """``.json``: the whole report; ``.csv``: the refused rows (UTF-8 with BOM, Excel reads it)."""
    suffix = path.suffix.lower()
    if suffix == ".json":
        path.write_text(json.dumps(report.to_dict(), ensure_ascii=False, indent=2), encoding="utf-8")
    elif suffix == ".csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["行/row", "类别/code", "字段/field", "值/value", "原因/reason"])
        for r in sorted(report.refused, key=lambda r: r.row):
            writer.writerow([r.row, r.code, r.field or "", r.value or "", r.reason])
        path.write_text(buffer.getvalue(), encoding="utf-8-sig")
    else:
        raise InvalidInput(f"报告文件需为 .json 或 .csv / --report must end in .json or .csv: {path.name}",
                           where="report")
