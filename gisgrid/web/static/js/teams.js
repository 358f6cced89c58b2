// The teams and accounts pages: every .gg-form sends its fields as JSON to its data-action and
// shows the API's answer: a refusal next to the field it names (`where`), a stale save (409) as
// what the other person changed (detail.changes), a success as a note kept across the reload.
(function () {
  "use strict";
  const T = JSON.parse(document.getElementById("gg-text").textContent);
  const lang = document.documentElement.lang.startsWith("zh") ? "zh" : "en";
  const FLASH = "gg-teams-flash";

  function words(message) {
    // "中文 / English": the half in the page's language
    const parts = String(message || "").split(" / ");
    return parts.length === 2 ? parts[lang === "zh" ? 0 : 1] : String(message || "");
  }

  function requestKey() {
    // one Idempotency-Key per submission (crypto.randomUUID needs a secure context; this does not)
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  function fields(form) {
    const body = {};
    for (const el of form.elements) {
      if (!el.name) continue;
      if (el.type === "checkbox") body[el.name] = el.checked;
      else if (el.value.trim() === "") continue;
      else body[el.name] = el.dataset.type === "int" ? Number(el.value) : el.value.trim();
    }
    return body;
  }

  function clear(form) {
    form.querySelectorAll(".gg-error").forEach((el) => { el.textContent = ""; });
    const stale = form.querySelector(".gg-stale");
    if (stale) { stale.hidden = true; stale.textContent = ""; }
  }

  function place(form, where, message) {
    const name = String(where || "body").split(".").pop();
    const slot = form.querySelector(`.gg-error[data-for="${name}"]`) || form.querySelector('.gg-error[data-for="body"]')
      || form.querySelector(".gg-error");
    if (slot) slot.textContent = (slot.textContent ? slot.textContent + " " : "") + words(message);
  }

  function showStale(form, answer) {
    const detail = answer.detail || {};
    const box = form.querySelector(".gg-stale");
    if (detail.current && detail.current.version) form.dataset.version = detail.current.version;
    if (!box) return false;
    box.textContent = words(answer.message) + " " + T.stale;
    const list = document.createElement("ul");
    for (const [field, change] of Object.entries(detail.changes || {})) {
      const item = document.createElement("li");
      item.textContent = `${field}: ${change.before ?? "—"} → ${change.after ?? "—"}`;
      list.appendChild(item);
    }
    box.appendChild(list);
    box.hidden = false;
    return true;
  }

  function summary(answer) {
    const notes = [T.saved];
    if (answer.replaced) notes.push(`${T.replaced} ${answer.replaced.grid_code}`);
    if (answer.without_lead && answer.without_lead.length) {
      notes.push(T.left_without + " " + answer.without_lead.map((g) => `${g.code} ${g.name}`).join("、"));
    }
    return notes.join(" ");
  }

  async function submit(event) {
    const form = event.target;
    event.preventDefault();
    clear(form);
    const headers = { "Content-Type": "application/json", "Idempotency-Key": requestKey() };
    if (form.dataset.version) headers["If-Match"] = `"v${form.dataset.version}"`;
    const button = form.querySelector("button[type=submit]");
    if (button) button.disabled = true;
    try {
      const response = await fetch(form.dataset.action, {
        method: form.dataset.method, headers, credentials: "same-origin", body: JSON.stringify(fields(form)),
      });
      const answer = await response.json().catch(() => ({}));
      if (response.ok) {
        sessionStorage.setItem(FLASH, summary(answer));
        location.reload();
        return;
      }
      if (response.status === 409 && showStale(form, answer)) return;
      const problems = (answer.detail && answer.detail.problems) || [{ where: answer.where, message: answer.message }];
      problems.forEach((p) => place(form, p.where, p.message));
    } catch (error) {
      place(form, "body", String(error));
    } finally {
      if (button) button.disabled = false;
    }
  }

  document.querySelectorAll("form.gg-form").forEach((form) => form.addEventListener("submit", submit));
  const flash = sessionStorage.getItem(FLASH);
  if (flash) {
    sessionStorage.removeItem(FLASH);
    const box = document.getElementById("gg-flash");
    box.textContent = flash;
    box.hidden = false;
  }
  document.querySelectorAll('input[type=date]:not([value])').forEach((el) => {
    if (!el.value) el.valueAsDate = new Date();
  });
})();
