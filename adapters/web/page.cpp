#include "adapters/web/web.hpp"

namespace aula {

// One self-contained page: no external scripts, fonts or styles (learners on weak
// connections; the page must work offline of any CDN). Text is always inserted with
// textContent, never as HTML, so nothing a learner or a flow says can run as code.
const std::string& web_chat_page() {
  static const std::string page = R"PAGE(<!doctype html>
<html lang="es">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>aula</title>
<style>
  :root { --bg: #f4f1ea; --me: #dcf3d6; --aula: #ffffff; --accent: #1f6f5c; --text: #1d1d1b; }
  * { box-sizing: border-box; }
  html, body { height: 100%; margin: 0; }
  body { font: 16px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--text);
         background: var(--bg); display: flex; flex-direction: column; }
  header { background: var(--accent); color: #fff; padding: 10px 14px; display: flex; align-items: center; gap: 10px; }
  header h1 { font-size: 18px; margin: 0; flex: 1; }
  header button { background: transparent; color: #fff; border: 1px solid #fff8; border-radius: 6px; padding: 4px 8px; }
  header button[aria-pressed="true"] { background: #fff3; }
  #messages { flex: 1; overflow-y: auto; padding: 12px; display: flex; flex-direction: column; gap: 8px; }
  .msg { max-width: 85%; padding: 8px 11px; border-radius: 10px; white-space: pre-wrap; overflow-wrap: anywhere;
         box-shadow: 0 1px 1px #0001; }
  .msg.aula { background: var(--aula); align-self: flex-start; }
  .msg.learner { background: var(--me); align-self: flex-end; }
  .msg img { max-width: 100%; border-radius: 6px; display: block; margin-bottom: 6px; }
  .msg audio { width: 100%; margin-bottom: 6px; }
  .choices { display: flex; flex-wrap: wrap; gap: 6px; margin-top: 8px; }
  .choices button { border: 1px solid var(--accent); color: var(--accent); background: #fff; border-radius: 16px;
                    padding: 6px 12px; font: inherit; cursor: pointer; }
  .choices button:disabled { opacity: .45; cursor: default; }
  form { display: flex; gap: 8px; padding: 10px; background: #fff; border-top: 1px solid #0001; }
  #text { flex: 1; font: inherit; padding: 10px; border: 1px solid #0003; border-radius: 20px; }
  #send { font: inherit; background: var(--accent); color: #fff; border: 0; border-radius: 20px; padding: 0 16px; }
  #status { font-size: 13px; color: #a33; padding: 0 12px; min-height: 1em; }
</style>
</head>
<body>
<header>
  <h1 id="title">aula</h1>
  <button type="button" id="lang-es" aria-pressed="false">ES</button>
  <button type="button" id="lang-en" aria-pressed="false">EN</button>
</header>
<main id="messages" aria-live="polite"></main>
<div id="status" role="status"></div>
<form id="composer" autocomplete="off">
  <input id="text" name="text" maxlength="4096" aria-label="Mensaje">
  <button id="send" type="submit">Enviar</button>
</form>
<script>
(function () {
  "use strict";
  var ui = {
    es: { title: "Curso", preview: "Vista previa de un borrador (no cuenta en los reportes)", placeholder: "Escribe tu respuesta…", send: "Enviar", offline: "Sin conexión; reintentando…" },
    en: { title: "Course", preview: "Draft preview (not counted in reports)", placeholder: "Type your answer…", send: "Send", offline: "Offline; retrying…" }
  };
  var params = new URLSearchParams(location.search);
  var flow = params.get("flow") || "";
  var lang = params.get("lang") || localStorage.getItem("aula.lang") ||
             ((navigator.language || "es").toLowerCase().indexOf("en") === 0 ? "en" : "es");
  if (!ui[lang]) lang = "es";

  function newId() {
    var b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return Array.prototype.map.call(b, function (x) { return ("0" + x.toString(16)).slice(-2); }).join("");
  }
  var learner = localStorage.getItem("aula.learner");
  if (!/^[0-9a-f]{32}$/.test(learner || "")) { learner = newId(); localStorage.setItem("aula.learner", learner); }
  // A draft preview (opened from a link an administrator made): its own learner, not stored.
  var preview = /^#(preview-[0-9a-f]{32})$/.exec(location.hash);
  if (preview) { learner = preview[1]; }
  var after = "";
  var box = document.getElementById("messages");
  var statusEl = document.getElementById("status");

  function applyLang() {
    document.documentElement.lang = lang;
    document.getElementById("title").textContent = preview ? ui[lang].preview : ui[lang].title;
    document.getElementById("text").placeholder = ui[lang].placeholder;
    document.getElementById("send").textContent = ui[lang].send;
    document.getElementById("lang-es").setAttribute("aria-pressed", lang === "es");
    document.getElementById("lang-en").setAttribute("aria-pressed", lang === "en");
    localStorage.setItem("aula.lang", lang);
  }

  function bubble(who, text) {
    var d = document.createElement("div");
    d.className = "msg " + who;
    if (text) d.appendChild(document.createTextNode(text));
    box.appendChild(d);
    box.scrollTop = box.scrollHeight;
    return d;
  }

  function disableOldChoices() {
    var old = box.querySelectorAll(".choices button");
    for (var i = 0; i < old.length; i++) old[i].disabled = true;
  }

  function showAula(m) {
    disableOldChoices();
    var d = bubble("aula", "");
    if (m.media) {
      var mediaEl;
      if (m.media.type === "image") { mediaEl = document.createElement("img"); mediaEl.src = m.media.url; mediaEl.alt = m.text || ""; }
      else if (m.media.type === "audio") { mediaEl = document.createElement("audio"); mediaEl.controls = true; mediaEl.src = m.media.url; }
      else { mediaEl = document.createElement("a"); mediaEl.href = m.media.url; mediaEl.target = "_blank"; mediaEl.rel = "noopener";
             mediaEl.textContent = "📄 " + (m.media.filename || m.media.url); }
      d.appendChild(mediaEl);
    }
    if (m.text) d.appendChild(document.createTextNode(m.text));
    if (m.choices && m.choices.length) {
      var row = document.createElement("div");
      row.className = "choices";
      m.choices.forEach(function (c) {
        var b = document.createElement("button");
        b.type = "button";
        b.textContent = c.label;
        b.dataset.ref = c.ref;
        b.addEventListener("click", function () {
          disableOldChoices();
          bubble("learner", c.label);
          post({ choice: c.ref });
        });
        row.appendChild(b);
      });
      d.appendChild(row);
    }
    box.scrollTop = box.scrollHeight;
  }

  function post(body) {
    body.learner = learner;
    body.lang = lang;
    body.id = newId();
    return fetch("/chat/api/send", { method: "POST", headers: { "Content-Type": "application/json" },
                                     body: JSON.stringify(body) })
      .then(function (r) { if (!r.ok) throw new Error(r.status); statusEl.textContent = ""; poll(true); })
      .catch(function () { statusEl.textContent = ui[lang].offline; setTimeout(function () { post(body); }, 2000); });
  }

  var polling = false;
  function poll(once) {
    if (polling && !once) return;
    polling = true;
    fetch("/chat/api/poll?learner=" + learner + "&after=" + encodeURIComponent(after))
      .then(function (r) { return r.json(); })
      .then(function (j) {
        statusEl.textContent = "";
        (j.messages || []).forEach(function (e) { after = e.id; showAula(e.msg); });
      })
      .catch(function () { statusEl.textContent = ui[lang].offline; })
      .then(function () { polling = false; });
  }

  document.getElementById("composer").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var input = document.getElementById("text");
    var t = input.value;
    if (!t.trim()) return;
    input.value = "";
    bubble("learner", t);
    post({ text: t });
  });
  document.getElementById("lang-es").addEventListener("click", function () { lang = "es"; applyLang(); });
  document.getElementById("lang-en").addEventListener("click", function () { lang = "en"; applyLang(); });

  applyLang();
  var startedKey = "aula.started." + flow;
  // A preview's draft was already started by the administrator's request: only read it.
  if (!preview && !localStorage.getItem(startedKey)) {
    localStorage.setItem(startedKey, "1");
    post(flow ? { start: flow } : { text: "MENU" });
  } else {
    poll(true);
  }
  setInterval(function () { poll(false); }, 1000);
})();
</script>
</body>
</html>
)PAGE";
  return page;
}

}  // namespace aula
