// What every staff page's script shares (field, desk), as window.gisgridPage: the page's config,
// the reader's half of the API's bilingual messages, a key per submission, and a JSON call to
// the API that answers {status: 0} when the connection dropped, so the caller keeps its key and
// sends the same submission again.
(function () {
  "use strict";
  const cfg = JSON.parse(document.getElementById("gg-config").textContent);

  // the API's messages are "中文 / English": show the reader's half
  function local(message) {
    const text = String(message || "");
    // " / " between the halves, or "/ " after closing Chinese punctuation: "…（你的是 v2）/ …"
    const halves = text.match(/^(.*?)(?: \/ |(?<=[）」)])\/ )(.*)$/s);
    if (!halves) return text;
    return cfg.lang === "zh" ? halves[1] : halves[2];
  }

  function uuid() {
    if (window.crypto.randomUUID) return window.crypto.randomUUID();
    const b = window.crypto.getRandomValues(new Uint8Array(16));  // plain http on an office network
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  // {status, ok, answer}, or {status: 0} when the connection dropped
  async function call(method, url, body, headers) {
    const all = Object.assign({}, headers || {});
    let payload = body;
    if (body !== undefined && !(body instanceof FormData)) { all["Content-Type"] = "application/json"; payload = JSON.stringify(body); }
    try {
      const response = await fetch(url, { method, headers: all, body: payload, credentials: "same-origin" });
      const answer = await response.json().catch(() => ({}));
      return { status: response.status, ok: response.ok, answer };
    } catch (error) {
      return { status: 0, ok: false, answer: {} };
    }
  }

  window.gisgridPage = { cfg, words: cfg.words, local, uuid, call };
})();
