"""Area defects of a grid layer: where the grids leave a gap, overlap, or spill out of their parent.

They belong to the grids: a boundary edit measures them before and after (``grids.impact``), and
the coverage analysis (``gisgrid.coverage``) reports them with the rest of its defects.
"""

from __future__ import annotations

AREA_DEFECTS = ("blind_spot", "overlap", "spill_over")
SLIVERS = {"blind_spot": "sliver_gap", "overlap": "sliver_overlap", "spill_over": "sliver_spill"}
AREA_LABELS_ZH = {
    "blind_spot": "盲区", "overlap": "重叠", "spill_over": "越界", "sliver_gap": "碎缝",
    "sliver_overlap": "碎叠", "sliver_spill": "碎越界",
}

# Every area defect, found by the database function ``gisgrid_area_defects`` (migration 0006).
# Each family (a parent and its children) is unioned once; planar area sums then say which
# families can hold a defect at all (children's areas adding up to more than their union: an
# overlap; union outside the parent: a spill-over), so the costly pairwise and per-child overlays
# run only where something is wrong. :families limits it to the families named by their
# parent's code (what a boundary edit touches), :bbox to families whose parent meets a box.
AREA_DEFECTS_SQL = """
SELECT type, level, parent_code, grids, area_m2, ST_AsBinary(geom) AS wkb
FROM gisgrid_area_defects(CAST(:sd AS text), CAST(:community AS text), CAST(:families AS text[]), NULL)
"""
