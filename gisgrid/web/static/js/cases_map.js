// The case heatmap: filters → /cases/density (counted in the database) → heat or hexagons;
// a click on a hexagon lists its cases from /cases?bbox=…
(function () {
  "use strict";
  const cfg = JSON.parse(document.getElementById("gg-config").textContent);
  const map = window[cfg.map];
  const form = document.getElementById("gg-filters");
  const list = document.getElementById("gg-cases");
  const stats = document.getElementById("gg-stats");
  let heat = null, hexes = null;
  window.ggCases = { drawn: 0, mode: "heat" };

  function query(extra) {
    const params = new URLSearchParams();
    for (const [key, value] of new FormData(form).entries()) if (value) params.set(key, value);
    params.set("subdistrict", cfg.subdistrict);
    for (const [key, value] of Object.entries(extra || {})) params.set(key, value);
    return params;
  }

  function clear() {
    if (heat) { map.removeLayer(heat); heat = null; }
    if (hexes) { map.removeLayer(hexes); hexes = null; }
  }

  async function draw() {
    const params = query();
    const mode = params.get("mode") || "heat";
    const answer = await fetch(cfg.api + "/cases/density?" + params.toString());
    const data = await answer.json();
    clear();
    if (!answer.ok) { stats.textContent = window.ggLocalised(data.message); return; }
    if (mode === "heat") {
      const top = Math.max(1, ...data.points.map(p => p[2]));
      heat = L.heatLayer(data.points.map(p => window.ggShift([p[0], p[1], p[2] / top])), { radius: 18, blur: 14, maxZoom: 17 });
      heat.addTo(map);
      window.ggCases = { drawn: data.points.length, cases: data.cases, mode };
    } else {
      const top = Math.max(1, ...data.features.map(f => f.properties.cases));
      hexes = L.geoJSON(window.ggShift(data), {
        style: f => ({ color: "#7f0000", weight: 1, fillColor: "#d7301f",
                       fillOpacity: 0.15 + 0.65 * f.properties.cases / top }),
        onEachFeature: (f, layer) => {
          layer.bindTooltip(String(f.properties.cases));
          layer.on("click", () => cell(f.properties.cell));
        },
      }).addTo(map);
      window.ggCases = { drawn: data.features.length, cases: data.cases, mode };
    }
    stats.textContent = cfg.text.count.replace("{n}", data.cases);
  }

  async function cell(id) {
    const answer = await fetch(cfg.api + "/cases?" + query({ cell: id, limit: 200 }).toString());
    const data = await answer.json();
    list.innerHTML = "";
    const head = document.createElement("p");
    head.textContent = cfg.text.in_cell.replace("{n}", data.numberMatched);
    list.appendChild(head);
    for (const item of data.items) {
      const row = document.createElement("div");
      row.className = "gg-case";
      row.textContent = `${item.case_no} ${item.title} · ${item.category} · ${cfg.statuses[item.status] || item.status} · ${item.reported_at.slice(0, 10)}`;
      list.appendChild(row);
    }
    window.ggCases.listed = data.numberMatched;
  }

  form.addEventListener("change", draw);
  draw();
})();
