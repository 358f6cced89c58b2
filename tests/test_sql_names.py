"""Names written into SQL text pass one guard: a table or column that is not one its caller
knows is refused before any query is built."""

import pytest

from gisgrid.core.sql import identifier
from gisgrid.grids.membership import POINT_TABLES, refresh


@pytest.mark.parametrize("name", ["buildings; DROP TABLE grids", "Buildings", "residents", "", "x y"])
def test_an_unknown_or_crafted_name_is_refused(name):
    with pytest.raises(ValueError, match="not a known SQL name"):
        identifier(name, (*POINT_TABLES, "residents x"))


def test_a_known_name_passes():
    assert identifier("shops", POINT_TABLES) == "shops"


def test_membership_refuses_a_table_it_does_not_know_before_touching_the_database(db):
    with pytest.raises(ValueError, match="not a known SQL name"):
        refresh(db, subdistrict="510107001", tables=("residents",))
