"""``gisgrid divide``: propose a division, write it as GeoJSON, and adopt it when asked."""

from __future__ import annotations

import getpass
import json
from datetime import date
from pathlib import Path

import typer

from gisgrid.core.commandline import command_change, fail
from gisgrid.core.errors import GisgridError, InvalidInput


def divide_command(
    subdistrict: str = typer.Option(..., "--subdistrict", help="sub-district code (9 digits)"),
    community: str | None = typer.Option(None, "--community", help="only this L1 zone (or, at level 3, this L2 grid's "
                                         "micro-grids)"),
    level: int = typer.Option(2, "--level", help="2: grids inside their L1 zone; 3: micro-grids inside their grid"),
    band: str | None = typer.Option(None, "--band", help="households per grid, LOW-HIGH (default: the load band "
                                    "settings, 200-300 for grids)"),
    streets: Path | None = typer.Option(None, "--streets", help="street / river / rail lines (GeoJSON, GeoPackage, "
                                        "Shapefile, OSM): borders follow them; rank column marks hard barriers"),
    streets_crs: str | None = typer.Option(None, "--streets-crs", help="the street file's CRS when it does not say "
                                           "(GCJ-02, BD-09, CGCS2000, EPSG:n)"),
    mode: str = typer.Option("redesign", "--mode", help="redesign: draw every grid anew; rebalance: change only "
                             "grids out of band"),
    oversize: str = typer.Option("own-grid", "--oversize", help="a building over the ceiling: own-grid (一楼一格, "
                                 "reported) or by-entrance (split into runs of its 单元 in the ledger, on --adopt)"),
    out: Path | None = typer.Option(None, "--out", help="write the proposal here (GeoJSON)"),
    adopt: bool = typer.Option(False, "--adopt", help="adopt it: one grid-layer import (needs --reason)"),
    reason: str | None = typer.Option(None, "--reason", help="why (kept in the history), with --adopt"),
    seed: int = typer.Option(18, "--seed", help="the random seed of the partition (same seed, same proposal)"),
    as_json: bool = typer.Option(False, "--json", help="print summary, problems and impact as JSON"),
) -> None:
    """自动划分网格 / propose grids of a band of households (and adopt them with --adopt)."""
    from gisgrid.core.scope import WHOLE
    from gisgrid.division import service
    from gisgrid.ledger.records import Editor

    try:
        request = service.DivideRequest(subdistrict=subdistrict, community=community, level=level,
                                        band=service.parse_band(band) if band else None, streets=streets,
                                        streets_crs=streets_crs, mode=mode, seed=seed,
                                        oversize=oversize)
        if adopt and not (reason and reason.strip()):
            raise InvalidInput("--adopt 须同时给出 --reason / --adopt needs --reason", where="reason")
        with command_change(save=adopt) as session:
            answer = service.divide_and_adopt(session, request, WHOLE, actor=getpass.getuser(), reason=reason,
                                              adopt_with=None, adopt_now=False, today=date.today())
            if adopt:
                answer["adopted"], answer["split"] = service.adopt_splitting(
                    session, answer["proposal"], editor=Editor(getpass.getuser(), WHOLE), reason=reason,
                    expected_etag=answer["etag"], dry_run=False, today=date.today())
    except GisgridError as exc:
        fail(exc)
    if out is not None:
        out.write_text(json.dumps(answer["proposal"], ensure_ascii=False))
    if as_json:
        typer.echo(json.dumps({k: answer["proposal"][k] for k in ("summary", "problems")} | {
            "etag": answer["etag"], "impact": answer["impact"]["summary"],
            "adopted": answer["adopted"]["summary"] if answer["adopted"] else None, "split": answer["split"]}, ensure_ascii=False, indent=2))
        return
    typer.echo(describe(answer))


def describe(answer: dict) -> str:
    """The proposal as a person reads it: the figures, each problem, what adopting did."""
    s = answer["proposal"]["summary"]
    lines = [f"划分方案 / proposal ({s['mode']}, level {s['level']}, band {s['band'][0]}-{s['band'][1]}): "
             f"{s['grids']} grids, {s['in_band']} in band ({(s['in_band_share'] or 0):.0%}), households "
             f"{s['households_min']}–{s['households_max']} (σ {s['households_stdev']}), Polsby–Popper median "
             f"{s['polsby_popper_median']}, on streets {s['street_share_median']}, households moved {s['households_moved']}"]
    for p in answer["proposal"]["problems"]:
        lines.append(f"  问题 / problem in {p['parent']}: {p['kind']} — {p['households']} households, "
                     f"buildings {', '.join(map(str, p['buildings'][:10]))}{' …' if len(p['buildings']) > 10 else ''}")
        lines += _oversize_lines(p)
    lines.append(f"图层 ETag / layer etag: {answer['etag']}")
    for building in answer.get("split") or []:
        lines.append(f"已拆分 / split building {building['building']}: " + ", ".join(
            f"{part['name']} (#{part['id']}, {part['households_moved']} households)" for part in building["parts"]))
    if answer["adopted"]:
        lines.append(f"已采用 / adopted: {json.dumps(answer['adopted']['summary'], ensure_ascii=False)}")
    return "\n".join(lines)


def _oversize_lines(problem: dict) -> list[str]:
    """How a building over the ceiling was resolved: its parts by 单元 and their grids, or why not."""
    if problem["kind"] == "entrance_over_ceiling":
        return [f"    单元 / entrances {problem['entrances']} alone hold {problem['households']} households"]
    if problem.get("resolution") == "by_entrance":
        return [f"    按单元拆分 / split by entrance: {part['name']} (单元 {part['entrances'][0]}–{part['entrances'][-1]}, "
                f"{part['households']} households{'' if part['in_band'] else ', out of band'}) → {part['grid']}"
                for part in problem["parts"]]
    if problem.get("resolution") == "own_grid":
        return [f"    一楼一格 / kept whole as its own grid: {problem['why']}"]
    return []
