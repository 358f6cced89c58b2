"""HTTP twins of ``gisgrid import`` and ``gisgrid template``: thin routes over the same service.

``POST /imports/{kind}`` (administrators) takes the file as a multipart upload with the CLI's
options as form fields and answers the import report, the CLI's ``--report FILE.json``. A file
that can be read answers 200 with the report even when rows were refused: the refusals, each
with its row as the file shows it, are the answer (``ok`` false; with ``strict`` or ``dry_run``
nothing was written, as ``written`` says). A file or options that cannot be used at all answer
422 with the message, a database refusal 409, and nothing is written. An administrator bound
to a sub-district imports into it only: the ``subdistrict`` field is theirs by default, and
another one is 404 as if it did not exist.

``GET /templates/{kind}`` gives the Excel template to anyone who keeps the people's 台帐
("people": administrators, community managers, grid workers); it holds no personal data.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from gisgrid.auth.access import Principal, needs
from gisgrid.core.dependencies import get_session
from gisgrid.core.errors import GisgridError, InvalidInput, responses
from gisgrid.core.tables import XLSX, download
from gisgrid.imports.fields import Kind
from gisgrid.imports.service import ImportOptions, import_file, parse_map_flags
from gisgrid.imports.templates import file_name, template_bytes

router = APIRouter(tags=["imports"])
MAX_UPLOAD_BYTES = 32 * 1024 * 1024  # a sub-district's residents sheet is a few MB; larger files: the CLI
MESSAGE_TOO_LARGE = (f"文件超过 {MAX_UPLOAD_BYTES // 2**20} MB，请用命令行导入 / the file is above "
                     f"{MAX_UPLOAD_BYTES // 2**20} MB: import it with gisgrid import")
_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,8}")


class TooLarge(GisgridError):
    status = 413
    code = "too_large"


class RefusalOut(BaseModel):
    row: int = Field(description="as the file shows it: the Excel row, or the feature from 1")
    code: str = Field(description="bad_geometry, outside_subdistrict, duplicate, unknown_building, bad_value, "
                      "missing_value …")
    reason: str
    field: str | None = None
    value: str | None = None


class ReportOut(BaseModel):
    """The import report (``ImportReport.to_dict``); later fields of the report pass through."""

    model_config = ConfigDict(extra="allow")

    kind: str
    file: str
    format: str
    crs: str | None
    rows: int
    accepted: int
    refused_rows: int
    loaded: int
    added: int
    changed: int
    unchanged: int
    refused: list[RefusalOut]
    refusals_by_code: dict[str, int]
    warnings: list[str]
    dry_run: bool
    strict: bool
    update: bool
    written: bool
    row_numbering: str


@router.post("/imports/{kind}", summary="导入楼栋、单位、商铺、住户、居民或工作人员 / Import a file",
             response_model=ReportOut, responses=responses(409))
def import_upload(
    kind: Kind,
    file: UploadFile = File(..., description="GeoJSON, GeoPackage, zipped Shapefile, CSV or Excel (.xlsx)"),
    crs: str | None = Form(None, max_length=40, description="WGS84, CGCS2000, GCJ-02, BD-09 or EPSG:xxxx; "
                           "required for CSV/Excel with coordinates"),
    subdistrict: str | None = Form(None, pattern=r"^[0-9]{9}$", description="rows must lie in this sub-district "
                                   "(an administrator bound to one: theirs)"),
    mapping: list[str] = Form([], alias="map", description="FIELD=COLUMN, repeatable (the CLI's --map): "
                              "map=floors=层数"),
    sheet: str | None = Form(None, max_length=100, description="Excel sheet (default: the first)"),
    layer: str | None = Form(None, max_length=200, description="layer of a GeoPackage"),
    encoding: str | None = Form(None, max_length=40, description="text encoding (default: UTF-8, then GB18030)"),
    strict: bool = Form(False, description="any refused row: write nothing"),
    dry_run: bool = Form(False, description="check everything, write nothing"),
    update: bool = Form(False, description="change existing records matched by their natural key"),
    me: Principal = Depends(needs("admin")),
    session: Session = Depends(get_session),
) -> dict:
    subdistrict, _ = me.narrow(subdistrict, None)
    options = ImportOptions(crs=crs, subdistrict=subdistrict, mapping=parse_map_flags(mapping), layer=layer,
                            sheet=sheet, encoding=encoding, strict=strict, dry_run=dry_run, update=update,
                            actor=me.username)
    suffix = Path(file.filename or "").suffix
    with tempfile.TemporaryDirectory(prefix="gisgrid-import-") as folder:
        path = Path(folder) / f"upload{suffix if _SUFFIX.fullmatch(suffix) else ''}"
        _save(file, path)
        report = import_file(session, kind, path, options)
    report.file = Path(file.filename or path.name).name[:200]
    session.commit()
    return report.to_dict()


def _save(upload: UploadFile, path: Path) -> None:
    """The upload to ``path``, refused when empty or above :data:`MAX_UPLOAD_BYTES`."""
    size = 0
    with path.open("wb") as out:
        while chunk := upload.file.read(1024 * 1024):
            size += len(chunk)
            if size > MAX_UPLOAD_BYTES:
                raise TooLarge(MESSAGE_TOO_LARGE, where="file")
            out.write(chunk)
    if size == 0:
        raise InvalidInput("上传的文件为空 / the uploaded file is empty", where="file")



@router.get("/templates/{kind}", summary="导入模板 / The Excel template of an import kind",
            response_class=Response, responses={200: {"content": {XLSX: {}}, "description": "the .xlsx template"}})
def get_template(kind: Kind, _: Principal = Depends(needs("people"))) -> Response:
    return download(template_bytes(kind), XLSX, file_name(kind))
