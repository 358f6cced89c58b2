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

