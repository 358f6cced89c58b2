"""Reading an import file into text cells (plus raw geometries for spatial files).

Spatial files (GeoJSON, GeoPackage, Shapefile, zipped Shapefile) go through pyogrio; CSV through
the csv module and Excel through openpyxl. Every cell becomes text or None (empty), so one set of
parsers serves all formats and a room number like "0101" keeps its leading zero. Row numbers are
the ones a user sees: the row Excel shows (header = the row the header is on, usually 1); the
features of a spatial file are numbered from 1 in file order.

Tables as offices keep them: a title, a date line and blank rows above the header (the header is
the row among the first ones that best matches the names the caller expects), merged cells
(filled with their top-left value), totals rows (合计, skipped), formulas (their computed value,
or the file refused when Excel never computed it), and numbers Excel cut to 15 digits (refused:
an ID number stored as a number has lost its last digits).
"""

from __future__ import annotations

import csv
import io
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path

import numpy as np

from gisgrid.core.errors import InvalidInput
from gisgrid.imports.fields import header_key

SPATIAL = {".geojson": "GeoJSON", ".json": "GeoJSON", ".gpkg": "GeoPackage", ".shp": "Shapefile",
           ".zip": "Shapefile (zip)"}
TABULAR = {".csv": "CSV", ".txt": "CSV", ".tsv": "CSV", ".xlsx": "Excel", ".xlsm": "Excel"}


@dataclass
class Table:
    path: Path
    format: str
    columns: list[str]
    cells: dict[str, list[str | None]]
    row_numbers: np.ndarray
    spatial: bool
    wkb: list[bytes | None] | None = None
    declared_crs: str | None = None
    encoding: str | None = None
    warnings: list[str] = field(default_factory=list)
    header_row: int = 1     # the row the header is on, as the user sees it

    @property
    def rows(self) -> int:
        return len(self.row_numbers)

    @property
    def row_word(self) -> tuple[str, str]:
        return ("要素", "feature") if self.spatial else ("行", "row")

    @property
    def row_numbering(self) -> str:
        """How the report's row numbers are to be read, for the person who opens the file."""
        if self.spatial:
            return "要素按文件顺序从 1 编号 / features numbered from 1 in file order"
        h = self.header_row
        return (f"行号与文件一致：表头为第 {h} 行，数据从第 {h + 1} 行起 / rows numbered as in the file: "
                f"the header is row {h}, data from row {h + 1}")


def read_table(path: Path, *, layer: str | None = None, sheet: str | None = None,
               encoding: str | None = None, header_names: Sequence[Sequence[str]] | None = None) -> Table:
    """``header_names``: for each expected column, the names it may go by (the first is shown
    when no header is found). With them the header of a CSV / Excel is searched for; without,
    it is row 1."""
    path = Path(path)
    if not path.exists():
        raise InvalidInput(f"文件不存在 / no such file: {path}", where="file")
    if path.is_dir():
        raise InvalidInput(f"需要文件而不是目录 / {path} is a folder, not a file", where="file")
    suffix = path.suffix.lower()
    if suffix in SPATIAL:
        table = _read_spatial(path, SPATIAL[suffix], layer, encoding)
    elif suffix in (".csv", ".txt", ".tsv"):
        table = _from_grid(path, _read_csv(path, encoding), header_names)
    elif suffix in (".xlsx", ".xlsm"):
        table = _from_grid(path, _read_excel(path, sheet), header_names)
    elif suffix == ".xls":
        raise InvalidInput(
            "不支持旧版 .xls，请另存为 .xlsx / old .xls workbooks are not supported: save as .xlsx",
            where="file",
        )
    else:
        known = ", ".join(sorted({*SPATIAL, *TABULAR}))
        raise InvalidInput(
            f"不支持的文件类型 {suffix or '(无扩展名)'} / unsupported file type {suffix!r}: use {known}",
            where="file",
        )
    if table.rows == 0:
        raise InvalidInput(f"文件没有数据行 / {path.name} has no data rows", where="file")
    return table


# --- spatial files ---------------------------------------------------------------------------

def _read_spatial(path: Path, fmt: str, layer: str | None, encoding: str | None) -> Table:
    import pyogrio
    from pyogrio.errors import DataLayerError, DataSourceError, FieldError, GeometryError

    errors = (DataSourceError, DataLayerError, FieldError, GeometryError, OSError, RuntimeError)
    try:
        layers = pyogrio.list_layers(path)
    except errors as exc:
        raise InvalidInput(f"无法读取文件 / cannot read {path.name}: {exc}", where="file") from None
    names = [str(name) for name, _ in layers]
    if layer is None and len(names) > 1:
        raise InvalidInput(
            f"文件有多个图层，请用 --layer 指定 / {path.name} has several layers, name one with --layer: "
            + ", ".join(names),
            where="layer",
        )
    if layer is not None and layer not in names:
        raise InvalidInput(
            f"图层不存在 / no layer {layer!r} in {path.name}; layers: {', '.join(names)}", where="layer"
        )
    warnings: list[str] = []
    shapefile = fmt.startswith("Shapefile")  # .shp, or zipped as it comes by e-mail
    cpg = _cpg_encoding(path) if shapefile else None
    if encoding is None and shapefile and cpg is None:
        # Without a .cpg GDAL assumes ISO-8859-1, which garbles Chinese attribute tables.
        attempts: list[str | None] = ["UTF-8", "GB18030"]
    else:
        attempts = [encoding]
    for attempt in attempts:
        try:
            meta, _fids, geometry, values = pyogrio.raw.read(path, layer=layer, encoding=attempt)
        except UnicodeDecodeError:
            continue
        except errors as exc:
            raise InvalidInput(f"无法读取文件 / cannot read {path.name}: {exc}", where="file") from None
        if attempt is not None and encoding is None:
            warnings.append(f"Shapefile 缺少 .cpg，按 {attempt} 解码属性表 / no .cpg file: "
                            f"attributes decoded as {attempt}")
        break
    else:
        # Some text is not valid in the encoding (typically a Chinese field name that the
        # Shapefile format cut at 10 bytes, mid-character): read the bytes as they are and
        # decode leniently, dropping the broken characters.
        intended = encoding or cpg or "GB18030"
        try:
            meta, _fids, geometry, values = pyogrio.raw.read(path, layer=layer, encoding="ISO-8859-1")
            "".encode(intended)
        except LookupError:
            raise InvalidInput(f"未知编码 / unknown encoding {intended!r}", where="encoding") from None
        except errors as exc:
            raise InvalidInput(f"无法读取文件 / cannot read {path.name}: {exc}", where="file") from None

        meta["fields"] = [_redecode(str(name), intended, "ignore") for name in meta["fields"]]
        values = [np.array([_redecode(v, intended, "replace") if isinstance(v, str) else v for v in column],
                           dtype=object) if column.dtype == object else column for column in values]
        warnings.append(f"部分文字不是有效的 {intended}，残缺字符已丢弃 / some text is not valid {intended} "
                        "(field names cut at 10 bytes?): broken characters were dropped")
    columns = [str(c) for c in meta["fields"]]
    cells = {name: _as_text(column) for name, column in zip(columns, values, strict=True)}
    count = len(geometry) if geometry is not None else (len(values[0]) if values else 0)
    return Table(path=path, format=fmt, columns=columns, cells=cells,
                 row_numbers=np.arange(1, count + 1), spatial=True,
                 wkb=list(geometry) if geometry is not None else [None] * count,
                 declared_crs=meta.get("crs"), encoding=meta.get("encoding"), warnings=warnings)


def _redecode(text: str, encoding: str, errors: str) -> str:
    """Text read byte for byte as ISO-8859-1 → decoded as ``encoding``."""
    return text.encode("latin-1", errors="replace").decode(encoding, errors=errors)


def _cpg_encoding(path: Path) -> str | None:
    """The encoding a Shapefile's .cpg names (``UTF-8``, ``GBK``, or a code page like ``936``),
    beside the .shp or inside the zip."""
    if path.suffix.lower() == ".zip":
        import zipfile

        try:
            with zipfile.ZipFile(path) as archive:
                members = [m for m in archive.namelist() if m.lower().endswith(".cpg")]
                name = archive.read(members[0]).decode("ascii", errors="ignore").strip() if members else None
        except (zipfile.BadZipFile, OSError):
            return None  # pyogrio says what is wrong with the file
    else:
        found = [cpg for cpg in (path.with_suffix(".cpg"), path.with_suffix(".CPG")) if cpg.exists()]
        name = found[0].read_text(encoding="ascii", errors="ignore").strip() if found else None
    if name and name.isdigit():
        return "UTF-8" if name == "65001" else f"cp{name}"
    return name or None


def _as_text(values) -> list[str | None]:
    out: list[str | None] = []
    for value in values:
        if value is None or value is np.ma.masked:
            out.append(None)
        elif isinstance(value, float | np.floating):
            if math.isnan(value):
                out.append(None)
            elif float(value).is_integer() and abs(value) < 1e15:
                out.append(str(int(value)))
            else:
                out.append(repr(float(value)))
        elif isinstance(value, bytes):
            out.append(value.hex())
        elif isinstance(value, np.datetime64):
            out.append(None if np.isnat(value) else str(value))
        else:
            text = str(value)
            out.append(text if text.strip() else None)
    return out


# --- tables ---

HEADER_SEARCH = 15          # the header is looked for among this many rows at the top
TOTALS = {"合计", "总计", "小计", "共计", "total"}
EXCEL_DIGITS = 1e15          # Excel keeps 15 significant digits: a number this big has lost some
_SCIENTIFIC = re.compile(r"[+-]?\d(?:\.\d+)?[eE]\+?(\d+)")
_WHOLE_WITH_POINT = re.compile(r"-?\d+\.0+")
_MERGE = re.compile(rb'<(?:\w+:)?mergeCell ref="([A-Z]+[0-9]+:[A-Z]+[0-9]+)"')
_FORMULA = re.compile(rb"<(?:\w+:)?f[\s>/]")


@dataclass
class Grid:
    """A sheet as rows of text cells (0-based), with what the reader noticed about its cells."""

    format: str
    rows: list[list[str | None]]
    sheet: str | None = None                               # Excel: names cells as Sheet1!E5
    encoding: str | None = None
    long_numbers: list[tuple[int, int]] = field(default_factory=list)       # (row, column) beyond 15 digits
    formulas: list[tuple[int, int, bool]] = field(default_factory=list)     # (row, column, has a value)
    merged: list[tuple[int, int, int, int]] = field(default_factory=list)   # (row0, col0, row1, col1)
    warnings: list[str] = field(default_factory=list)

    def cell(self, row: int, column: int) -> str:
        from openpyxl.utils import get_column_letter

        ref = f"{get_column_letter(column + 1)}{row + 1}"
        return f"{self.sheet}!{ref}" if self.sheet else ref


def _decode(path: Path, encoding: str | None) -> tuple[str, str]:
    raw = path.read_bytes()
    if encoding is not None:
        try:
            return raw.decode(encoding), encoding
        except LookupError:
            raise InvalidInput(f"未知编码 / unknown encoding {encoding!r}", where="encoding") from None
        except UnicodeDecodeError as exc:
            raise InvalidInput(
                f"文件不是 {encoding} 编码 / {path.name} is not valid {encoding}: byte {exc.start}",
                where="encoding",
            ) from None
    # Chinese government CSVs are often GBK (Excel's default on Chinese Windows): try UTF-8 first.
    for candidate in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(candidate), ("UTF-8" if candidate == "utf-8-sig" else "GB18030")
        except UnicodeDecodeError:
            continue
    raise InvalidInput(
        f"无法识别文件编码，请用 --encoding 指定 / cannot tell the encoding of {path.name}; use --encoding",
        where="encoding",
    )


def _read_csv(path: Path, encoding: str | None) -> Grid:
    text, used = _decode(path, encoding)
    if not text.strip():
        raise InvalidInput(f"文件为空 / {path.name} is empty", where="file")
    # A title line above the header has no delimiters: judge by the top of the file, not line 1.
    top = text.splitlines()[:HEADER_SEARCH]
    delimiter = max((",", "\t", ";", "|"), key=lambda d: sum(line.count(d) for line in top))
    try:
        rows = [[cell if cell.strip() else None for cell in row]
                for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)]
    except csv.Error as exc:
        raise InvalidInput(f"CSV 格式错误 / {path.name} is not well-formed CSV: {exc}", where="file") from None
    grid = Grid("CSV", rows, encoding=used)
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            if cell is not None and (m := _SCIENTIFIC.fullmatch(cell.strip())) and int(m.group(1)) >= 15:
                grid.long_numbers.append((r, c))
    return grid


def _read_excel(path: Path, sheet: str | None) -> Grid:
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # zipfile.BadZipFile, KeyError of a missing part, openpyxl's own errors …
        raise InvalidInput(f"无法读取 Excel 文件 / cannot read the workbook {path.name}: {exc}",
                           where="file") from None
    warnings = []
    try:
        names = [str(n) for n in book.sheetnames]
        if sheet is None:
            chosen = names[0]
            if len(names) > 1:
                warnings.append(f"读取第一个工作表“{chosen}”，可用 --sheet 指定 / read the first sheet "
                                f"{chosen!r} of {len(names)}; choose another with --sheet")
        elif sheet in names:
            chosen = sheet
        else:
            raise InvalidInput(f"工作表不存在 / no sheet {sheet!r} in {path.name}; sheets: {', '.join(names)}",
                               where="sheet")
        worksheet = book[chosen]
        worksheet.reset_dimensions()  # some writers declare a wrong extent: read every row there is
        grid = Grid("Excel", [], sheet=chosen, warnings=warnings)
        for r, values in enumerate(worksheet.iter_rows(values_only=True)):
            grid.rows.append([_excel_text(grid, r, c, v) for c, v in enumerate(values)])
        # A read-only sheet tells neither its merged cells nor which cells are formulas: the
        # sheet's XML part (openpyxl found it through the package's relationships) does.
        xml = book._archive.read(worksheet._worksheet_path)
    except InvalidInput:
        raise
    except Exception as exc:
        raise InvalidInput(f"无法读取 Excel 文件 / cannot read the workbook {path.name}: {exc}",
                           where="file") from None
    finally:
        book.close()
    _merges(grid, xml)
    if _FORMULA.search(xml):
        grid.formulas = _formula_cells(xml)
    return grid


def _excel_text(grid: Grid, r: int, c: int, value) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if abs(value) >= EXCEL_DIGITS:
            grid.long_numbers.append((r, c))
        return str(int(value)) if value.is_integer() and abs(value) < EXCEL_DIGITS else repr(value)
    if isinstance(value, datetime):
        if value.time() == time():
            return value.date().isoformat()  # a date cell: 2024-03-01, not 2024-03-01 00:00:00
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


def _merges(grid: Grid, xml: bytes) -> None:
    """Every cell of a merged range gets the range's top-left value (a building address merged
    down the rows of its flats belongs to each of them)."""
    from openpyxl.utils import range_boundaries

    height = len(grid.rows)
    for ref in _MERGE.findall(xml):
        col0, row0, col1, row1 = range_boundaries(ref.decode())
        if row0 > height:
            continue
        width = max(len(grid.rows[r]) for r in range(row0 - 1, min(row1, height)))
        col1 = min(col1, max(width, col0))
        top = grid.rows[row0 - 1]
        value = top[col0 - 1] if col0 - 1 < len(top) else None
        for r in range(row0 - 1, min(row1, height)):
            row = grid.rows[r]
            row.extend([None] * (col1 - len(row)))
            for c in range(col0 - 1, col1):
                row[c] = value
        grid.merged.append((row0 - 1, col0 - 1, min(row1, height) - 1, col1 - 1))


def _formula_cells(xml: bytes) -> list[tuple[int, int, bool]]:
    """(row, column, has a computed value) of each formula cell. Excel saves a formula's result
    beside it (<v>, empty only for an empty text result, t="str"); a file written by a script
    and never opened in Excel has an empty <v/> or none."""
    from openpyxl.utils import coordinate_to_tuple

    found = []
    for _, element in ET.iterparse(io.BytesIO(xml)):
        tag = element.tag.rsplit("}", 1)[-1]
        if tag == "c":
            children = {child.tag.rsplit("}", 1)[-1]: child for child in element}
            if "f" in children and element.get("r"):
                row, column = coordinate_to_tuple(element.get("r"))
                value = children.get("v")
                computed = value is not None and (bool(value.text) or element.get("t") == "str")
                found.append((row - 1, column - 1, computed))
            element.clear()
        elif tag == "row":
            element.clear()
    return found


def _find_header(grid: Grid, header_names: Sequence[Sequence[str]] | None, name: str) -> int:
    """The row index of the header: the row among the first :data:`HEADER_SEARCH` that names the
    most expected columns (at least 2; the first such row on a tie). When none does, the first
    row that looks like a header (two different names or more) is taken, so the message about a
    missing column can list the file's own columns; a title alone is no header."""
    first = next((i for i, row in enumerate(grid.rows) if any(row)), 0)
    if header_names is None:
        return first
    groups = [{header_key(n) for n in names} for names in header_names]
    best, best_score = 0, 0
    for i, row in enumerate(grid.rows[:HEADER_SEARCH]):
        keys = {header_key(cell) for cell in row if cell}
        score = sum(1 for group in groups if keys & group)
        if score > best_score:
            best, best_score = i, score
    if best_score < 2 and len({cell.strip() for cell in grid.rows[first] if cell}) >= 2:
        return first
    if best_score < 2:
        expected = "、".join(names[0] for names in header_names if names)
        seen = "、".join(dict.fromkeys(c.strip() for c in grid.rows[first] if c)) if grid.rows else ""
        raise InvalidInput(
            f"前 {HEADER_SEARCH} 行中找不到表头 / no header row in the first {HEADER_SEARCH} rows of {name}: "
            f"expected columns such as {expected}; the first non-empty row holds: {seen or '(nothing)'} "
            "(name columns with --map FIELD=COLUMN)", where="header")
    return best


def _column_names(header: list[str | None], width: int) -> list[str]:
    from openpyxl.utils import get_column_letter

    names: list[str] = []
    seen: dict[str, int] = {}
    for c in range(width):
        raw = header[c] if c < len(header) else None
        base = " ".join(str(raw).split()) if raw is not None else ""
        base = base or f"列{get_column_letter(c + 1)}"
        count = seen.get(base, 0)
        seen[base] = count + 1
        names.append(base if count == 0 else f"{base}.{count}")
    return names


def _is_totals(row: list[str | None]) -> bool:
    first = next((cell for cell in row if cell is not None), None)
    return first is not None and re.sub(r"\s+", "", first).rstrip(":：").casefold() in TOTALS


def _from_grid(path: Path, grid: Grid, header_names: Sequence[Sequence[str]] | None) -> Table:
    at = _find_header(grid, header_names, path.name)
    rows = grid.rows
    width = max((len(row) for row in rows[at:]), default=0)
    names = _column_names(rows[at], width)
    warnings = list(grid.warnings)
    if at > 0:
        warnings.append(f"表头在第 {at + 1} 行，已跳过其上 {at} 行（标题、日期等）/ header found on row {at + 1}: "
                        f"the {at} row(s) above it (title, date …) were skipped")
    keep: list[int] = []
    totals: list[int] = []
    for i in range(at + 1, len(rows)):
        row = rows[i]
        if any(cell is not None for cell in row):
            (totals if _is_totals(row) else keep).append(i)
    if totals:
        warnings.append("合计行已跳过 / totals rows (合计) skipped: row " + ", ".join(str(i + 1) for i in totals))
    _refuse_long_numbers(grid, at, names, set(totals))
    _formulas(grid, at, warnings)
    merged = [m for m in grid.merged if m[2] > at]
    if merged:
        from openpyxl.utils import get_column_letter as letter

        shown = [f"{letter(c0 + 1)}{r0 + 1}:{letter(c1 + 1)}{r1 + 1}" for r0, c0, r1, c1 in merged[:5]]
        more = f" … (+{len(merged) - 5})" if len(merged) > 5 else ""
        warnings.append("合并单元格按左上角的值填入每一格 / merged cells: each cell takes the top-left value: "
                        + ", ".join(shown) + more)
    cells: dict[str, list[str | None]] = {}
    for c, name in enumerate(names):
        values = [rows[i][c] if c < len(rows[i]) else None for i in keep]
        if name.startswith("列") and (rows[at][c] if c < len(rows[at]) else None) is None \
                and all(v is None for v in values):
            continue  # an unnamed column with nothing in it (a merged header's tail, a spacer)
        if grid.format == "CSV" and any(values) and all(v is None or _WHOLE_WITH_POINT.fullmatch(v.strip())
                                                         for v in values):
            values = [v if v is None else v.strip().split(".")[0] for v in values]
            warnings.append(f"“{name}”列的整数带 .0（程序导出的数字），已按整数读取 / column {name!r} held whole "
                            "numbers written as 301.0: read as 301")
        cells[name] = values
    return Table(path=path, format=grid.format, columns=list(cells), cells=cells,
                 row_numbers=np.asarray(keep, dtype=int) + 1, spatial=False, encoding=grid.encoding,
                 warnings=warnings, header_row=at + 1)


def _refuse_long_numbers(grid: Grid, at: int, names: list[str], skipped: set[int]) -> None:
    """A number of 16 digits or more (an ID number, a bank card) that Excel stored as a number
    has lost its last digits for good: refuse the file rather than store wrong numbers."""
    by_column: dict[int, list[int]] = {}
    for r, c in grid.long_numbers:
        if r > at and r not in skipped:
            by_column.setdefault(c, []).append(r)
    if not by_column:
        return
    c, found = min(by_column.items())
    cells = ", ".join(grid.cell(r, c) for r in found[:5]) + (f" … (+{len(found) - 5})" if len(found) > 5 else "")
    raise InvalidInput(
        f"“{names[c]}”列以数字保存，超过 15 位的数字已丢失末几位（{cells}）：请把该列设为文本格式后重新填写 / "
        f"column {names[c]!r} was stored as numbers and lost the digits beyond the 15th ({cells}): "
        "format the column as text and enter the numbers again", where=names[c])


def _formulas(grid: Grid, at: int, warnings: list[str]) -> None:
    """A formula's computed value is used (and said so); a formula never computed refuses the file."""
    relevant = [(r, c, has) for r, c, has in grid.formulas if r >= at]
    if not relevant:
        return

    def listed(cells: list[tuple[int, int, bool]]) -> str:
        shown = ", ".join(grid.cell(r, c) for r, c, _ in cells[:5])
        return shown + (f" … (+{len(cells) - 5})" if len(cells) > 5 else "")

    missing = [f for f in relevant if not f[2]]
    if missing:
        raise InvalidInput(
            f"{listed(missing)} 是公式且没有计算结果，请在 Excel 中打开后另存，或粘贴为数值 / {listed(missing)}: "
            f"{len(missing)} formula cell(s) without a computed value: open and save the file in Excel, "
            "or paste the cells as values", where="file")
    warnings.append(f"{len(relevant)} 个单元格是公式，已使用其计算结果 / {len(relevant)} formula cell(s) read "
                    f"as their computed values: {listed(relevant)}")
