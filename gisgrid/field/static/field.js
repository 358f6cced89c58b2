// The field pages' forms: each writes through the ledger's HTTP API with the record's version
// (If-Match) and an Idempotency-Key made once per submission (a retry after a dropped
// connection sends the same key, so nothing is recorded twice). The checks the API makes on ID
// numbers, phones and reasons run here first; whatever the API still refuses is shown next to
// the field it names, and a stale save shows what the other person changed.
(function () {
  "use strict";
  const kit = window.gisgridPage, cfg = kit.cfg, words = kit.words, local = kit.local, uuid = kit.uuid;

  // GB 11643: 17 digits and a check character; a 15-digit number of the old kind is accepted as the API does
  const WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  function idNumberOk(raw) {
    const text = raw.replace(/\s+/g, "").toUpperCase();
    if (/^\d{15}$/.test(text)) return true;
    if (!/^\d{17}[\dX]$/.test(text)) return false;
    const y = +text.slice(6, 10), m = +text.slice(10, 12), d = +text.slice(12, 14);
    const born = new Date(Date.UTC(y, m - 1, d));
    if (born.getUTCFullYear() !== y || born.getUTCMonth() !== m - 1 || born.getUTCDate() !== d || y < 1900) return false;
    const sum = WEIGHTS.reduce((acc, w, i) => acc + w * +text[i], 0);
    return "10X98765432"[sum % 11] === text[17];
  }
  function phoneOk(raw) {
    let text = raw.replace(/[\s\-－—()（）]+/g, "");
    if (text.startsWith("+86")) text = text.slice(3);
    else if (text.startsWith("0086")) text = text.slice(4);
    else if (text.startsWith("86") && text.length === 13) text = text.slice(2);
    return /^1[3-9]\d{9}$/.test(text) || /^0\d{2,3}[2-9]\d{6,7}$/.test(text);
  }
  const CHECKS = {
    id_number: (v) => idNumberOk(v) || words.bad_id,
    phone: (v) => phoneOk(v) || words.bad_phone,
    reason: (v) => v.trim().length >= 2 || words.reason_short,
  };

  function clear(form) {
    form.querySelectorAll(".gg-error").forEach((e) => e.remove());
    form.querySelectorAll("[aria-invalid]").forEach((e) => e.removeAttribute("aria-invalid"));
    const msg = form.querySelector(".gg-msg");
    msg.textContent = ""; msg.className = "gg-msg";
  }

  function fieldOf(form, where) {
    // "body.id_number", "id_number", "body.key_groups.0": the first segment that names an input
    for (const part of String(where || "").split(".").reverse()) {
      const el = form.querySelector(`[name="${CSS.escape(part)}"]`);
      if (el) return el;
    }
    return null;
  }

  function mark(form, where, message) {
    const el = fieldOf(form, where);
    if (!el) return false;
    el.setAttribute("aria-invalid", "true");
    const note = document.createElement("span");
    note.className = "gg-error";
    note.textContent = message;
    const holder = el.closest(".gg-field, .gg-check");
    if (holder) holder.append(note); else el.after(note);
    return true;
  }

  function say(form, message, kind) {
    const msg = form.querySelector(".gg-msg");
    msg.textContent = message;
    msg.className = `gg-msg ${kind}`;
  }

  function changed(el) {
    if (el.type === "hidden") return true;
    if (el.type === "checkbox") return el.checked !== el.defaultChecked;
    if (el.tagName === "SELECT") return Array.from(el.options).some((o) => o.selected !== o.defaultSelected);
    return el.value !== el.defaultValue;
  }

  // the body the API reads: typed values, empty optional fields left out, only changed fields on a change
  function body(form) {
    const out = {}, onlyChanged = form.hasAttribute("data-changed-only");
    let problems = 0;
    for (const el of form.querySelectorAll("input[name], select[name], textarea[name]")) {
      const type = el.dataset.type, name = el.name, value = (el.value || "").trim();
      if (type === "list") { if (el.checked) (out[name] = out[name] || []).push(el.value); continue; }
      if (onlyChanged && name !== "reason" && !changed(el)) continue;
      if (type === "bool") { out[name] = el.checked; continue; }
      if (value === "") {
        if (el.required) problems += mark(form, name, words.required) ? 1 : 0;
        continue;
      }
      const check = CHECKS[el.dataset.check];
      const verdict = check ? check(value) : true;
      if (verdict !== true) { problems += mark(form, name, verdict) ? 1 : 0; continue; }
      out[name] = type === "int" ? parseInt(value, 10) : type === "float" ? parseFloat(value) : value;
    }
    return problems ? null : out;
  }

  function describeChanges(changes) {
    const list = document.createElement("ul");
    list.className = "gg-stale";
    for (const [field, pair] of Object.entries(changes || {})) {
      const item = document.createElement("li");
      const show = (v) => (v === null || v === undefined ? "—" : typeof v === "object" ? JSON.stringify(v) : String(v));
      item.textContent = `${field}: ${show(pair.before)} → ${show(pair.after)}`;
      list.append(item);
    }
    return list;
  }

  function refused(form, status, answer) {
    const detail = answer.detail || {};
    say(form, "", "");
    if (status === 409 && detail.changes) {
      say(form, `${local(answer.message)} ${words.stale}`, "gg-bad");
      form.querySelector(".gg-msg").append(describeChanges(detail.changes));
      if (detail.current && detail.current.version) form.dataset.etag = `"v${detail.current.version}"`;
      return;
    }
    const problems = detail.problems && detail.problems.length ? detail.problems
      : [{ where: answer.where, message: answer.message }];
    const unplaced = problems.filter((p) => !mark(form, p.where, local(p.message)));
    if (unplaced.length || !problems.length) say(form, unplaced.map((p) => local(p.message)).join("；") || local(answer.message), "gg-bad");
  }

  async function submit(event) {
    event.preventDefault();
    const form = event.target, button = form.querySelector("button[type=submit]");
    clear(form);
    const data = body(form);
    if (data === null) return;
    if (form.hasAttribute("data-changed-only") && Object.keys(data).every((k) => k === "reason")) {
      say(form, words.nothing_changed, "gg-bad");
      return;
    }
    form.dataset.key = form.dataset.key || uuid();  // kept until the API has answered this submission
    const headers = { "Content-Type": "application/json", "Idempotency-Key": form.dataset.key };
    if (form.dataset.etag) headers["If-Match"] = form.dataset.etag;
    button.disabled = true;
    say(form, words.saving, "");
    let answer, response;
    try {
      response = await fetch(form.dataset.action, { method: form.dataset.method, headers, body: JSON.stringify(data),
                                                    credentials: "same-origin" });
      answer = await response.json().catch(() => ({}));
    } catch (error) {
      button.disabled = false;
      say(form, words.retry, "gg-bad");
      return;
    }
    delete form.dataset.key;
    button.disabled = false;
    if (!response.ok) { refused(form, response.status, answer); return; }
    say(form, words.saved, "gg-good");
    const next = form.dataset.next;
    if (next === "reload") window.location.reload();
    else window.location.assign(next.replace("{id}", answer.id));
  }

  document.querySelectorAll("form.gg-form").forEach((form) => form.addEventListener("submit", submit));

  // a vacant flat of the diagram fills the new-household form
  document.querySelectorAll("button.gg-vacant").forEach((flat) => flat.addEventListener("click", () => {
    const form = document.getElementById("gg-add-household");
    if (!form) return;
    for (const name of ["entrance", "floor", "room"]) form.elements[name].value = flat.dataset[name];
    const box = document.getElementById("gg-add-household-box");
    box.open = true;
    box.scrollIntoView({ block: "start" });
    form.elements.occupancy.focus();
  }));
})();
