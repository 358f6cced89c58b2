// A grid's map: its outline and buildings over the basemap, framed on the grid once the map has
// its real size (the top of a phone's screen, a column of a desktop's), falling back to the
// built-in blank basemap when the configured tiles fail. A tap places a new building.
(function () {
  "use strict";
  const cfg = JSON.parse(document.getElementById("gg-config").textContent);
  const frame = cfg.map;
  const shift = window.ggShift || ((data) => data);  // WGS84 → the basemap's system (GCJ-02 / BD-09)
  const map = L.map("gg-map", { zoomSnap: 0.25, zoomControl: true });
  const tiles = L.tileLayer(frame.tiles, { maxZoom: 20, maxNativeZoom: 19, attribution: frame.attribution }).addTo(map);
  let failed = 0;
  tiles.on("tileerror", () => {
    failed += 1;
    if (failed === 3 && tiles._url !== frame.blank) tiles.setUrl(frame.blank);
  });
  L.geoJSON(shift(frame.outline), { style: { color: "#b22222", weight: 2, fillOpacity: 0.04 }, interactive: false })
    .addTo(map);
  L.geoJSON(shift(frame.buildings), {
    pointToLayer: (feature, at) => L.circleMarker(at, { radius: 8, weight: 2, color: "#08519c", fillColor: "#6baed6",
                                                        fillOpacity: 0.9 }),
    onEachFeature: (feature, layer) => {
      const link = document.createElement("a");
      link.href = `/field/buildings/${feature.properties.id}?lang=${cfg.lang}`;
      link.textContent = `${feature.properties.name} (${feature.properties.households})`;
      layer.bindPopup(link);
    },
  }).addTo(map);
  const bounds = L.latLngBounds(shift(frame.bounds[0]), shift(frame.bounds[1]));

  function fit() {
    map.invalidateSize();
    map.fitBounds(bounds, { padding: [12, 12] });
  }
  fit();
  window.addEventListener("orientationchange", fit);
  window.ggFieldMap = map;

  // a tap in the basemap's system back to WGS84 (the shift is smooth: a few fixed-point steps)
  function wgs84(at) {
    let lat = at.lat, lon = at.lng;
    for (let i = 0; i < 4; i += 1) {
      const [sLat, sLon] = shift([lat, lon]);
      lat += at.lat - sLat; lon += at.lng - sLon;
    }
    return [lat, lon];
  }
  const form = document.getElementById("gg-add-building");
  let pin = null;
  if (form) {
    map.on("click", (event) => {
      const [lat, lon] = wgs84(event.latlng);
      form.elements.lon.value = lon.toFixed(7);
      form.elements.lat.value = lat.toFixed(7);
      if (pin) pin.setLatLng(event.latlng); else pin = L.circleMarker(event.latlng, { radius: 9, color: "#b22222" }).addTo(map);
      document.getElementById("gg-add-building-box").open = true;
    });
  }
})();
