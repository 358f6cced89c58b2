// Overlays on a GCJ-02 (AMap, Tencent) or BD-09 (Baidu) basemap: WGS84 data shifted into the
// basemap's system, the same formulas as gisgrid.core.crs. window.ggShift(geojson | [lat, lon]).
(function () {
  "use strict";
  const A = 6378245.0, EE = 0.00669342162296594323, X_PI = Math.PI * 3000.0 / 180.0;
  const outside = (lon, lat) => lon < 72.004 || lon > 137.8347 || lat < 0.8293 || lat > 55.8271;
  function delta(lon, lat) {
    const x = lon - 105.0, y = lat - 35.0;
    let dLat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x));
    dLat += (20.0 * Math.sin(6.0 * x * Math.PI) + 20.0 * Math.sin(2.0 * x * Math.PI)) * 2.0 / 3.0;
    dLat += (20.0 * Math.sin(y * Math.PI) + 40.0 * Math.sin(y / 3.0 * Math.PI)) * 2.0 / 3.0;
    dLat += (160.0 * Math.sin(y / 12.0 * Math.PI) + 320 * Math.sin(y * Math.PI / 30.0)) * 2.0 / 3.0;
    let dLon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x));
    dLon += (20.0 * Math.sin(6.0 * x * Math.PI) + 20.0 * Math.sin(2.0 * x * Math.PI)) * 2.0 / 3.0;
    dLon += (20.0 * Math.sin(x * Math.PI) + 40.0 * Math.sin(x / 3.0 * Math.PI)) * 2.0 / 3.0;
    dLon += (150.0 * Math.sin(x / 12.0 * Math.PI) + 300.0 * Math.sin(x / 30.0 * Math.PI)) * 2.0 / 3.0;
    const rad = lat / 180.0 * Math.PI;
    let magic = Math.sin(rad);
    magic = 1 - EE * magic * magic;
    const sqrtMagic = Math.sqrt(magic);
    dLat = (dLat * 180.0) / ((A * (1 - EE)) / (magic * sqrtMagic) * Math.PI);
    dLon = (dLon * 180.0) / (A / sqrtMagic * Math.cos(rad) * Math.PI);
    return [dLon, dLat];
  }
  function toGcj(lon, lat) {
    if (outside(lon, lat)) return [lon, lat];
    const [dLon, dLat] = delta(lon, lat);
    return [lon + dLon, lat + dLat];
  }
  function toBd(lon, lat) {
    const [x, y] = toGcj(lon, lat);
    const z = Math.sqrt(x * x + y * y) + 0.00002 * Math.sin(y * X_PI);
    const theta = Math.atan2(y, x) + 0.000003 * Math.cos(x * X_PI);
    return [z * Math.cos(theta) + 0.0065, z * Math.sin(theta) + 0.006];
  }
  const cfg = JSON.parse(document.getElementById("gg-config").textContent);
  const name = (cfg.basemap_crs || "WGS84").toUpperCase().replace("-", "");
  const point = name === "GCJ02" ? toGcj : name === "BD09" ? toBd : null;
  function coords(c) {
    return typeof c[0] === "number" ? [...point(c[0], c[1]), ...c.slice(2)] : c.map(coords);
  }
  window.ggShift = function (data) {
    if (!point || data == null) return data;
    if (Array.isArray(data)) { const [lon, lat] = point(data[1], data[0]); return [lat, lon, ...data.slice(2)]; }
    if (data.type === "FeatureCollection") return { ...data, features: data.features.map(window.ggShift) };
    if (data.type === "Feature") return { ...data, geometry: window.ggShift(data.geometry) };
    return { ...data, coordinates: coords(data.coordinates) };
  };
})();
