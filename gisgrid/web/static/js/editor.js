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
      $("gg-to").value = code;
      restyle();
      return;
    }
    state.selected = code;
    state.merge.clear();
    const p = state.grids[code].feature.properties;
    $("gg-selected").textContent = `${p.name} · ${code} · v${p.version} · ${p.households} ${t.households}`;
    const select = $("gg-to");
    select.innerHTML = "";
    for (const f of neighbours(code)) {
      const option = document.createElement("option");
      option.value = f.id;
      option.textContent = `${f.properties.name} ${f.id}`;
      select.appendChild(option);
    }
    restyle();
    say(t.picked);
  }

  function startDrawing() {
    if (!state.selected) { say(t.pick_first, "error"); return; }
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
    const rows = impact.loads.map((l) => `<tr><td>${l.code}</td><td>${l.before ? l.before.households : "—"}</td>` +
      `<td>${l.after ? l.after.households + " " + (t.status[l.after.status] || l.after.status) : t.retired}</td><td>${l.band[0]}–${l.band[1]}</td></tr>`);
    const defects = [...impact.defects.created.map((d) => `+ ${d.label} ${d.area_m2} m²`),
                     ...impact.defects.removed.map((d) => `− ${d.label} ${d.area_m2} m²`)];
    $("gg-impact").innerHTML =
      `<p id="gg-moved">${t.moves.replace("{b}", impact.moves.buildings.length).replace("{h}", impact.households_moved || 0)}</p>` +
      `<table class="gg-loads"><tr><th>${t.grid}</th><th>${t.before}</th><th>${t.after}</th><th>${t.band}</th></tr>${rows.join("")}</table>` +
      (defects.length ? `<p>${defects.join("<br>")}</p>` : "") +
      (report.adjustments.length ? `<p>${report.adjustments.map((a) => a.message).join("<br>")}</p>` : "") +
      (report.warnings.length ? `<p class="gg-warn">${report.warnings.join("<br>")}</p>` : "");
  }

  async function preview() {
    if (!ready()) return;
    const answer = await request(true);
    const body = await answer.json();
    if (!answer.ok) { say(body.message, "error"); window.ggEditor.status = "refused"; return; }
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
    if (!answer.ok) { say(body.message, "error"); window.ggEditor.status = "refused"; return; }
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
  });
  $("gg-to").addEventListener("change", restyle);
  $("gg-draw").addEventListener("click", startDrawing);
  $("gg-preview").addEventListener("click", preview);
  $("gg-save").addEventListener("click", save);
  $("gg-restart").addEventListener("click", restart);
  loadGrids();
})();
