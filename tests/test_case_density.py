"""The heatmap's hexagon counts and the lists behind them come from one rule: every hexagon of
the demo lists exactly as many cases as it shows, and the counts add up to the filter's total."""

import pytest


@pytest.mark.parametrize("query", [{}, {"status": "open"}, {"category": "urban_management", "size": 90}])
def test_every_hexagon_lists_as_many_cases_as_it_counts(http, query):
    hexes = http.get("/cases/density", params={"mode": "hex", **query})
    assert hexes.status_code == 200, hexes.text
    features = hexes.json()["features"]
    assert len(features) > 20
    filters = {k: v for k, v in query.items() if k != "size"}
    total = http.get("/cases", params={**filters, "limit": 1}).json()["numberMatched"]
    assert sum(f["properties"]["cases"] for f in features) == total == hexes.json()["cases"]
    wrong = {}
    for feature in features:
        listed = http.get("/cases", params={**filters, "cell": feature["properties"]["cell"], "limit": 1})
        assert listed.status_code == 200, listed.text
        if listed.json()["numberMatched"] != feature["properties"]["cases"]:
            wrong[feature["id"]] = (feature["properties"]["cases"], listed.json()["numberMatched"])
    assert wrong == {}



def test_the_density_layer_counts_each_recent_case_once(http, engine):
    from sqlalchemy import text

    with engine.connect() as conn:
        recent, box = conn.execute(text("""
            SELECT (SELECT count(*) FROM cases WHERE reported_at >= now() - interval '90 days'),
                   (SELECT concat_ws(',', ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e))
                    FROM (SELECT ST_Extent(boundary) AS e FROM subdistricts) x)""")).one()
    answer = http.get("/layers/case_density/items", params={"bbox": box, "limit": 5000})
    assert answer.status_code == 200, answer.text
    features = answer.json()["features"]
    assert recent > 100 and len(features) > 20
    assert sum(f["properties"]["cases"] for f in features) == recent
    assert len({f["id"] for f in features}) == len(features)
