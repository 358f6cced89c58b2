// The boundary editor: pick a grid, draw, preview the impact, save with the grid's version.
// Everything goes through the editing API (/grids/{code}/transfer|split|reshape, /grids/merge);
// a stale save (409) shows the other person's shape and lets the user start over.
(function () {
  "use strict";
  const cfg = JSON.parse(document.getElementById("gg-config").textContent);
  const t = cfg.text;
  const map = window[cfg.map];
  const $ = (id) => document.getElementById(id);
  const state = { grids: {}, selected: null, drawn: null, operation: "transfer", merge: new Set() };
  let gridLayer = null, drawnLayer = L.featureGroup().addTo(map), previewLayer = L.featureGroup().addTo(map);
  let conflictLayer = L.featureGroup().addTo(map), handler = null;
  const buildingLayer = L.featureGroup().addTo(map);
  window.ggEditor = { status: "loading" };

  const base = { color: "#2b7bba", weight: 2, fillOpacity: 0.08 };
  const chosen = { color: "#e6550d", weight: 4, fillOpacity: 0.2 };
  const receiving = { color: "#31a354", weight: 3, fillOpacity: 0.2 };

  function say(text, kind) {
    const box = $("gg-message");
    box.textContent = text;
    box.className = "gg-message " + (kind || "");
  }

  async function loadGrids() {
    const answer = await fetch(`${cfg.api}/layers/grids_l${cfg.level}/items?bbox=${cfg.bbox.join(",")}&limit=5000`);
    const data = await answer.json();
    if (gridLayer) map.removeLayer(gridLayer);
    state.grids = {};
    state.wgs84 = Object.fromEntries(data.features.map((f) => [f.id, L.geoJSON(f).getBounds()]));  // for API boxes
    gridLayer = L.geoJSON(window.ggShift(data), {
      style: () => base,
      onEachFeature: (feature, layer) => {
        state.grids[feature.id] = { feature, layer };
        layer.on("click", () => pick(feature.id));
        layer.bindTooltip(`${feature.properties.name} ${feature.id}`, { sticky: true });
      },
    }).addTo(map);
    restyle();
    window.ggEditor.status = "ready";
  }

  function restyle() {
    for (const [code, item] of Object.entries(state.grids)) {
      let style = base;
      if (code === state.selected) style = chosen;
      else if (code === $("gg-to").value || state.merge.has(code)) style = receiving;
      item.layer.setStyle(style);
    }
  }

  function neighbours(code) {
    const mine = state.grids[code].feature.properties;
    return Object.values(state.grids)
      .map((g) => g.feature)
      .filter((f) => f.id !== code && f.properties.parent_code === mine.parent_code)
      .filter((f) => state.grids[code].layer.getBounds().pad(0.05).intersects(state.grids[f.id].layer.getBounds()));
  }

  function pick(code) {
    if (handler && handler.enabled()) return;  // a click while drawing places a vertex
    if (state.operation === "merge" && state.selected && code !== state.selected) {
      state.merge.has(code) ? state.merge.delete(code) : state.merge.add(code);
      restyle();
      return;
    }
    if (state.selected && state.operation === "transfer" && code !== state.selected && state.drawn === null) {
      if (![...$("gg-to").options].some((o) => o.value === code)) { say(t.not_neighbour, "error"); return; }
      $("gg-to").value = code;  // the one clicked, nothing else
      restyle();
      say(t.guide_draw_transfer.replace("{to}", code));
      return;
    }
    state.selected = code;
    state.merge.clear();
    const p = state.grids[code].feature.properties;
    $("gg-selected").textContent = `${p.name} · ${code} · v${p.version} · ${p.households} ${t.households}`;
    const select = $("gg-to");
    select.innerHTML = "";
    select.appendChild(new Option(t.click_receiver, ""));  // none until one is clicked or chosen
    for (const f of neighbours(code)) {
      const option = document.createElement("option");
      option.value = f.id;
      option.textContent = `${f.properties.name} ${f.id}`;
      select.appendChild(option);
    }
    restyle();
    showBuildings(code);
    say(guide());
  }

  // what to do next, in words, for the operation in hand
  function guide() {
    if (!state.selected) return t.pick_first;
    if (state.operation === "transfer") {
      return $("gg-to").value ? t.guide_draw_transfer.replace("{to}", $("gg-to").value) : t.guide_transfer;
    }
    return t["guide_" + state.operation];
  }

  // the picked grid's buildings at once: what a boundary change would move is in sight before drawing
  async function showBuildings(code) {
    buildingLayer.clearLayers();
    const box = state.wgs84[code];
    const answer = await fetch(`${cfg.api}/layers/buildings/items?bbox=${box.toBBoxString()}&limit=5000`);
    if (!answer.ok || state.selected !== code) return;
    const data = await answer.json();
    for (const f of data.features) {
      const [lon, lat] = f.geometry.coordinates;
      const mine = cfg.level === 1 ? (f.properties.grid_code || "").startsWith(code) : f.properties.grid_code === code;
      L.circleMarker(window.ggShift([lat, lon]), { radius: mine ? 5 : 3, weight: 1, color: "#333",
                                                   fillColor: mine ? "#e6550d" : "#9e9e9e", fillOpacity: 0.9,
                                                   className: mine ? "gg-building gg-mine" : "gg-building" })
        .bindTooltip(`${f.properties.name}: ${f.properties.households} ${t.households}`).addTo(buildingLayer);
    }
    window.ggEditor.buildings = buildingLayer.getLayers().length;
  }

  function startDrawing() {
    if (!state.selected) { say(t.pick_first, "error"); return; }
    if (state.operation === "transfer" && !$("gg-to").value) { say(t.guide_transfer, "error"); return; }
    if (state.operation === "merge") { say(t.guide_merge); return; }
    drawnLayer.clearLayers();
    previewLayer.clearLayers();
    state.drawn = null;
    if (handler) handler.disable();
    handler = state.operation === "split"
      ? new L.Draw.Polyline(map, { shapeOptions: { color: "#e6550d", weight: 3 } })
      : new L.Draw.Polygon(map, { allowIntersection: false, shapeOptions: { color: "#e6550d" } });
    handler.enable();
    say(state.operation === "split" ? t.draw_line : t.draw_polygon);
  }

  map.on(L.Draw.Event.CREATED, (event) => {
    drawnLayer.clearLayers();
    drawnLayer.addLayer(event.layer);
    state.drawn = event.layer.toGeoJSON().geometry;
    window.ggEditor.status = "drawn";
    say(t.drawn);
  });

  function request(dryRun) {
    const code = state.selected;
    const p = state.grids[code].feature.properties;
    // shapes are drawn on the basemap, in its system: the server converts them to WGS84
    const body = { reason: $("gg-reason").value.trim(), mode: $("gg-mode").value, versions: {}, crs: cfg.basemap_crs };
    let url = `${cfg.api}/grids/${code}/${state.operation}`;
    if (state.operation === "transfer") {
      body.to = $("gg-to").value;
      body.area = state.drawn;
      body.versions[body.to] = state.grids[body.to].feature.properties.version;
    } else if (state.operation === "split") {
      body.line = state.drawn;
    } else if (state.operation === "reshape") {
      body.geometry = state.drawn;
    } else if (state.operation === "merge") {
      url = `${cfg.api}/grids/merge`;
      body.codes = [code, ...state.merge];
      body.into = code;
      for (const other of state.merge) body.versions[other] = state.grids[other].feature.properties.version;
      body.versions[code] = p.version;
    }
    const headers = { "Content-Type": "application/json" };
    if (!dryRun && state.operation !== "merge") headers["If-Match"] = `"v${p.version}"`;
    return fetch(url + (dryRun ? "?dry_run=true" : ""), { method: "POST", headers, body: JSON.stringify(body) });
  }

  function ready() {
    if (!state.selected) { say(t.pick_first, "error"); return false; }
    if (state.operation !== "merge" && !state.drawn) { say(t.draw_first, "error"); return false; }
    if (state.operation === "merge" && state.merge.size === 0) { say(t.merge_first, "error"); return false; }
    if (!$("gg-reason").value.trim()) { say(t.reason_first, "error"); $("gg-reason").focus(); return false; }
    return true;
  }

  function showImpact(report) {
    previewLayer.clearLayers();
    for (const grid of report.grids) {
      if (grid.geometry) L.geoJSON(window.ggShift(grid.geometry), { style: { color: "#000", weight: 2, dashArray: "6 4", fill: false } })
        .addTo(previewLayer);
    }
    const impact = report.impact || { moves: { buildings: [] }, loads: [], defects: { created: [], removed: [] } };
    for (const b of impact.moves.buildings) {
      L.circleMarker(window.ggShift([b.lat, b.lon]), { radius: 6, color: "#e6550d", fillOpacity: 0.9, className: "gg-moved" })
        .bindTooltip(`${b.name}: ${b.households} ${t.households}`).addTo(previewLayer);
    }
    // households and people, each against its band (200–300 households, 1,000–1,500 people for a grid)
    const word = (status) => t.status[status] || status;
    const rows = impact.loads.map((l) => `<tr><td rowspan="2">${l.code}</td><td>${t.households}</td>` +
      `<td>${l.before ? l.before.households : "—"}</td>` +
      `<td>${l.after ? l.after.households + " " + word(l.after.status) : t.retired}</td><td>${l.band[0]}–${l.band[1]}</td></tr>` +
      `<tr class="gg-people"><td>${t.people}</td><td>${l.before ? l.before.people : "—"}</td>` +
      `<td>${l.after ? l.after.people + " " + word(l.after.people_status) : t.retired}</td>` +
      `<td>${l.people_band[0]}–${l.people_band[1]}</td></tr>`);
    const defects = [...impact.defects.created.map((d) => `+ ${d.label} ${d.area_m2} m²`),
                     ...impact.defects.removed.map((d) => `− ${d.label} ${d.area_m2} m²`)];
    $("gg-impact").innerHTML =
      `<p id="gg-moved">${t.moves.replace("{b}", impact.moves.buildings.length).replace("{h}", impact.households_moved || 0)}</p>` +
      `<table class="gg-loads"><tr><th>${t.grid}</th><th></th><th>${t.before}</th><th>${t.after}</th><th>${t.band}</th></tr>${rows.join("")}</table>` +
      (defects.length ? `<p>${defects.join("<br>")}</p>` : "") +
      (report.adjustments.length ? `<p>${report.adjustments.map((a) => window.ggLocalised(a.message)).join("<br>")}</p>` : "") +
      (report.warnings.length ? `<p class="gg-warn">${report.warnings.join("<br>")}</p>` : "");
  }

  async function preview() {
    if (!ready()) return;
    const answer = await request(true);
    const body = await answer.json();
    if (!answer.ok) { say(window.ggLocalised(body.message), "error"); window.ggEditor.status = "refused"; return; }
    showImpact(body);
    window.ggEditor = { status: "previewed", report: body };
    say(t.previewed);
  }

  async function save() {
    if (!ready()) return;
    const answer = await request(false);
    const body = await answer.json();
    if (answer.status === 409 && body.detail && body.detail.current) {
      conflictLayer.clearLayers();
      L.geoJSON(window.ggShift(body.detail.current), { style: { color: "#d7301f", weight: 4, dashArray: "8 4", fillOpacity: 0.15 },
                                        className: "gg-theirs" }).addTo(conflictLayer);
      $("gg-restart").hidden = false;
      say(t.conflict.replace("{g}", body.detail.grid).replace("{v}", body.detail.current_version), "error");
      window.ggEditor = { status: "conflict", version: body.detail.current_version };
      return;
    }
    if (!answer.ok) { say(window.ggLocalised(body.message), "error"); window.ggEditor.status = "refused"; return; }
    showImpact(body);
    const mine = body.grids.find((g) => g.code === state.selected);
    say(t.saved.replace("{v}", mine ? mine.version_after : ""), "ok");
    drawnLayer.clearLayers();
    state.drawn = null;
    await loadGrids();
    window.ggEditor = { status: "saved", report: body };
  }

  async function restart() {
    conflictLayer.clearLayers();
    drawnLayer.clearLayers();
    previewLayer.clearLayers();
    $("gg-impact").innerHTML = "";
    $("gg-restart").hidden = true;
    state.drawn = null;
    const code = state.selected;
    await loadGrids();
    if (code && state.grids[code]) pick(code);
    say(t.restarted);
  }

  $("gg-operation").addEventListener("change", (e) => {
    state.operation = e.target.value;
    state.merge.clear();
    $("gg-to-row").hidden = state.operation !== "transfer";
    restyle();
    say(guide());
  });
  $("gg-to").addEventListener("change", () => { restyle(); say(guide()); });
  $("gg-draw").addEventListener("click", startDrawing);
  $("gg-preview").addEventListener("click", preview);
  $("gg-save").addEventListener("click", save);
  $("gg-restart").addEventListener("click", restart);
  loadGrids();
})();
