"""The map pages in a real headless Chromium: no console error, nothing fetched from outside
127.0.0.1, and each page shows what it is for. Screenshots go to test-artifacts/."""

from __future__ import annotations

import re

from sqlalchemy import text


def test_coverage_map_shows_the_planted_defects_and_zooms_to_them(server, watched, demo):
    planted = demo.planted[0]
    page = watched.page
    page.goto(f"{server}/map/coverage?subdistrict={planted.subdistrict}", wait_until="networkidle")
    entries = page.locator("a.gg-defect")
    kinds = sorted(entries.evaluate_all("els => els.map(e => e.dataset.defect)"))
    assert kinds == ["blind_spot", "orphan_building", "overlap", "overloaded", "underloaded"]
    summary = page.inner_text("#gg-summary")
    assert planted.overloaded_grid in summary and planted.underloaded_grid in summary
    assert page.locator("path.gg-defects").count() >= 4  # blind spot, overlap and the two load outlines
    assert page.locator("path.gg-orphan").count() == 1
    assert page.locator(".leaflet-control-layers-overlays label").count() >= 5
    map_name = page.evaluate("Object.keys(window).find(k => k.startsWith('map_'))")
    before = page.evaluate(f"window['{map_name}'].getZoom()")
    entries.filter(has_text="盲区").first.click()
    page.wait_for_timeout(500)
    assert page.evaluate(f"window['{map_name}'].getZoom()") > before
    watched.shot("coverage-map")
    watched.clean()


def test_coverage_map_in_english(server, watched, demo):
    watched.page.goto(f"{server}/map/coverage?lang=en", wait_until="networkidle")
    assert "Grid coverage" in watched.page.inner_text("#gg-summary")
    assert "blind spot" in watched.page.inner_text("#gg-summary")
    watched.clean()


def test_notice_board_fits_one_a4_page_and_names_no_vulnerable_resident(server, watched, db, demo):
    code = demo.planted[0].overloaded_grid
    page = watched.page
    page.goto(f"{server}/grids/{code}/board", wait_until="networkidle")
    body = page.inner_text("body")
    lead = db.execute(text("SELECT s.name FROM grid_assignments a JOIN staff s ON s.id = a.staff_id "
                           "JOIN grids g ON g.id = a.grid_id WHERE g.code = :c AND a.role = 'grid_lead'"),
                      {"c": code}).scalar_one()
    assert code in body and lead in body and "空巢老人" in body
    assert "横向到底、纵向到边" in body  # the source document's words, in its order
    cared_for = db.execute(text("""
        SELECT DISTINCT r.name FROM residents r JOIN resident_key_groups k ON k.resident_id = r.id
        JOIN households h ON h.id = r.household_id JOIN buildings b ON b.id = h.building_id
        JOIN grids g ON g.id = b.grid_l2_id WHERE g.code = :c"""), {"c": code}).scalars().all()
    team = db.execute(text("SELECT s.name FROM grid_assignments a JOIN staff s ON s.id = a.staff_id "
                           "JOIN grids g ON g.id = a.grid_id WHERE g.code = :c"), {"c": code}).scalars().all()
    named = [name for name in cared_for if name in body and not any(name in member for member in team)]
    assert cared_for and named == []
    sensitive = db.execute(text("""
        SELECT k.name_zh FROM key_groups k WHERE k.sensitive AND EXISTS (
          SELECT 1 FROM resident_key_groups rk JOIN residents r ON r.id = rk.resident_id
          JOIN households h ON h.id = r.household_id JOIN buildings b ON b.id = h.building_id
          JOIN grids g ON g.id = b.grid_l2_id WHERE g.code = :c AND rk.key_group = k.code)"""),
                           {"c": code}).scalars().all()
    assert sensitive and [name for name in sensitive if name in body] == []  # a public wall counts none
    assert page.locator("svg.board-map path").count() >= 2
    watched.shot("notice-board")
    pdf = page.pdf(format="A4", print_background=True)
    assert len(re.findall(rb"/Type\s*/Page(?!s)", pdf)) == 1
    watched.clean()


def test_building_diagram_draws_every_flat(server, watched, db, demo):
    building_id, floors, entrances, flats = db.execute(text(
        "SELECT id, floors, entrances, flats_per_floor FROM buildings WHERE flats_per_floor > 0 ORDER BY id LIMIT 1")).one()
    page = watched.page
    page.goto(f"{server}/buildings/{building_id}/diagram", wait_until="networkidle")
    assert page.locator("td[data-household]").count() == floors * entrances * flats
    households = db.execute(text("SELECT count(*) FROM households WHERE building_id = :id AND occupancy <> 'vacant'"),
                            {"id": building_id}).scalar_one()
    assert page.locator("td.owner, td.rented").count() == households
    watched.shot("building-diagram")
    watched.clean()


def test_case_heatmap_filter_changes_what_is_drawn_and_a_cell_lists_its_cases(server, watched, db, demo):
    page = watched.page
    page.goto(f"{server}/map/cases", wait_until="networkidle")
    page.wait_for_function("window.ggCases && window.ggCases.drawn > 0")
    everything = page.evaluate("window.ggCases")
    total = db.execute(text("SELECT count(*) FROM cases")).scalar_one()
    assert everything["cases"] == total and everything["mode"] == "heat"
    page.select_option("select[name=category]", "urban_management")
    page.wait_for_function(f"window.ggCases.cases < {total}")
    urban = db.execute(text("SELECT count(*) FROM cases WHERE category_code = 'urban_management'")).scalar_one()
    assert page.evaluate("window.ggCases.cases") == urban
    page.select_option("select[name=mode]", "hex")
    page.wait_for_function("window.ggCases.mode === 'hex'")
    assert page.locator("path.leaflet-interactive").count() > page.evaluate("window.ggCases.drawn") - 1
    watched.shot("case-hexagons")
    cell = page.evaluate("""() => { const map = window[JSON.parse(document.getElementById('gg-config').textContent).map];
        let best = null; map.eachLayer(l => { if (l.feature && l.feature.properties && l.feature.properties.cell
            && (!best || l.feature.properties.cases > best.feature.properties.cases)) best = l; });
        best.fire('click'); return best.feature.properties; }""")
    page.wait_for_function("window.ggCases.listed !== undefined")
    assert page.evaluate("window.ggCases.listed") == cell["cases"]
    assert page.locator(".gg-case").count() == min(cell["cases"], 200)
    watched.clean()


def _editor(page, server, town):
    from builders import lonlat

    page.goto(f"{server}/map/edit?subdistrict={town.sd}", wait_until="networkidle")
    page.wait_for_function("window.ggEditor && window.ggEditor.status === 'ready'")
    name = page.evaluate("JSON.parse(document.getElementById('gg-config').textContent).map")

    def click(x_m: float, y_m: float) -> None:
        import shapely

        point = lonlat(shapely.Point(x_m + town.dx, y_m))
        x, y = page.evaluate(f"(() => {{ const p = window['{name}'].latLngToContainerPoint([{point.y}, {point.x}]);"
                             f" const box = window['{name}'].getContainer().getBoundingClientRect();"
                             " return [p.x + box.left, p.y + box.top]; })()")
        page.mouse.click(x, y)
        page.wait_for_timeout(120)

    return click


def test_editor_round_trip_by_mouse(scratch_server, scratch_engine, watched):
    from builders import Town

    town = Town(scratch_engine)
    page = watched.page
    click = _editor(page, scratch_server, town)
    click(60, 150)                     # pick the west grid
    click(320, 150)                    # and its eastern neighbour to receive
    assert page.input_value("#gg-to") == town.east
    page.click("#gg-draw")
    for x, y in ((150, 20), (215, 20), (215, 90), (150, 90)):  # over the border: the part must touch it
        click(x, y)
    click(150, 20)                     # close the polygon on its first corner
    page.wait_for_function("window.ggEditor.status === 'drawn'")
    page.fill("#gg-reason", "桐梓苑划归东网格")
    page.click("#gg-preview")
    page.wait_for_function("window.ggEditor.status === 'previewed'")
    assert "1 栋楼" in page.inner_text("#gg-moved") and "10 户" in page.inner_text("#gg-moved")
    assert page.locator("path.gg-moved").count() == 1
    loads = page.inner_text("table.gg-loads")
    assert any(word in loads for word in ("偏少", "达标", "超标"))
    assert "200–300" in loads and "1000–1500" in loads  # both bands: households and people
    assert not re.search(r"\b(within|under|over)\b", loads)  # no raw status word on a Chinese page
    with scratch_engine.connect() as conn:  # the preview kept nothing
        assert conn.execute(text("SELECT version FROM grids WHERE code = :c"), {"c": town.west}).scalar_one() == 1
    watched.shot("editor-preview")
    page.click("#gg-save")
    page.wait_for_function("window.ggEditor.status === 'saved'")
    with scratch_engine.connect() as conn:
        version, = conn.execute(text("SELECT version FROM grids WHERE code = :c"), {"c": town.west}).one()
        grid = conn.execute(text("SELECT g.code FROM buildings b JOIN grids g ON g.id = b.grid_l2_id WHERE b.id = :id"),
                            {"id": town.west_building}).scalar_one()
        reason = conn.execute(text("SELECT v.reason FROM grid_versions v JOIN grids g ON g.id = v.grid_id "
                                   "WHERE g.code = :c AND v.version = 2"), {"c": town.west}).scalar_one()
    assert (version, grid, reason) == (2, town.east, "桐梓苑划归东网格")
    watched.shot("editor-saved")
    watched.clean()


def test_the_editor_guides_its_first_use_and_shows_the_picked_grids_buildings_at_once(scratch_server, scratch_engine,
                                                                                     watched):
    from builders import Town

    town = Town(scratch_engine)
    page = watched.page
    click = _editor(page, scratch_server, town)
    assert "点击要修改的网格" in page.inner_text("#gg-selected")
    click(60, 150)                                  # pick the west grid
    page.wait_for_function("window.ggEditor.buildings !== undefined")
    assert page.locator("path.gg-mine").count() == 1  # its building, drawn before any preview
    assert page.input_value("#gg-to") == ""           # no receiver until one is clicked
    assert "点击接收这块区域的相邻网格" in page.inner_text("#gg-message")
    page.click("#gg-draw")                            # drawing before a receiver is refused, in words
    assert "点击接收" in page.inner_text("#gg-message") and "error" in page.get_attribute("#gg-message", "class")
    click(320, 150)                                   # the one clicked is the one chosen
    assert page.input_value("#gg-to") == town.east
    assert f"接收网格：{town.east}" in page.inner_text("#gg-message") and "开始绘制" in page.inner_text("#gg-message")
    page.select_option("#gg-operation", "split")
    assert "切割线" in page.inner_text("#gg-message")
    watched.clean()


def test_editor_shows_the_conflict_of_a_stale_save(scratch_server, scratch_engine, scratch_http, watched):
    from builders import Town

    town = Town(scratch_engine)
    page = watched.page
    click = _editor(page, scratch_server, town)
    click(60, 150)
    page.select_option("#gg-operation", "reshape")
    page.click("#gg-draw")
    for x, y in ((0, 0), (190, 0), (190, 200), (0, 200)):
        click(x, y)
    click(0, 0)
    page.wait_for_function("window.ggEditor.status === 'drawn'")
    page.fill("#gg-reason", "我的修改")
    # meanwhile someone else saves a change to the same grid
    other = scratch_http.post(f"/grids/{town.west}/reshape", headers={"If-Match": '"v1"'},
                              json={"geometry": town.geo(0, 0, 180, 200), "reason": "他人的修改"})
    assert other.status_code == 200
    page.click("#gg-save")
    page.wait_for_function("window.ggEditor.status === 'conflict'")
    assert page.evaluate("window.ggEditor.version") == 2
    assert page.locator("path.gg-theirs").count() == 1 and page.is_visible("#gg-restart")
    assert f"网格 {town.west}" in page.inner_text("#gg-message")  # names the grid that changed
    watched.shot("editor-conflict")
    page.click("#gg-restart")
    page.wait_for_function("document.getElementById('gg-selected').textContent.includes('v2')")
    with scratch_engine.connect() as conn:
        assert conn.execute(text("SELECT reason FROM grid_versions v JOIN grids g ON g.id = v.grid_id "
                                 "WHERE g.code = :c ORDER BY v.version DESC LIMIT 1"), {"c": town.west}).scalar_one() \
            == "他人的修改"
    # the refused save is a 409 the page handled; the browser logs it as a failed resource
    watched.errors = [e for e in watched.errors if "409" not in e]
    watched.clean()


def test_on_a_gcj02_basemap_every_overlay_is_shifted(server, watched, monkeypatch, db, demo):
    """Server-embedded overlays (Python) and API-fed ones (the page's script) shift alike."""
    from gisgrid.core import crs
    from gisgrid.core.settings import get_settings

    monkeypatch.setattr(get_settings(), "basemap_crs", "GCJ-02")
    page = watched.page
    page.goto(f"{server}/map/cases", wait_until="networkidle")
    lat, lon = 30.642, 104.043
    shifted = page.evaluate(f"window.ggShift([{lat}, {lon}])")
    expected_lon, expected_lat = crs.wgs84_to_gcj02(lon, lat)
    assert abs(shifted[0] - expected_lat) < 1e-9 and abs(shifted[1] - expected_lon) < 1e-9
    assert abs(shifted[0] - lat) > 1e-3  # the offset is hundreds of metres
    html = page.content()
    x, y = db.execute(text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointN(ST_ExteriorRing(ST_GeometryN("
                           "ST_ForcePolygonCCW(boundary), 1)), 1) p FROM subdistricts ORDER BY code LIMIT 1) s")).one()
    gx, gy = crs.wgs84_to_gcj02(x, y)
    assert f"{float(gx):.6f}"[:-1] in html and f"{float(gy):.6f}"[:-1] in html
    watched.clean()


ENGLISH_WORDS = re.compile(r"\b(reported|registered|dispatched|in_progress|in progress|handled|verified|closed|rejected|"
                           r"duplicate|within|under|over|open|blind spot|overlap)\b", re.IGNORECASE)


def test_the_chinese_pages_hold_no_english_status_word(server, watched, db, demo):
    """Every page a member of staff opens in Chinese, with the lists it fills by script opened too."""
    grid = db.execute(text("SELECT code FROM grids WHERE level = 2 ORDER BY code LIMIT 1")).scalar_one()
    building = db.execute(text("SELECT building_id FROM households ORDER BY building_id LIMIT 1")).scalar_one()
    page = watched.page
    found = {}
    for path in ("/", "/map/coverage", "/map/cases", "/map/edit", f"/grids/{grid}/board",
                 f"/buildings/{building}/diagram", "/reports/weekly/page", "/report", "/track"):
        page.goto(f"{server}{path}", wait_until="networkidle")
        if path == "/map/cases":  # a hexagon's list of cases, with their statuses
            page.select_option("select[name=mode]", "hex")
            page.wait_for_function("""() => { const map = window[JSON.parse(
                document.getElementById('gg-config').textContent).map]; let hexes = 0;
                map.eachLayer(l => { if (l.feature && l.feature.properties && l.feature.properties.cell) hexes++; });
                return hexes > 0; }""")
            page.evaluate("""() => { const map = window[JSON.parse(document.getElementById('gg-config').textContent).map];
                let best = null; map.eachLayer(l => { if (l.feature && l.feature.properties && l.feature.properties.cell
                  && (!best || l.feature.properties.cases > best.feature.properties.cases)) best = l; });
                best.fire('click'); }""")
            page.wait_for_function("window.ggCases.listed !== undefined")
        words = set(ENGLISH_WORDS.findall(page.inner_text("body")))
        if words:
            found[path] = words
    assert found == {}
    watched.clean()
