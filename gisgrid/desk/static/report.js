// The field report form (/desk/report): the place from the device (WGS84, said so to the API) or
// a pin on the basemap (sent in the basemap's own system), photos made smaller on the phone, and
// the report sent to POST /cases with an Idempotency-Key made once per submission and kept until
// the API has answered; then each photo to POST /cases/{no}/attachments with a key of its own.
// A dropped connection keeps everything as it was sent, so "send again" makes one case and
// attaches each photo once.
(function () {
  "use strict";
  const desk = window.gisgridPage, cfg = desk.cfg, words = desk.words, frame = cfg.map;
  const $ = (id) => document.getElementById(id);
  const form = $("gg-report"), caseFields = $("gg-report-case"), send = $("gg-send");
  const fill = (text, values) => Object.entries(values).reduce((s, [k, v]) => s.replaceAll(`{${k}}`, v), text);
  const state = { status: "ready", location: null, photos: [], report: null, busy: false };
  window.ggDeskReport = state;  // what the page is doing, for whoever watches it (the tests)

  // --- category and sub-type ---------------------------------------------------------------
  form.elements.category.addEventListener("change", () => {
    const select = form.elements.subtype;
    select.length = 1;  // keep "not sure"
    for (const [code, name] of cfg.subtypes[form.elements.category.value] || []) select.add(new Option(name, code));
  });

  // --- the place: a map framed on my grids, a pin, or the device --------------------------
  const shift = window.ggShift || ((data) => data);  // WGS84 → the basemap's system (GCJ-02 / BD-09)
  const map = L.map("gg-report-map", { zoomSnap: 0.25 });
  const tiles = L.tileLayer(frame.tiles, { maxZoom: 20, maxNativeZoom: 19, attribution: frame.attribution }).addTo(map);
  let failed = 0;
  tiles.on("tileerror", () => { failed += 1; if (failed === 3 && tiles._url !== frame.blank) tiles.setUrl(frame.blank); });
  const outlines = L.geoJSON(shift(frame.outlines), {
    style: { color: "#b22222", weight: 2, fillOpacity: 0.04 }, interactive: false }).addTo(map);
  function fit() {
    map.invalidateSize();
    let bounds = frame.bounds && L.latLngBounds(shift(frame.bounds[0]), shift(frame.bounds[1]));
    outlines.eachLayer((layer) => { if (layer.feature.properties.code === frame.focus) bounds = layer.getBounds(); });
    if (bounds) map.fitBounds(bounds, { padding: [10, 10] }); else map.setView([39.9, 116.4], 11);
  }
  fit();
  window.addEventListener("orientationchange", fit);
  window.ggReportMap = map;

  // a drop of 22 px turned so its point is down: the point lies 11·√2 px below the middle
  const icon = L.divIcon({ className: "gg-pin-icon", html: "<span></span>", iconSize: [22, 22], iconAnchor: [11, 27] });
  let pin = null;
  function showPin(latlng) {
    if (pin) pin.setLatLng(latlng);
    else {
      pin = L.marker(latlng, { draggable: true, autoPan: true, icon, keyboard: false }).addTo(map);
      pin.on("dragend", () => pinned(pin.getLatLng()));
    }
  }
  // a pin is where the basemap shows it: its coordinates are in the basemap's system
  function pinned(latlng) {
    showPin(latlng);
    setPlace({ lon: latlng.lng, lat: latlng.lat, crs: cfg.basemap_crs }, fill(words.from_pin, { crs: cfg.basemap_crs }));
  }
  function setPlace(location, text) {
    state.location = location;
    $("gg-place").textContent = `${text} · ${location.lat.toFixed(6)}, ${location.lon.toFixed(6)}`;
    $("gg-place").classList.add("gg-place-set");
    unmark("location");
  }
  map.on("click", (event) => { if (!caseFields.disabled) pinned(event.latlng); });

  $("gg-locate").addEventListener("click", () => {
    if (!navigator.geolocation) { mark("location", words.no_geolocation); return; }
    $("gg-locate").textContent = words.locating;
    navigator.geolocation.getCurrentPosition((position) => {
      $("gg-locate").textContent = words.locate;
      const { longitude: lon, latitude: lat, accuracy } = position.coords;
      // the device answers in WGS84: sent as it is, the pin drawn where the basemap has it
      setPlace({ lon, lat, crs: "WGS84" }, fill(words.from_device, { m: Math.round(accuracy) }));
      showPin(shift([lat, lon]));
      map.setView(shift([lat, lon]), Math.max(map.getZoom(), 17));
    }, () => {
      $("gg-locate").textContent = words.locate;
      mark("location", words.no_geolocation);
    }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 30000 });
  });

  // --- photos, made smaller on the phone --------------------------------------------------
  async function picture(file) {
    if (window.createImageBitmap) {
      try { return await createImageBitmap(file, { imageOrientation: "from-image" }); } catch (error) { /* an <img> may still read it */ }
    }
    const url = URL.createObjectURL(file);
    try {
      const img = new Image();
      img.src = url;
      await img.decode();
      return img;
    } finally { URL.revokeObjectURL(url); }
  }
  async function smaller(file) {
    const img = await picture(file);
    const width = img.width, height = img.height;
    const scale = Math.min(1, cfg.photo.longest / Math.max(width, height));
    const canvas = document.createElement("canvas");
    canvas.width = Math.max(1, Math.round(width * scale));
    canvas.height = Math.max(1, Math.round(height * scale));
    const pen = canvas.getContext("2d");
    pen.fillStyle = "#fff";  // a transparent PNG on white, not black, as JPEG
    pen.fillRect(0, 0, canvas.width, canvas.height);
    pen.drawImage(img, 0, 0, canvas.width, canvas.height);
    if (img.close) img.close();
    const blob = await new Promise((done) => canvas.toBlob(done, "image/jpeg", cfg.photo.quality));
    return { blob, width: canvas.width, height: canvas.height,
             name: (file.name || "photo").replace(/\.[^.]*$/, "") + ".jpg" };
  }
  function drawPhotos() {
    const list = $("gg-photos");
    list.replaceChildren();
    state.photos.forEach((photo) => {
      const item = document.createElement("li");
      item.className = "gg-photo";
      const img = document.createElement("img");
      img.src = photo.url; img.alt = photo.name;
      item.append(img);
      if (photo.attachment || photo.key) {  // uploaded, or sent with no answer yet: it goes again as it was
        const done = document.createElement("span");
        done.className = "gg-photo-sent"; done.textContent = photo.attachment ? words.photo_sent : "…";
        item.append(done);
      } else {
        const remove = document.createElement("button");
        remove.type = "button"; remove.className = "gg-photo-remove"; remove.textContent = words.remove;
        remove.setAttribute("aria-label", `${words.remove} ${photo.name}`);
        remove.addEventListener("click", () => {
          URL.revokeObjectURL(photo.url);
          state.photos = state.photos.filter((p) => p !== photo);
          drawPhotos();
        });
        item.append(remove);
      }
      if (photo.error) {
        const note = document.createElement("span");
        note.className = "gg-error"; note.textContent = photo.error;
        item.append(note);
      }
      list.append(item);
    });
  }
  $("gg-photo-input").addEventListener("change", async (event) => {
    const files = Array.from(event.target.files || []);
    event.target.value = "";  // the same photo may be picked again after removing it
    unmark("file");
    state.status = "resizing";
    for (const file of files) {
      if (state.photos.length >= cfg.photo.most) { mark("file", fill(words.too_many, { n: cfg.photo.most })); break; }
      try {
        const photo = await smaller(file);
        state.photos.push({ ...photo, url: URL.createObjectURL(photo.blob), key: null, attachment: null, error: null });
      } catch (error) {
        mark("file", `${words.bad_image}: ${file.name}`);
      }
    }
    state.status = "ready";
    drawPhotos();
  });

  // --- the API's refusals next to the field they name --------------------------------------
  function holder(where) {
    for (const part of String(where || "").split(".").reverse()) {
      const el = form.querySelector(`[data-field="${CSS.escape(part)}"]`);
      if (el) return el;
    }
    return null;
  }
  function mark(where, message) {
    const el = holder(where);
    if (!el) return false;
    unmark(where);
    el.classList.add("gg-invalid");
    const note = document.createElement("span");
    note.className = "gg-error"; note.textContent = message;
    el.append(note);
    return true;
  }
  function unmark(where) {
    const el = holder(where);
    if (!el) return;
    el.classList.remove("gg-invalid");
    el.querySelectorAll(":scope > .gg-error").forEach((e) => e.remove());
  }
  function say(message, kind) {
    const msg = $("gg-report-msg");
    msg.textContent = message; msg.className = `gg-msg ${kind || ""}`;
  }

  // --- sending ----------------------------------------------------------------------------
  function collected() {
    const f = form.elements;
    ["category", "title", "location"].forEach(unmark);
    let missing = 0;
    if (!f.category.value) missing += mark("category", words.required);
    if (!f.title.value.trim()) missing += mark("title", words.required);
    if (!state.location) missing += mark("location", `${words.required}: ${words.no_place}`);
    if (missing) return null;
    const body = { category: f.category.value, title: f.title.value.trim(), description: f.description.value.trim(),
                   location: state.location, reporter_name: cfg.reporter.name };
    if (f.subtype.value) body.subtype = f.subtype.value;
    if (cfg.reporter.staff_id) body.reporter_staff_id = cfg.reporter.staff_id;
    return body;
  }

  function dropped() {
    // nothing is known of what the server did: the same keys and bodies go again on the next press
    say(`${words.retry} ${state.report.case_no ? "" : words.kept}`.trim(), "gg-bad");
    state.status = "dropped";
  }

  async function sendCase() {
    const r = await desk.call("POST", "/cases", state.report.body, { "Idempotency-Key": state.report.key });
    if (r.status === 0) { dropped(); return false; }
    if (!r.ok) {
      // refused: nothing was stored, so the corrected report is a new submission with a new key
      state.report = null;
      caseFields.disabled = false;
      const message = desk.local(r.answer.message || r.status);
      if (!mark(r.answer.where, message)) say(message, "gg-bad");
      state.status = "refused";
      return false;
    }
    state.report.case_no = r.answer.case_no;
    return true;
  }

  async function sendPhotos() {
    const waiting = state.photos.filter((p) => !p.attachment);
    for (const [i, photo] of waiting.entries()) {
      say(fill(words.sending_photo, { i: i + 1, n: waiting.length }), "");
      photo.key = photo.key || desk.uuid();
      photo.error = null;
      drawPhotos();
      const body = new FormData();
      body.append("file", photo.blob, photo.name);
      const r = await desk.call("POST", `/cases/${encodeURIComponent(state.report.case_no)}/attachments`, body,
                                { "Idempotency-Key": photo.key });
      if (r.status === 0) { drawPhotos(); dropped(); return false; }
      if (!r.ok) {
        photo.key = null;  // refused, so not stored: another try is another upload
        photo.error = words.photo_failed + desk.local(r.answer.message || r.status);
        drawPhotos();
        say(words.case_made + state.report.case_no, "gg-bad");
        state.status = "photo refused";
        return false;
      }
      photo.attachment = r.answer.id;
      drawPhotos();
    }
    return true;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (state.busy) return;
    say("");
    if (!state.report) {
      const body = collected();
      if (!body) { state.status = "incomplete"; return; }
      state.report = { key: desk.uuid(), body, case_no: null };
    }
    state.busy = true;
    caseFields.disabled = true;  // what is sent stays as it was until the API has answered it
    send.disabled = true; send.textContent = words.saving;
    state.status = "sending";
    try {
      if ((state.report.case_no || await sendCase()) && await sendPhotos()) done();
    } finally {
      state.busy = false;
      send.disabled = false; send.textContent = words.send;
    }
  });

  function done() {
    const no = state.report.case_no;
    say("");
    form.hidden = true;
    $("gg-report-done").hidden = false;
    $("gg-case-no").textContent = no;
    $("gg-case-link").href = `/desk/cases/${encodeURIComponent(no)}?lang=${cfg.lang}`;
    window.scrollTo(0, 0);
    state.status = "done";
    state.case_no = no;
  }
})();
