"""Reading an import file into text cells (plus raw geometries for spatial files).

Spatial files (GeoJSON, GeoPackage, Shapefile, zipped Shapefile) go through pyogrio; CSV and
Excel through pandas. Every cell becomes text or None (empty), so one set of parsers serves all
formats and a room number like "0101" keeps its leading zero. Row numbers are the ones a user
sees: in CSV / Excel the header is row 1 and the first data row is row 2; the features of a
spatial file are numbered from 1 in file order.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gisgrid.core.errors import InvalidInput

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

    @property
    def rows(self) -> int:
        return len(self.row_numbers)

    @property
    def row_word(self) -> tuple[str, str]:
        return ("要素", "feature") if self.spatial else ("行", "row")


def read_table(path: Path, *, layer: str | None = None, sheet: str | None = None,
               encoding: str | None = None) -> Table:
    path = Path(path)
    if not path.exists():
        raise InvalidInput(f"文件不存在 / no such file: {path}", where="file")
    if path.is_dir():
        raise InvalidInput(f"需要文件而不是目录 / {path} is a folder, not a file", where="file")
    suffix = path.suffix.lower()
    if suffix in SPATIAL:
        table = _read_spatial(path, SPATIAL[suffix], layer, encoding)
    elif suffix in (".csv", ".txt", ".tsv"):
        table = _read_csv(path, encoding)
    elif suffix in (".xlsx", ".xlsm"):
        table = _read_excel(path, sheet)
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


# --- tables ----------------------------------------------------------------------------------

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


def _read_csv(path: Path, encoding: str | None) -> Table:
    import pandas as pd

    text, used = _decode(path, encoding)
    first = text.split("\n", 1)[0]
    delimiter = max((",", "\t", ";", "|"), key=first.count)
    try:
        frame = pd.read_csv(io.StringIO(text), sep=delimiter, dtype=str, keep_default_na=False,
                            skip_blank_lines=False, quoting=csv.QUOTE_MINIMAL)
    except pd.errors.EmptyDataError:
        raise InvalidInput(f"文件为空 / {path.name} is empty", where="file") from None
    except pd.errors.ParserError as exc:
        raise InvalidInput(f"CSV 格式错误 / {path.name} is not well-formed CSV: {exc}", where="file") from None
    table = _from_frame(path, "CSV", frame)
    table.encoding = used
    return table


def _read_excel(path: Path, sheet: str | None) -> Table:
    import pandas as pd

    try:
        sheets = pd.ExcelFile(path, engine="openpyxl")
    except Exception as exc:  # zipfile.BadZipFile, openpyxl's own errors …
        raise InvalidInput(f"无法读取 Excel 文件 / cannot read the workbook {path.name}: {exc}",
                           where="file") from None
    warnings = []
    with sheets:
        names = [str(n) for n in sheets.sheet_names]
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
        frame = pd.read_excel(sheets, sheet_name=chosen, dtype=str, keep_default_na=False, na_filter=False)
    table = _from_frame(path, "Excel", frame)
    table.warnings += warnings
    return table


def _from_frame(path: Path, fmt: str, frame) -> Table:
    frame = frame.rename(columns=lambda c: str(c).strip())
    unnamed = [c for c in frame.columns if c.startswith("Unnamed:")]
    cells: dict[str, list[str | None]] = {}
    for column in frame.columns:
        values = [None if v is None or (isinstance(v, float) and math.isnan(v)) or not str(v).strip()
                  else str(v) for v in frame[column].tolist()]
        if column in unnamed and all(v is None for v in values):
            continue
        cells[column] = values
    count = len(frame)
    keep = [i for i in range(count) if any(values[i] is not None for values in cells.values())]
    if len(keep) < count:
        cells = {c: [values[i] for i in keep] for c, values in cells.items()}
    # The header is row 1, so data row i (0-based) is row i + 2.
    return Table(path=path, format=fmt, columns=list(cells), cells=cells,
                 row_numbers=np.asarray(keep, dtype=int) + 2, spatial=False)
