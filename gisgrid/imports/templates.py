"""Excel templates, one per import kind (``gisgrid template KIND``; ``GET /templates/{kind}``).

A template is what an office fills in and gives back to the importer: sheet one has the Chinese
headers the importer recognises (bold, frozen) and a filled example row; sheet two, "说明 /
columns", says for each column whether it is required, its allowed values, its format and an
example, and how the coordinates and their CRS are given. Columns where leading zeros or long
digits matter (ID number, phone, room, codes) are formatted as text, so Excel does not turn
"0302" into 302 or an ID number into 1.10101E+17. The descriptions come from the fields'
parsers, so a template and the importer cannot disagree.
"""

from __future__ import annotations

import io
from pathlib import Path

import typer

from gisgrid.imports.fields import FIELDS, KIND_LABELS, LOCATED, Field, Kind

# Leading zeros or more than 15 digits: Excel must keep these as typed.
TEXT_COLUMNS = {"id_number", "phone", "contact_phone", "room", "grid_code", "licence_no"}

LON, LAT = 116.4074, 39.9042
EXAMPLES: dict[Kind, dict[str, object]] = {
    Kind.BUILDINGS: {"address": "幸福路12号", "name": "12号楼", "compound": "幸福小区", "floors": 6, "entrances": 2,
                     "flats_per_floor": 2, "use": "住宅", "lon": LON, "lat": LAT},
    Kind.UNITS: {"name": "幸福街道社区卫生服务中心", "address": "幸福路20号", "kind": "医疗卫生",
                 "contact_name": "王丽", "contact_phone": "010-64001234", "lon": LON + 0.001, "lat": LAT},
    Kind.SHOPS: {"name": "幸福便民超市", "address": "幸福路8号", "kind": "零售", "contact_name": "李强",
                 "contact_phone": "13912345678", "licence_no": "91110101MA01ABCD2X", "lon": LON, "lat": LAT + 0.001},
    Kind.HOUSEHOLDS: {"building_address": "幸福路12号", "entrance": 1, "floor": 3, "room": "0302",
                      "occupancy": "自住", "member_count": 3},
    Kind.RESIDENTS: {"name": "张伟", "sex": "男", "id_number": "110101199003071233", "birth_year": 1990,
                     "phone": "13912345678", "building_address": "幸福路12号", "entrance": 1, "floor": 3,
                     "room": "0302", "relation": "户主", "residence_type": "户籍人口", "party_member": "是"},
    Kind.STAFF: {"name": "刘芳", "phone": "13812345678", "role": "专职网格员", "grid_code": "110101001001001",
                 "sex": "女", "title": "幸福社区居委会", "party_member": "否"},
}

# What a parser's rule cannot say.
NOTES = {
    "id_number": "18 位公民身份号码，末位为校验码（GB 11643），X 大写 / the 18-character ID number with its "
                 "check digit (GB 11643)",
    "phone": "11 位手机号，或带区号的固定电话 / an 11-digit mobile, or a fixed line with its area code",
    "contact_phone": "手机或带区号的固定电话 / a mobile or a fixed line with its area code",
    "room": "文本，保留前导零 / text: leading zeros are kept",
    "grid_code": "二级网格 15 位或三级网格 18 位编码 / the code of an L2 (15 digits) or L3 (18 digits) grid",
    "key_groups": "重点人群名称，多个用“、”分隔，如 空巢老人、低保家庭 / key-group names separated by 、",
    "building_id": "系统中的楼栋编号，可代替楼栋地址 / the building's id in gisgrid, instead of its address",
}
LOCATION = [
    ("经度", "lon", "十进制度数，如 116.4074 / decimal degrees"),
    ("纬度", "lat", "十进制度数，如 39.9042 / decimal degrees"),
]
CRS_NOTE = ("坐标系：经度、纬度所用的坐标系在导入时指明：--crs WGS84 或 CGCS2000（GPS、天地图）、GCJ-02（高德、"
            "腾讯地图）、BD-09（百度地图）或 EPSG:xxxx；网页导入用表单字段 crs。也可用一列 WKT 几何代替经纬度 / "
            "the CRS of 经度/纬度 is named on import: --crs WGS84 | CGCS2000 (GPS, Tianditu) | GCJ-02 (AMap, "
            "Tencent) | BD-09 (Baidu) | EPSG:xxxx (the crs form field over HTTP); a WKT column may replace them")
KIND_NOTES = {
    Kind.HOUSEHOLDS: ["楼栋地址或楼栋编号填一项；楼栋须已导入 / give the building's address or its id: the "
                      "building must be imported first"],
    Kind.RESIDENTS: ["住处写在“地址”一列（如 幸福路12号1单元3层0302），或分写在 楼栋地址、单元、楼层、房号 四列 / "
                     "the home in one 地址 text, or in the four columns 楼栋地址, 单元, 楼层, 房号",
                     "性别、出生年份未填时按公民身份号码推出 / sex and birth year, when empty, come from the ID "
                     "number"],
    Kind.STAFF: ["每个分工一行：一人负责几个网格或兼几个角色时写几行，电话相同；每个网格只有一名网格长 / one row "
                 "per assignment, the same phone on each row of one person; one grid lead per grid"],
}


def columns(kind: Kind) -> list[tuple[str, str]]:
    """(header, field) of the template's columns, in order."""
    out = [(f.label_zh, f.name) for f in FIELDS[kind]]
    if kind in LOCATED:
        out += [(header, name) for header, name, _ in LOCATION]
    return out


def _allowed(f: Field) -> str:
    enum = getattr(f.parse, "choices", None)
    if enum is not None:
        return "、".join(m.label_zh for m in enum) + " / " + ", ".join(m.value for m in enum)
    return "是、否 / yes, no" if f.parse.__name__ == "yes_no" else ""


def _shown(f: Field, value) -> str:
    enum = getattr(f.parse, "choices", None)
    return next((m.label_zh for m in enum if m.value == value), str(value)) if enum is not None else str(value)


def _required(f: Field) -> str:
    if f.required:
        return "必填 / required"
    if f.default is not None and f.default is not False:
        return f"选填，缺省为 {_shown(f, f.default)} / optional, default {f.default}"
    return "选填 / optional"


def description(kind: Kind) -> list[list[str]]:
    """The rows of the 说明 sheet's column table: name, field, required, allowed values, format, example."""
    example = EXAMPLES[kind]
    rows = []
    for f in FIELDS[kind]:
        rule = getattr(f.parse, "rule", "")
        note = NOTES.get(f.name)
        rows.append([f.label_zh, f.name, _required(f), _allowed(f), "；".join(p for p in (note, rule) if p),
                     "" if example.get(f.name) is None else str(example[f.name])])
    if kind in LOCATED:
        rows += [[header, name, "必填（或 WKT 列）/ required (or a WKT column)", "", rule, str(example[name])]
                 for header, name, rule in LOCATION]
    return rows


def template_bytes(kind: Kind | str) -> bytes:
    """The template workbook of ``kind`` as .xlsx bytes."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    from gisgrid.core.tables import FILL, HEADER

    kind = Kind(kind)
    book = Workbook()
    sheet = book.active
    sheet.title = KIND_LABELS[kind]
    fields = {f.name: f for f in FIELDS[kind]}
    example = EXAMPLES[kind]
    for index, (header, name) in enumerate(columns(kind), 1):
        letter = get_column_letter(index)
        head = sheet.cell(row=1, column=index, value=header)
        head.font, head.fill = HEADER, FILL
        value = example.get(name)
        cell = sheet.cell(row=2, column=index, value=str(value) if name in TEXT_COLUMNS and value else value)
        cell.font = Font(italic=True, color="808080")
        if name in TEXT_COLUMNS:
            sheet.column_dimensions[letter].number_format = "@"
            cell.number_format = "@"
        sheet.column_dimensions[letter].width = min(24, max(10, 2 * len(header) + 4, len(str(value or "")) + 4))
        f = fields.get(name)
        choices = [m.label_zh for m in getattr(f.parse, "choices", ())] if f is not None else []
        if f is not None and f.parse.__name__ == "yes_no":
            choices = ["是", "否"]
        if choices:  # a drop-down; English values are accepted too, so a warning rather than a stop
            check = DataValidation(type="list", formula1='"' + ",".join(choices) + '"', allow_blank=True,
                                   errorStyle="warning", showErrorMessage=True, error="请从列表中选择 / choose from the list")
            check.add(f"{letter}2:{letter}5000")
            sheet.add_data_validation(check)
    sheet.freeze_panes = "A2"

    notes = book.create_sheet("说明 columns")
    notes.append([f"{KIND_LABELS[kind]}导入模板 / {kind.value} import template"])
    notes["A1"].font = Font(bold=True, size=13)
    notes.append([])
    notes.append(["列名 / column", "字段 / field", "必填 / required", "可选值 / allowed values", "格式 / format",
                  "示例 / example"])
    for cell in notes[3]:
        cell.font, cell.fill = HEADER, FILL
    for row in description(kind):
        notes.append(row)
    notes.append([])
    general = [
        f"第 2 行是示例，导入前请改写或删除 / row 2 of sheet {KIND_LABELS[kind]} is an example: overwrite or "
        "delete it before importing",
        "表头请勿改名；表头上方可以有标题、日期等行 / keep the header names; a title or date line above the "
        "header is fine",
        f"导入 / import: gisgrid import {kind.value} 文件.xlsx" + (" --crs WGS84" if kind in LOCATED else ""),
        *([CRS_NOTE] if kind in LOCATED else []),
        *KIND_NOTES.get(kind, []),
    ]
    for line in general:
        notes.append([line])
    for letter, width in zip("ABCDEF", (14, 18, 28, 36, 60, 22), strict=True):
        notes.column_dimensions[letter].width = width
    for row in notes.iter_rows(min_row=4):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def file_name(kind: Kind | str) -> str:
    return f"template-{Kind(kind).value}.xlsx"


def template_command(
    kind: Kind = typer.Argument(..., help="buildings 楼栋 | units 驻区单位 | shops 商铺 | households 住户 | "
                                "residents 居民 | staff 工作人员"),
    out: Path | None = typer.Option(None, "--out", help="输出文件 / the .xlsx to write (default: "
                                    "template-KIND.xlsx here); an existing file is not overwritten"),
) -> None:
    """导入模板：表头、示例行和列说明 / write the Excel import template of KIND."""
    from gisgrid.core.commandline import fail
    from gisgrid.core.errors import InvalidInput

    target = out or Path(file_name(kind))
    try:
        if target.suffix.lower() != ".xlsx":
            raise InvalidInput(f"模板文件需为 .xlsx / --out must end in .xlsx: {target.name}", where="out")
        if target.exists():
            raise InvalidInput(f"文件已存在，未覆盖 / {target} exists: it was not overwritten (choose another "
                               "--out or move it away)", where="out")
        try:
            target.write_bytes(template_bytes(kind))
        except OSError as exc:
            raise InvalidInput(f"无法写入 / cannot write {target}: {exc.strerror}", where="out") from None
    except InvalidInput as exc:
        fail(exc)
    typer.echo(f"模板已写入 / template written to {target}")
