#include "bot/cli/dashboard.hpp"

namespace aula::cli {

// The dashboard: one self-contained page, like the web chat's (adapters/web/page.cpp): no
// external scripts, fonts, styles or images, so it works on a closed network and leaks nothing
// to a CDN. It asks for the person's admin token, keeps it in sessionStorage (this tab only) and
// sends it as a bearer header on every call to /admin/…. Everything the API says (names,
// question texts, free-text answers, errors) is inserted with textContent, never as HTML; the
// charts are SVG built with createElementNS, each with the numbers beside it as text.
const std::string& dashboard_page() {
  static const std::string page = R"PAGE(<!doctype html>
<html lang="es">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>aula · panel</title>
<style>
  :root { --bg: #f4f1ea; --card: #ffffff; --accent: #1f6f5c; --accent-dark: #174f42; --text: #1d1d1b;
          --muted: #4a4a45; --line: #d6d2c8; --track: #e4e0d6; --bad: #b3261e; --bad-text: #8c1d18;
          --bad-bg: #fdecea; --ok-bg: #e2f1ec; --ok-text: #14513f; --link: #0b5cad; --other: #6b6b6b; }
  * { box-sizing: border-box; }
  html { -webkit-text-size-adjust: 100%; }
  body { margin: 0; font: 16px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--text);
         background: var(--bg); }
  [hidden] { display: none !important; }
  a { color: var(--link); }
  :focus-visible { outline: 3px solid var(--text); outline-offset: 2px; }
  .skip { position: absolute; left: 8px; top: -60px; background: #fff; color: var(--text); padding: 8px 12px;
          border-radius: 6px; z-index: 10; }
  .skip:focus { top: 8px; }
  main:focus { outline: none; }
  header { background: var(--accent); color: #fff; padding: 10px 16px; display: flex; flex-wrap: wrap;
           align-items: center; gap: 8px; }
  header h1 { font-size: 20px; margin: 0; flex: 1 1 auto; }
  header .who { font-size: 14px; }
  header button { font: inherit; font-size: 15px; background: transparent; color: #fff; border: 1px solid #fff;
                  border-radius: 6px; padding: 6px 10px; min-height: 40px; cursor: pointer; }
  header button[aria-pressed="true"] { background: #fff; color: var(--accent-dark); }
  header :focus-visible { outline-color: #fff; }
  main { max-width: 1200px; margin: 0 auto; padding: 16px; }
  #login { max-width: 440px; margin: 32px auto; }
  #app { display: grid; gap: 16px; grid-template-columns: minmax(0, 1fr); }
  @media (min-width: 700px) {
    #app { grid-template-columns: repeat(2, minmax(0, 1fr)); }
    #app > .wide { grid-column: 1 / -1; }
  }
  section, .card { background: var(--card); border-radius: 10px; padding: 16px; box-shadow: 0 1px 2px #0002; min-width: 0; }
  h2 { font-size: 20px; margin: 0 0 12px; color: var(--accent-dark); }
  h3 { font-size: 16px; margin: 14px 0 6px; }
  h4 { font-size: 15px; margin: 10px 0 4px; color: var(--muted); }
  p { margin: 6px 0; }
  .toolbar { display: flex; flex-wrap: wrap; gap: 10px 16px; align-items: flex-end; }
  .toolbar nav { flex: 1 1 100%; font-size: 15px; }
  .toolbar nav ul { list-style: none; margin: 0; padding: 0; display: flex; flex-wrap: wrap; gap: 4px 14px; }
  .controls { display: flex; flex-wrap: wrap; gap: 8px 12px; align-items: flex-end; margin-bottom: 10px; }
  .field { display: flex; flex-direction: column; gap: 4px; min-width: 0; max-width: 100%; }
  label { font-weight: 600; font-size: 15px; }
  .hint { font-size: 14px; color: var(--muted); }
  input, select { font: inherit; color: var(--text); background: #fff; border: 1px solid #767676; border-radius: 6px;
                  padding: 8px 10px; min-height: 44px; max-width: 100%; }
  input[type="password"], #conv { width: 100%; }
  button { font: inherit; min-height: 44px; padding: 8px 14px; border-radius: 6px; border: 1px solid var(--accent);
           background: var(--accent); color: #fff; cursor: pointer; }
  button.secondary { background: #fff; color: var(--accent-dark); }
  button.link { background: none; border: 0; color: var(--link); text-decoration: underline; padding: 4px 2px; min-height: 0;
                text-align: left; }
  button:disabled { opacity: .6; cursor: default; }
  .row { display: grid; grid-template-columns: minmax(0, 15em) minmax(60px, 1fr) auto; gap: 2px 10px;
         align-items: center; margin: 6px 0; }
  .row .label { overflow-wrap: anywhere; }
  .row .val { white-space: nowrap; font-variant-numeric: tabular-nums; }
  @media (max-width: 699px) {
    main { padding: 10px; }
    section, .card { padding: 12px; }
    .row { grid-template-columns: minmax(0, 1fr) auto; }
    .row .label { grid-column: 1 / -1; }
  }
  svg.bar { display: block; width: 100%; height: 16px; }
  svg.bar .track { fill: var(--track); }
  svg.bar .fill { fill: var(--accent); }
  .row.started svg.bar .fill { fill: #3c8d77; }
  .row.enrolled svg.bar .fill { fill: #5b6b66; }
  .row.wrong svg.bar .fill { fill: var(--other); }
  .row.confusing svg.bar .fill { fill: var(--bad); }
  .row.confusing .label { font-weight: 600; }
  .tag { display: inline-block; font-size: 13px; font-weight: 600; padding: 0 6px; border-radius: 4px; margin-left: 6px; }
  .tag.ok { background: var(--ok-bg); color: var(--ok-text); }
  .tag.bad { background: var(--bad-bg); color: var(--bad-text); }
  .error { color: var(--bad-text); background: var(--bad-bg); border-left: 4px solid var(--bad); padding: 8px 10px;
           border-radius: 4px; overflow-wrap: anywhere; }
  .muted { color: var(--muted); }
  .empty { color: var(--muted); font-style: italic; }
  .big { font-size: 28px; font-weight: 700; }
  .table-wrap { overflow-x: auto; max-width: 100%; }
  table { border-collapse: collapse; width: 100%; font-size: 15px; }
  caption { text-align: left; font-weight: 600; padding: 4px 0; }
  th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
  th { background: #f7f5f0; font-weight: 600; }
  td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
  .item { border-top: 1px solid var(--line); margin-top: 12px; padding-top: 6px; }
  .first-correct { font-weight: 700; white-space: nowrap; }
  ul.plain, ol.rank { padding-left: 1.4em; margin: 6px 0; }
  ul.texts li { white-space: pre-wrap; overflow-wrap: anywhere; margin: 3px 0; }
  ol.timeline { list-style: none; padding: 0; margin: 6px 0; }
  ol.timeline li { padding: 6px 0; border-bottom: 1px solid var(--line); overflow-wrap: anywhere; }
  ol.timeline time { color: var(--muted); font-size: 14px; margin-right: 8px; white-space: nowrap; }
  .kind { font-weight: 600; margin-right: 6px; }
  dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 6px 0; }
  dl.facts dt { font-weight: 600; } dl.facts dd { margin: 0; overflow-wrap: anywhere; }
  .confirm { border: 1px solid var(--line); background: #fffbe6; padding: 10px 12px; border-radius: 6px; margin: 8px 0; }
  .buttons { display: flex; flex-wrap: wrap; gap: 8px; }
  .live { min-height: 1.5em; font-weight: 600; margin-top: 8px; overflow-wrap: anywhere; }
  .csv { margin-top: 10px; }
  .vh { position: absolute !important; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
</style>
</head>
<body>
<a class="skip" href="#main" data-t="skip">Saltar al contenido</a>
<header>
  <h1 id="title" data-t="title">aula · panel</h1>
  <span class="who" id="who"></span>
  <button type="button" id="lang-es" aria-pressed="true" lang="es">Español</button>
  <button type="button" id="lang-en" aria-pressed="false" lang="en">English</button>
  <button type="button" id="logout" data-t="logout" hidden>Salir</button>
</header>
<main id="main" tabindex="-1">

<section id="login" aria-labelledby="login-title">
  <h2 id="login-title" data-t="loginTitle">Entrar al panel</h2>
  <form id="login-form" autocomplete="off" novalidate>
    <div class="field">
      <label for="token" data-t="tokenLabel">Tu token de administración</label>
      <input type="password" id="token" name="token" autocomplete="current-password" spellcheck="false"
             aria-describedby="token-hint login-msg">
      <span class="hint" id="token-hint" data-t="tokenHint">Lo da quien administra aula. Se guarda solo en esta pestaña.</span>
    </div>
    <p class="controls"><button type="submit" id="login-btn" data-t="enter">Entrar</button></p>
    <p id="login-msg" class="error" role="alert" hidden></p>
  </form>
</section>

<div id="app" hidden>
  <div class="card wide toolbar">
    <div class="field">
      <label for="cohort" data-t="cohort">Cohorte</label>
      <select id="cohort"></select>
    </div>
    <button type="button" class="secondary" id="refresh" data-t="refresh">Actualizar</button>
    <p id="app-msg" class="error" role="alert" hidden></p>
    <nav aria-labelledby="nav-title">
      <span class="vh" id="nav-title" data-t="sections">Secciones</span>
      <ul>
        <li><a href="#sec-progress" data-t="progressTitle">Avance</a></li>
        <li><a href="#sec-funnel" data-t="funnelTitle">Embudo</a></li>
        <li><a href="#sec-items" data-t="itemsTitle">Preguntas</a></li>
        <li><a href="#sec-diagnosis" data-t="diagTitle">Diagnóstico</a></li>
        <li><a href="#sec-survey" data-t="surveyTitle">Encuestas</a></li>
        <li><a href="#sec-learner" data-t="learnerTitle">Participante</a></li>
        <li><a href="#sec-actions" data-t="actionsTitle">Acciones</a></li>
      </ul>
    </nav>
  </div>

  <section id="sec-progress" class="wide" aria-labelledby="h-progress" aria-busy="false">
    <h2 id="h-progress" data-t="progressTitle">Avance de la cohorte</h2>
    <p class="error" role="alert" hidden></p>
    <div class="out" id="progress-out"></div>
    <button type="button" class="secondary csv" data-t="csv">Descargar CSV</button>
  </section>

  <section id="sec-funnel" aria-labelledby="h-funnel" aria-busy="false">
    <h2 id="h-funnel" data-t="funnelTitle">Embudo por módulo</h2>
    <div class="controls">
      <div class="field">
        <label for="course" data-t="course">Curso</label>
        <select id="course"></select>
      </div>
    </div>
    <p class="error" role="alert" hidden></p>
    <div class="out" id="funnel-out"></div>
    <button type="button" class="secondary csv" data-t="csv">Descargar CSV</button>
  </section>

  <section id="sec-diagnosis" aria-labelledby="h-diagnosis" aria-busy="false">
    <h2 id="h-diagnosis" data-t="diagTitle">Diagnóstico de necesidades</h2>
    <p class="error" role="alert" hidden></p>
    <div class="out" id="diagnosis-out"></div>
    <button type="button" class="secondary csv" data-t="csv">Descargar CSV</button>
  </section>

  <section id="sec-items" class="wide" aria-labelledby="h-items" aria-busy="false">
    <h2 id="h-items" data-t="itemsTitle">Preguntas del quiz</h2>
    <div class="controls">
      <div class="field">
        <label for="quiz-flow" data-t="quizFlow">Lección con quiz</label>
        <select id="quiz-flow"></select>
      </div>
    </div>
    <p class="error" role="alert" hidden></p>
    <div class="out" id="items-out"></div>
    <button type="button" class="secondary csv" data-t="csv">Descargar CSV</button>
  </section>

  <section id="sec-survey" class="wide" aria-labelledby="h-survey" aria-busy="false">
    <h2 id="h-survey" data-t="surveyTitle">Resultados de encuestas</h2>
    <div class="controls">
      <div class="field">
        <label for="survey-flow" data-t="surveyFlow">Encuesta</label>
        <select id="survey-flow"></select>
      </div>
    </div>
    <p class="error" role="alert" hidden></p>
    <div class="out" id="survey-out"></div>
    <button type="button" class="secondary csv" data-t="csv">Descargar CSV</button>
  </section>

  <section id="sec-learner" aria-labelledby="h-learner" aria-busy="false">
    <h2 id="h-learner" data-t="learnerTitle">Historial de un participante</h2>
    <form id="learner-form" class="controls" autocomplete="off">
      <div class="field" style="flex: 1 1 14em">
        <label for="conv" data-t="learnerLabel">Participante: canal:dirección</label>
        <input id="conv" name="conv" spellcheck="false" aria-describedby="conv-hint">
        <span class="hint" id="conv-hint" data-t="learnerHint">Por ejemplo telegram:123456 o whatsapp:+5215512345678</span>
      </div>
      <button type="submit" id="learner-btn" data-t="show">Ver</button>
    </form>
    <p class="error" role="alert" hidden></p>
    <div class="out" id="learner-out"></div>
  </section>

  <section id="sec-actions" aria-labelledby="h-actions">
    <h2 id="h-actions" data-t="actionsTitle">Acciones</h2>
    <h3 data-t="remindTitle">Recordatorio a la cohorte</h3>
    <p class="muted" id="remind-what"></p>
    <button type="button" id="remind" data-t="remind">Enviar recordatorio</button>
    <div class="confirm" id="remind-confirm" hidden>
      <p id="remind-question"></p>
      <div class="buttons">
        <button type="button" id="remind-yes" data-t="confirm">Sí, enviar</button>
        <button type="button" class="secondary" id="remind-no" data-t="cancel">Cancelar</button>
      </div>
    </div>
    <h3 data-t="previewTitle">Borradores</h3>
    <div class="controls">
      <div class="field">
        <label for="draft" data-t="draft">Borrador</label>
        <select id="draft"></select>
      </div>
      <button type="button" id="preview" data-t="preview">Previsualizar borrador</button>
    </div>
    <p id="preview-out"></p>
    <p class="error" role="alert" hidden></p>
    <p id="actions-live" class="live" role="status" aria-live="polite"></p>
  </section>
</div>
</main>
<script>
(function () {
  "use strict";
  var T = {
    es: {
      skip: "Saltar al contenido", title: "aula · panel", logout: "Salir", loginTitle: "Entrar al panel",
      tokenLabel: "Tu token de administración",
      tokenHint: "Lo da quien administra aula. Se guarda solo en esta pestaña.", enter: "Entrar",
      needToken: "Escribe tu token.", badToken: "Ese token no es válido o ya no sirve. Escríbelo de nuevo.",
      loggedOut: "Cerraste la sesión.", forbidden: "No tienes acceso a esto", offline: "No hay conexión con aula. Inténtalo de nuevo.",
      httpError: "Error {status}", who: "{name} ({role})", cohort: "Cohorte", noCohort: "(sin cohortes)",
      refresh: "Actualizar", sections: "Secciones", loading: "Cargando…", none: "Todavía no hay datos.",
      csv: "Descargar CSV", csvDone: "Descarga lista: {file}",
      progressTitle: "Avance de la cohorte", byCourse: "Terminaron el curso", ofPct: "{a} de {b} ({p})",
      learners: "Participantes", colName: "Nombre", colState: "Estado", colCourse: "Curso", colModules: "Módulos",
      colStatus: "Situación", colScore: "Puntaje", colLearners: "Participantes", colCompleted: "Terminaron",
      byState: "Por estado", timelineOf: "Ver historial de {name}", noState: "(sin estado)",
      funnelTitle: "Embudo por módulo", course: "Curso", enrolledCourse: "Inscritos en el curso: {n}",
      moduleN: "Módulo {n}: {name}", enrolled: "Inscritos", started: "Iniciaron", completed: "Terminaron",
      dropOff: "Dónde se quedaron", dropNode: "{node}: {n}", dropNone: "Nadie se quedó a medias.",
      dropStart: "(antes de la primera pregunta)",
      itemsTitle: "Preguntas del quiz", quizFlow: "Lección con quiz", firstCorrect: "Correctas al primer intento",
      firstOf: "({a} de {b})", chosen: "Opciones elegidas (todos los intentos)", correctTag: "✓ correcta",
      confusingTag: "⚠ confusa: la equivocada más elegida", noQuizFlows: "No hay lecciones con quiz.",
      diagTitle: "Diagnóstico de necesidades", diagNote: "Temas de mayor a menor necesidad: el promedio más bajo de autoevaluación primero (1 = nada, 5 = muy bien).",
      meanOf: "{m} de {max} · {n} resp.", chosenTopics: "Temas que más pidieron", topic: "Tema",
      surveyTitle: "Resultados de encuestas", surveyFlow: "Encuesta", responses: "{n} respuestas",
      meanLine: "Promedio {m} (mínimo {min}, máximo {max}; {n} respuestas)", openAnswers: "Respuestas abiertas",
      times: "×{n}", nps: "NPS", promoters: "Promotores (9-10)", passives: "Pasivos (7-8)", detractors: "Detractores (0-6)",
      noSurveyFlows: "No hay encuestas.",
      learnerTitle: "Historial de un participante", learnerLabel: "Participante: canal:dirección",
      learnerHint: "Por ejemplo telegram:123456 o whatsapp:+5215512345678", show: "Ver",
      needConv: "Escribe el participante como canal:dirección.", status: "Situación", name: "Nombre",
      language: "Idioma", courses: "Cursos", timeline: "Historial", noTimeline: "Sin registros recientes.",
      courseLine: "{course}: {status}, módulo {module} de {total}", deadLetters: "Mensajes no entregados: {n}",
      actionsTitle: "Acciones", remindTitle: "Recordatorio a la cohorte",
      remindWhat: "Para quienes llevan 48 horas sin responder en la cohorte «{c}».", remind: "Enviar recordatorio",
      remindQuestion: "¿Enviar un recordatorio a quienes llevan 48 horas sin responder en la cohorte «{c}»?",
      confirm: "Sí, enviar", cancel: "Cancelar", reminded: "Recordatorio programado ({id})", sending: "Enviando…",
      previewTitle: "Borradores", draft: "Borrador", preview: "Previsualizar borrador", noDrafts: "(no hay borradores en flows/drafts/)",
      previewReady: "Vista previa lista: ", openPreview: "abrir el borrador en el chat web",
      previewLive: "Vista previa lista para {flow}.",
      st: { active: "en curso", completed: "terminado", not_met: "terminó sin la nota mínima", failed: "no aprobó",
            stopped: "se dio de baja", unreachable: "sin entrega", started: "iniciado", enrolled: "inscrito",
            answered: "respondió", correct: "correcta", incorrect: "incorrecta", skipped: "omitida", sent: "enviado",
            delivered: "entregado", read: "leído", "": "—" },
      rec: { enrolled: "Inscripción", start: "Inicio", end: "Fin", answer: "Respuesta", quiz: "Quiz", module: "Módulo",
             course: "Curso", nudge: "Recordatorio", sent: "Enviado", delivery: "Entrega", migrated: "Migración",
             timeout: "Sin respuesta", optout: "Baja" }
    },
    en: {
      skip: "Skip to content", title: "aula · dashboard", logout: "Log out", loginTitle: "Log in to the dashboard",
      tokenLabel: "Your admin token",
      tokenHint: "Your aula administrator gives it to you. It is kept in this tab only.", enter: "Log in",
      needToken: "Type your token.", badToken: "That token is not valid or no longer works. Type it again.",
      loggedOut: "You logged out.", forbidden: "Not allowed", offline: "No connection to aula. Try again.",
      httpError: "Error {status}", who: "{name} ({role})", cohort: "Cohort", noCohort: "(no cohorts)",
      refresh: "Refresh", sections: "Sections", loading: "Loading…", none: "No data yet.",
      csv: "Download CSV", csvDone: "Download ready: {file}",
      progressTitle: "Cohort progress", byCourse: "Finished the course", ofPct: "{a} of {b} ({p})",
      learners: "Learners", colName: "Name", colState: "State", colCourse: "Course", colModules: "Modules",
      colStatus: "Status", colScore: "Score", colLearners: "Learners", colCompleted: "Finished",
      byState: "By state", timelineOf: "See {name}'s timeline", noState: "(no state)",
      funnelTitle: "Funnel by module", course: "Course", enrolledCourse: "Enrolled in the course: {n}",
      moduleN: "Module {n}: {name}", enrolled: "Enrolled", started: "Started", completed: "Completed",
      dropOff: "Where they stopped", dropNode: "{node}: {n}", dropNone: "Nobody stopped half-way.",
      dropStart: "(before the first question)",
      itemsTitle: "Quiz questions", quizFlow: "Lesson with a quiz", firstCorrect: "Right at the first attempt",
      firstOf: "({a} of {b})", chosen: "Options chosen (every attempt)", correctTag: "✓ right",
      confusingTag: "⚠ confusing: the most chosen wrong answer", noQuizFlows: "No lessons with a quiz.",
      diagTitle: "Needs diagnosis", diagNote: "Topics from most to least needed: the lowest self-rated knowledge first (1 = none, 5 = very good).",
      meanOf: "{m} of {max} · {n} resp.", chosenTopics: "Topics most asked for", topic: "Topic",
      surveyTitle: "Survey results", surveyFlow: "Survey", responses: "{n} responses",
      meanLine: "Mean {m} (minimum {min}, maximum {max}; {n} responses)", openAnswers: "Free-text answers",
      times: "×{n}", nps: "NPS", promoters: "Promoters (9-10)", passives: "Passives (7-8)", detractors: "Detractors (0-6)",
      noSurveyFlows: "No surveys.",
      learnerTitle: "A learner's timeline", learnerLabel: "Learner: channel:address",
      learnerHint: "For example telegram:123456 or whatsapp:+5215512345678", show: "Show",
      needConv: "Write the learner as channel:address.", status: "Status", name: "Name",
      language: "Language", courses: "Courses", timeline: "Timeline", noTimeline: "No recent records.",
      courseLine: "{course}: {status}, module {module} of {total}", deadLetters: "Undelivered messages: {n}",
      actionsTitle: "Actions", remindTitle: "Remind the cohort",
      remindWhat: "For those who have not answered for 48 hours in cohort “{c}”.", remind: "Send reminder",
      remindQuestion: "Send a reminder to those who have not answered for 48 hours in cohort “{c}”?",
      confirm: "Yes, send", cancel: "Cancel", reminded: "Reminder scheduled ({id})", sending: "Sending…",
      previewTitle: "Drafts", draft: "Draft", preview: "Preview draft", noDrafts: "(no drafts in flows/drafts/)",
      previewReady: "Preview ready: ", openPreview: "open the draft in the web chat",
      previewLive: "Preview ready for {flow}.",
      st: { active: "in progress", completed: "completed", not_met: "finished below the pass mark", failed: "failed",
            stopped: "opted out", unreachable: "unreachable", started: "started", enrolled: "enrolled",
            answered: "answered", correct: "right", incorrect: "wrong", skipped: "skipped", sent: "sent",
            delivered: "delivered", read: "read", "": "—" },
      rec: { enrolled: "Enrolment", start: "Start", end: "End", answer: "Answer", quiz: "Quiz", module: "Module",
             course: "Course", nudge: "Nudge", sent: "Sent", delivery: "Delivery", migrated: "Migration",
             timeout: "No answer", optout: "Opt-out" }
    }
  };
  var SVGNS = "http" + "://www.w3.org/2000/svg";
  var TOKEN_KEY = "aula.dashboard.token";
  var lang = localStorage.getItem("aula.dashboard.lang");
  if (!T[lang]) lang = "es";  // Spanish unless the person chose English here before

  function $(id) { return document.getElementById(id); }
  function t(key, vars) {
    var s = T[lang][key] !== undefined ? T[lang][key] : T.es[key];
    if (s === undefined) return key;
    return vars ? s.replace(/\{(\w+)\}/g, function (m, k) { return vars[k] !== undefined && vars[k] !== null ? String(vars[k]) : m; }) : s;
  }
  function statusText(s) { var d = T[lang].st; return s == null ? "—" : (d[s] !== undefined ? d[s] : String(s)); }
  function recText(s) { var d = T[lang].rec; return d[s] !== undefined ? d[s] : String(s || ""); }
  function txt(v) {
    if (v == null) return "";
    if (typeof v === "object") return v[lang] || v.es || v.en || "";
    return String(v);
  }
  function valueText(v) { return v == null ? "" : typeof v === "object" ? JSON.stringify(v) : String(v); }
  function el(tag, props, kids) {
    var e = document.createElement(tag);
    if (props) Object.keys(props).forEach(function (k) {
      if (props[k] == null) return;
      if (k === "text") e.textContent = props[k];
      else if (k === "class") e.className = props[k];
      else e.setAttribute(k, props[k]);
    });
    (kids || []).forEach(function (c) { if (c != null) e.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return e;
  }
  function clear(n) { while (n.firstChild) n.removeChild(n.firstChild); }
  function n(x) { return Number(x) || 0; }
  function pctOf(a, b) { return b > 0 ? Math.round(100 * a / b) : 0; }
  function pctText(p) { return p + " %"; }
  function dec(x) { return Number(x).toLocaleString(lang, { maximumFractionDigits: 1 }); }
  function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }
  function cohort() { return $("cohort").value || ""; }
  function q(params) {
    var parts = [];
    Object.keys(params).forEach(function (k) {
      if (params[k] !== undefined && params[k] !== null) parts.push(encodeURIComponent(k) + "=" + encodeURIComponent(params[k]));
    });
    return parts.join("&");
  }

  // A horizontal bar: an SVG with a label for screen readers; the numbers go beside it as text.
  function bar(value, max, label) {
    var s = document.createElementNS(SVGNS, "svg");
    s.setAttribute("class", "bar");
    s.setAttribute("viewBox", "0 0 100 10");
    s.setAttribute("preserveAspectRatio", "none");
    s.setAttribute("role", "img");
    s.setAttribute("aria-label", label);
    s.setAttribute("focusable", "false");
    var title = document.createElementNS(SVGNS, "title");
    title.textContent = label;
    s.appendChild(title);
    var track = document.createElementNS(SVGNS, "rect");
    track.setAttribute("class", "track");
    track.setAttribute("x", "0"); track.setAttribute("y", "0");
    track.setAttribute("width", "100"); track.setAttribute("height", "10");
    s.appendChild(track);
    var w = max > 0 ? Math.max(0, Math.min(100, 100 * value / max)) : 0;
    var fill = document.createElementNS(SVGNS, "rect");
    fill.setAttribute("class", "fill");
    fill.setAttribute("x", "0"); fill.setAttribute("y", "0");
    fill.setAttribute("width", String(w)); fill.setAttribute("height", "10");
    s.appendChild(fill);
    return s;
  }
  // label | bar | numbers, one grid row; `extra` (nodes) goes after the label.
  function barRow(label, value, max, numbers, cls, extra) {
    var lab = el("span", { class: "label" }, [label].concat(extra || []));
    var val = el("span", { class: "val", text: numbers });
    return el("div", { class: "row" + (cls ? " " + cls : "") }, [lab, bar(value, max, label + ": " + numbers), val]);
  }
  function table(caption, heads, rows, name) {
    var thead = el("thead", null, [el("tr", null, heads.map(function (h) {
      return el("th", { scope: "col", class: h.num ? "num" : null, text: h.text || h });
    }))]);
    var tbody = el("tbody", null, rows.map(function (r) {
      return el("tr", null, r.map(function (c, i) {
        var cell = el("td", { class: heads[i].num ? "num" : null, "data-col": heads[i].key });
        if (c != null && typeof c === "object" && c.nodeType) cell.appendChild(c); else cell.textContent = c == null ? "" : String(c);
        return cell;
      }));
    }));
    var tb = el("table", null, [el("caption", { text: caption }), thead, tbody]);
    return el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": caption, "data-table": name }, [tb]);
  }
  function empty(text) { return el("p", { class: "empty", text: text || t("none") }); }

  // ---- The API ------------------------------------------------------------------------------
  function ApiError(status, message, auth) { this.status = status; this.message = message; this.auth = !!auth; }
  function errorText(j, status) {
    if (j && typeof j.error === "string" && j.error) return j.error;
    if (j && Array.isArray(j.errors) && j.errors.length) return j.errors.map(valueText).join("; ");
    return t("httpError", { status: status });
  }
  function api(path, opts) {
    opts = opts || {};
    var used = token();
    var headers = { Authorization: "Bearer " + used };
    var init = { method: opts.method || "GET", headers: headers, cache: "no-store", credentials: "omit" };
    if (opts.body !== undefined) { headers["Content-Type"] = "application/json"; init.body = JSON.stringify(opts.body); }
    return fetch(path, init).then(function (r) {
      // Only the token in use now is forgotten (not a newer one typed since the call left).
      if (r.status === 401) { if (used === token()) expired(); throw new ApiError(401, t("badToken"), true); }
      if (r.ok && opts.blob) return r.blob();
      return r.text().then(function (body) {
        var j = null;
        try { j = body ? JSON.parse(body) : null; } catch (e) { j = null; }
        if (r.status === 403) throw new ApiError(403, t("forbidden") + (j && j.error ? " (" + j.error + ")" : ""));
        if (!r.ok) throw new ApiError(r.status, errorText(j, r.status));
        return j || {};
      });
    }, function () { throw new ApiError(0, t("offline")); });
  }

  // ---- Sections -----------------------------------------------------------------------------
  // Each section loads its report, keeps the last answer, and renders it (again when the
  // language changes). A newer load makes an older, slower answer irrelevant.
  function Section(id, url, render) {
    this.root = $(id); this.url = url; this.render = render; this.seq = 0; this.data = null; this.path = null;
    this.err = this.root.querySelector(".error"); this.out = this.root.querySelector(".out");
    var self = this, csv = this.root.querySelector(".csv");
    if (csv) csv.addEventListener("click", function () { self.csv(csv); });
  }
  Section.prototype.error = function (msg) {
    this.err.textContent = msg || "";
    this.err.hidden = !msg;
  };
  Section.prototype.load = function () {
    var self = this, mine = ++this.seq, path = this.url();
    this.path = path;
    this.error("");
    if (!path) { this.data = null; clear(this.out); this.out.appendChild(empty(this.nothing ? this.nothing() : null)); return; }
    this.root.setAttribute("aria-busy", "true");
    if (!this.data) { clear(this.out); this.out.appendChild(empty(t("loading"))); }
    api(path).then(function (j) {
      if (mine !== self.seq) return;
      self.data = j;
      self.draw();
    }, function (e) {
      if (mine !== self.seq || e.auth) return;
      self.data = null;
      clear(self.out);
      self.error(e.message);
    }).then(function () { if (mine === self.seq) self.root.setAttribute("aria-busy", "false"); });
  };
  Section.prototype.draw = function () {
    clear(this.out);
    if (this.data) this.render(this.out, this.data);
  };
  Section.prototype.csv = function (button) {
    var self = this, path = this.path;
    if (!path) return;
    var file = "aula-" + this.root.id.replace("sec-", "") + (cohort() ? "-" + cohort() : "") + ".csv";
    button.disabled = true;
    this.error("");
    api(path + "&format=csv&bom=1", { blob: true }).then(function (blob) {
      var url = URL.createObjectURL(blob);
      var a = el("a", { href: url, download: file, hidden: "" });
      document.body.appendChild(a);
      a.click();
      setTimeout(function () { URL.revokeObjectURL(url); a.remove(); }, 1000);
    }, function (e) { if (!e.auth) self.error(e.message); }).then(function () { button.disabled = false; });
  };

  var meta = { courses: [], flows: [], drafts: [] };
  function courseName(id) {
    for (var i = 0; i < meta.courses.length; i++) if (meta.courses[i].id === id) return txt(meta.courses[i].name) || id;
    return id;
  }

  // 1. The cohort's progress.
  var progress = new Section("sec-progress", function () {
    return cohort() ? "/admin/reports/progress?" + q({ cohort: cohort(), lang: lang }) : null;
  }, function (out, d) {
    var c = cohort();
    var byCohort = (d.by_cohort || []).filter(function (r) { return r.cohort === undefined || r.cohort === c; });
    out.appendChild(el("h3", { text: t("byCourse") }));
    if (!byCohort.length) out.appendChild(empty());
    byCohort.forEach(function (r) {
      var a = n(r.completed), b = n(r.learners), numbers = t("ofPct", { a: a, b: b, p: pctText(pctOf(a, b)) });
      var row = barRow(courseName(r.course), a, b, numbers, "completed");
      row.setAttribute("data-course", r.course);
      row.querySelector(".val").classList.add("progress-count");
      out.appendChild(row);
    });
    // With one course (the usual cohort) its name is said above: no column repeating it.
    var seen = {};
    byCohort.concat(d.by_state || []).forEach(function (r) { seen[r.course] = true; });
    (d.learners || []).forEach(function (l) { (l.courses || []).forEach(function (cr) { seen[cr.course] = true; }); });
    var several = Object.keys(seen).length > 1;
    function withCourse(cells, course) { if (several) cells.splice(1, 0, course); return cells; }
    var states = d.by_state || [];
    if (states.length) {
      out.appendChild(table(t("byState"), withCourse([{ text: t("colState"), key: "state" },
                                                      { text: t("colCompleted"), num: true, key: "completed" }],
                                                     { text: t("colCourse"), key: "course" }),
        states.map(function (r) {
          return withCourse([r.state || t("noState"),
                  t("ofPct", { a: n(r.completed), b: n(r.learners), p: pctText(pctOf(n(r.completed), n(r.learners))) })],
                  courseName(r.course));
        }), "by-state"));
    }
    var rows = [];
    (d.learners || []).forEach(function (l) {
      var who = l.name || l.conv;
      var link = el("button", { type: "button", class: "link", text: who, "aria-label": t("timelineOf", { name: who }) });
      link.addEventListener("click", function () { $("conv").value = l.conv; learner.load(); $("conv").focus(); });
      var courses = l.courses && l.courses.length ? l.courses : [{}];
      courses.forEach(function (cr, i) {
        rows.push(withCourse([i === 0 ? link : "", i === 0 ? (l.state || "") : "",
                              cr.course ? n(cr.modules_completed) + "/" + n(cr.modules_total) : "",
                              cr.course ? statusText(cr.status) : "",
                              cr.score != null && cr.max != null ? cr.score + "/" + cr.max : ""],
                             cr.course ? courseName(cr.course) : ""));
      });
    });
    if (rows.length) {
      out.appendChild(table(t("learners") + " (" + (d.learners || []).length + ")",
        withCourse([{ text: t("colName"), key: "name" }, { text: t("colState"), key: "state" },
                    { text: t("colModules"), num: true, key: "modules" }, { text: t("colStatus"), key: "status" },
                    { text: t("colScore"), num: true, key: "score" }], { text: t("colCourse"), key: "course" }),
        rows, "learners"));
    }
  });
  progress.nothing = function () { return t("noCohort"); };

  // 2. The funnel of the selected course.
  var funnel = new Section("sec-funnel", function () {
    var c = $("course").value;
    return c ? "/admin/reports/funnel?" + q({ course: c, cohort: cohort(), lang: lang }) : null;
  }, function (out, d) {
    if (d.enrolled != null) out.appendChild(el("p", { text: t("enrolledCourse", { n: n(d.enrolled) }) }));
    var steps = d.steps || [];
    if (!steps.length) out.appendChild(empty());
    var max = n(d.enrolled);
    steps.forEach(function (s) { max = Math.max(max, n(s.enrolled), n(s.started), n(s.completed)); });
    steps.forEach(function (s, i) {
      var box = el("div", { class: "item", "data-flow": s.flow });
      var name = txt(s.name) || s.flow;
      box.appendChild(el("h3", { text: s.module != null ? t("moduleN", { n: s.module, name: name }) : name }));
      ["enrolled", "started", "completed"].forEach(function (k) {
        box.appendChild(barRow(t(k), n(s[k]), max, String(n(s[k])) + (k !== "enrolled" && n(s.enrolled) > 0 ? " (" + pctText(pctOf(n(s[k]), n(s.enrolled))) + ")" : ""), k));
      });
      var drops = (s.drop_off || []).filter(function (x) { return n(x.learners) > 0; });
      box.appendChild(el("h4", { text: t("dropOff") }));
      if (!drops.length) box.appendChild(el("p", { class: "muted", text: t("dropNone") }));
      else box.appendChild(el("ul", { class: "plain" }, drops.map(function (x) {
        return el("li", { text: t("dropNode", { node: x.node || t("dropStart"), n: n(x.learners) }) });
      })));
      out.appendChild(box);
    });
  });
  funnel.nothing = function () { return t("none"); };

  // 3. Quiz items: which questions confuse.
  var items = new Section("sec-items", function () {
    var f = $("quiz-flow").value;
    return f ? "/admin/reports/items?" + q({ flow: f, cohort: cohort(), lang: lang }) : null;
  }, function (out, d) {
    var nodes = d.nodes || [];
    if (!nodes.length) out.appendChild(empty());
    nodes.forEach(function (nd) {
      var box = el("div", { class: "item", "data-node": nd.node });
      box.appendChild(el("h3", { text: txt(nd.question) || nd.node }));
      var a = n(nd.first_correct), b = n(nd.learners);
      var p = b > 0 ? pctOf(a, b) : Math.round(100 * n(nd.first_correct_share));
      var share = el("span", { class: "first-correct", text: pctText(p) });
      var row = el("div", { class: "row" }, [el("span", { class: "label", text: t("firstCorrect") }),
        bar(p, 100, t("firstCorrect") + ": " + pctText(p) + " " + t("firstOf", { a: a, b: b })),
        el("span", { class: "val" }, [share, " " + t("firstOf", { a: a, b: b })])]);
      box.appendChild(row);
      var answers = nd.answers || [];
      var total = answers.reduce(function (s, x) { return s + n(x.count); }, 0);
      var worst = nd.most_chosen_wrong;
      if (answers.length) box.appendChild(el("h4", { text: t("chosen") }));
      answers.forEach(function (x) {
        var confusing = !!(worst && !x.correct && valueText(worst.value) === valueText(x.value) && n(x.count) > 0);
        var tags = [];
        if (x.correct) tags.push(el("span", { class: "tag ok", text: t("correctTag") }));
        if (confusing) tags.push(el("span", { class: "tag bad", text: t("confusingTag") }));
        var r = barRow(txt(x.label) || valueText(x.value), n(x.count), total,
                       n(x.count) + " (" + pctText(pctOf(n(x.count), total)) + ")",
                       x.correct ? "correct" : confusing ? "wrong confusing" : "wrong", tags);
        r.setAttribute("data-value", valueText(x.value));
        box.appendChild(r);
      });
      out.appendChild(box);
    });
  });
  items.nothing = function () { return t("noQuizFlows"); };

  // 4. The needs diagnosis, ranked.
  var diagnosis = new Section("sec-diagnosis", function () {
    if (meta.flows.length && !meta.flows.some(function (f) { return f.id === "diagnostico"; })) return null;
    return "/admin/reports/diagnosis?" + q({ flow: "diagnostico", cohort: cohort(), lang: lang });
  }, function (out, d) {
    out.appendChild(el("p", { class: "muted", text: t("diagNote") }));
    var topics = d.topics || [];
    var top = 5;
    topics.forEach(function (x) { top = Math.max(top, Math.ceil(n(x.mean))); });
    (d.by_state || []).forEach(function (s) { (s.topics || []).forEach(function (x) { top = Math.max(top, Math.ceil(n(x.mean))); }); });
    if (!topics.length) out.appendChild(empty());
    else out.appendChild(el("ol", { class: "rank" }, topics.map(function (x) {
      var li = el("li", { "data-node": x.node });
      li.appendChild(barRow(txt(x.question) || x.node, n(x.mean), top, t("meanOf", { m: dec(x.mean), max: top, n: n(x.responses) })));
      return li;
    })));
    var chosen = d.chosen_topics || [];
    if (chosen.length) {
      var most = chosen.reduce(function (m, x) { return Math.max(m, n(x.count)); }, 0);
      out.appendChild(el("h3", { text: t("chosenTopics") }));
      chosen.forEach(function (x) { out.appendChild(barRow(txt(x.label) || valueText(x.value), n(x.count), most, String(n(x.count)))); });
    }
    var states = d.by_state || [];
    if (states.length && topics.length) {
      var heads = [t("topic")].concat(states.map(function (s) { return { text: s.state || t("noState"), num: true }; }));
      var rows = topics.map(function (x) {
        return [txt(x.question) || x.node].concat(states.map(function (s) {
          var hit = (s.topics || []).filter(function (y) { return y.node === x.node; })[0];
          return hit ? dec(hit.mean) + " (" + n(hit.responses) + ")" : "—";
        }));
      });
      out.appendChild(table(t("byState"), heads, rows, "by-state"));
    }
  });

  // 5. Survey results.
  var survey = new Section("sec-survey", function () {
    var f = $("survey-flow").value;
    return f ? "/admin/reports/survey?" + q({ flow: f, cohort: cohort(), lang: lang }) : null;
  }, function (out, d) {
    var nodes = d.nodes || [];
    var npsBy = {};
    (d.nps || []).forEach(function (x) { npsBy[x.node] = x; });
    if (!nodes.length) out.appendChild(empty());
    nodes.forEach(function (nd) {
      var box = el("div", { class: "item", "data-node": nd.node });
      box.appendChild(el("h3", { text: txt(nd.question) || nd.node }));
      box.appendChild(el("p", { class: "muted", text: t("responses", { n: n(nd.responses) }) }));
      var nps = npsBy[nd.node];
      if (nps) {
        box.appendChild(el("p", null, [t("nps") + ": ", el("span", { class: "big nps", text: String(Math.round(n(nps.nps))) })]));
        var r = n(nps.responses);
        [["promoters", "completed"], ["passives", "started"], ["detractors", "wrong confusing"]].forEach(function (k) {
          box.appendChild(barRow(t(k[0]), n(nps[k[0]]), r, n(nps[k[0]]) + " (" + pctText(pctOf(n(nps[k[0]]), r)) + ")", k[1]));
        });
      }
      var values = nd.values || [];
      if (values.length && !nps) {
        var most = values.reduce(function (m, x) { return Math.max(m, n(x.count)); }, 0);
        var all = n(nd.responses) || values.reduce(function (s, x) { return s + n(x.count); }, 0);
        values.forEach(function (x) {
          box.appendChild(barRow(txt(x.label) || valueText(x.value), n(x.count), most,
                                 n(x.count) + " (" + pctText(pctOf(n(x.count), all)) + ")"));
        });
      }
      if (nd.numeric) {
        box.appendChild(el("p", { text: t("meanLine", { m: dec(nd.numeric.mean), min: dec(nd.numeric.min), max: dec(nd.numeric.max), n: n(nd.numeric.count) }) }));
      }
      var texts = nd.texts || [];
      if (texts.length) {
        box.appendChild(el("h4", { text: t("openAnswers") }));
        box.appendChild(el("ul", { class: "plain texts" }, texts.map(function (x) {
          return el("li", { text: String(x.text == null ? "" : x.text) + (n(x.count) > 1 ? " " + t("times", { n: n(x.count) }) : "") });
        })));
      }
      out.appendChild(box);
    });
  });
  survey.nothing = function () { return t("noSurveyFlows"); };

  // 6. One learner's timeline.
  var learner = new Section("sec-learner", function () {
    var c = $("conv").value.trim();
    return c ? "/admin/learners/" + encodeURIComponent(c) + "?timeline=50" : null;
  }, function (out, d) {
    var rec = d.record || {};
    var facts = [[t("status"), statusText(d.status)], [t("name"), rec.name], [t("cohort"), rec.cohort],
                 [t("colState"), rec.state], [t("language"), d.language]];
    var dl = el("dl", { class: "facts" });
    facts.forEach(function (f) {
      if (f[1] == null || f[1] === "") return;
      dl.appendChild(el("dt", { text: f[0] }));
      dl.appendChild(el("dd", { text: String(f[1]) }));
    });
    out.appendChild(el("h3", { text: d.conversation || "" }));
    out.appendChild(dl);
    var courses = d.courses || [];
    if (courses.length) {
      out.appendChild(el("h4", { text: t("courses") }));
      out.appendChild(el("ul", { class: "plain" }, courses.map(function (c) {
        var mods = c.modules || [];
        return el("li", { text: t("courseLine", { course: courseName(c.course), status: statusText(c.status),
                                                 module: c.module != null ? c.module : "—", total: mods.length || "—" }) });
      })));
    }
    if ((d.dead_letters || []).length) out.appendChild(el("p", { class: "error", text: t("deadLetters", { n: d.dead_letters.length }) }));
    out.appendChild(el("h4", { text: t("timeline") }));
    var tl = (d.timeline || []).slice().reverse();
    if (!tl.length) { out.appendChild(empty(t("noTimeline"))); return; }
    out.appendChild(el("ol", { class: "timeline" }, tl.map(function (r) {
      var when = r.at ? new Date(Number(r.at)) : null;
      var li = el("li");
      if (when && !isNaN(when)) li.appendChild(el("time", { datetime: when.toISOString(),
        text: when.toLocaleString(lang, { dateStyle: "short", timeStyle: "short" }) }));
      li.appendChild(el("span", { class: "kind", text: recText(r.type) }));
      var where = [r.flow, r.node].filter(Boolean).join(" › ");
      var bits = [where, r.status ? statusText(r.status) : "", r.text != null ? String(r.text) : "",
                  r.value != null && r.text == null ? valueText(r.value) : ""].filter(function (x) { return x; });
      li.appendChild(document.createTextNode(bits.join(" · ")));
      return li;
    })));
  });
  learner.nothing = function () { return t("needConv"); };

  // ---- Actions ------------------------------------------------------------------------------
  var actionsErr = $("sec-actions").querySelector(".error");
  function actionsError(msg) { actionsErr.textContent = msg || ""; actionsErr.hidden = !msg; }
  function live(msg) { $("actions-live").textContent = msg; }
  $("remind").addEventListener("click", function () {
    if (!cohort()) return;
    actionsError("");
    $("remind-question").textContent = t("remindQuestion", { c: cohort() });
    $("remind-confirm").hidden = false;
    $("remind-yes").focus();
  });
  $("remind-no").addEventListener("click", function () { $("remind-confirm").hidden = true; $("remind").focus(); });
  $("remind-yes").addEventListener("click", function () {
    var c = cohort(), yes = $("remind-yes");
    yes.disabled = true;
    live(t("sending"));
    api("/admin/broadcasts", { method: "POST", body: { kind: "remind", cohort: c, inactive: "48h" } }).then(function (j) {
      $("remind-confirm").hidden = true;
      live(t("reminded", { id: j.id || "?" }));
      $("remind").focus();
    }, function (e) { live(""); if (!e.auth) actionsError(e.message); }).then(function () { yes.disabled = false; });
  });
  $("preview").addEventListener("click", function () {
    var f = $("draft").value, btn = $("preview"), out = $("preview-out");
    if (!f) return;
    actionsError("");
    clear(out);
    btn.disabled = true;
    api("/admin/preview", { method: "POST", body: { flow: f } }).then(function (j) {
      var url = String(j.url || "");
      // Only a link into aula itself: the preview opens in the web chat.
      if (url.charAt(0) !== "/" || url.charAt(1) === "/") throw new ApiError(0, t("httpError", { status: "url" }));
      out.appendChild(document.createTextNode(t("previewReady")));
      out.appendChild(el("a", { id: "preview-link", href: url, target: "_blank", rel: "noopener", text: t("openPreview") }));
      live(t("previewLive", { flow: f }));
    }).catch(function (e) { if (!e.auth) actionsError(e.message); }).then(function () { btn.disabled = false; });
  });

  // ---- Menus, login, language ---------------------------------------------------------------
  function fill(select, items, keep, none) {
    var before = keep !== undefined ? keep : select.value;
    clear(select);
    if (!items.length && none) select.appendChild(el("option", { value: "", text: none }));
    items.forEach(function (it) { select.appendChild(el("option", { value: it.value, text: it.text })); });
    if (items.some(function (it) { return it.value === before; })) select.value = before;
    select.disabled = !items.length;
  }
  function fillMenus(cohorts) {
    if (cohorts) {
      fill($("cohort"), cohorts.map(function (c) {
        return { value: c.name, text: c.learners != null ? c.name + " (" + c.learners + ")" : c.name };
      }), sessionStorage.getItem("aula.dashboard.cohort") || undefined, t("noCohort"));
    }
    fill($("course"), meta.courses.map(function (c) { return { value: c.id, text: txt(c.name) || c.id }; }));
    function flowsOf(kind) {
      return meta.flows.filter(function (f) { return f.kind === kind; })
                       .map(function (f) { return { value: f.id, text: (txt(f.name) || f.id) + " (" + f.id + ")" }; });
    }
    fill($("quiz-flow"), flowsOf("quiz"), undefined, t("noQuizFlows"));
    // Surveys, then lessons (which may end with a survey question, such as an NPS).
    fill($("survey-flow"), flowsOf("survey").concat(flowsOf("quiz")), undefined, t("noSurveyFlows"));
    fill($("draft"), meta.drafts.map(function (d) { return { value: d.id, text: d.file || d.id }; }), undefined, t("noDrafts"));
    $("preview").disabled = !meta.drafts.length;
    remindState();
  }
  function remindState() {
    $("remind").disabled = !cohort();
    $("remind-what").textContent = cohort() ? t("remindWhat", { c: cohort() }) : t("noCohort");
  }
  function loadReports() {
    remindState();
    $("remind-confirm").hidden = true;
    [progress, funnel, items, diagnosis, survey].forEach(function (s) { s.load(); });
    if ($("conv").value.trim()) learner.load();
  }
  var cohortList = null;
  function boot() {
    var msg = $("app-msg");
    msg.hidden = true;
    var who = api("/admin/whoami").catch(function (e) { if (e.auth) throw e; return null; });
    var cohorts = api("/admin/cohorts").catch(function (e) { if (e.auth) throw e; return { error: e }; });
    var courses = api("/admin/courses?" + q({ lang: lang })).catch(function (e) { if (e.auth) throw e; return { error: e }; });
    return Promise.all([who, cohorts, courses]).then(function (r) {
      showApp();
      $("who").textContent = r[0] && r[0].name ? t("who", { name: r[0].name, role: r[0].role || "" }) : "";
      var problems = [];
      if (r[1].error) problems.push(r[1].error.message);
      if (r[2].error) problems.push(r[2].error.message);
      msg.textContent = problems.join(" · ");
      msg.hidden = !problems.length;
      cohortList = r[1].cohorts || [];
      meta.courses = r[2].courses || [];
      meta.flows = r[2].flows || [];
      meta.drafts = r[2].drafts || [];
      fillMenus(cohortList);
      loadReports();
    }, function () { /* 401: expired() already showed the login */ });
  }
  var loginMsgKey = "";
  function loginMessage(key) {
    loginMsgKey = key || "";
    var m = $("login-msg");
    m.textContent = key ? t(key) : "";
    m.hidden = !key;
  }
  function showLogin(key) {
    $("app").hidden = true;
    $("login").hidden = false;
    $("logout").hidden = true;
    $("who").textContent = "";
    loginMessage(key);
    $("token").value = "";
    $("token").focus();
  }
  function showApp() {
    $("login").hidden = true;
    $("app").hidden = false;
    $("logout").hidden = false;
  }
  function forget() {
    sessionStorage.removeItem(TOKEN_KEY);
    [progress, funnel, items, diagnosis, survey, learner].forEach(function (s) { s.seq++; s.data = null; s.path = null; clear(s.out); s.error(""); });
    clear($("preview-out"));
    live("");
    actionsError("");
  }
  var expiring = false;
  function expired() {
    if (expiring) return;
    expiring = true;
    forget();
    showLogin("badToken");
    setTimeout(function () { expiring = false; }, 0);
  }
  $("login-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var tok = $("token").value.trim();
    if (!tok) { loginMessage("needToken"); $("token").focus(); return; }
    sessionStorage.setItem(TOKEN_KEY, tok);
    $("token").value = "";
    loginMessage("");
    boot().then(function () { if (!$("app").hidden) $("cohort").focus(); });
  });
  $("logout").addEventListener("click", function () { forget(); showLogin("loggedOut"); });
  $("cohort").addEventListener("change", function () {
    sessionStorage.setItem("aula.dashboard.cohort", cohort());
    loadReports();
  });
  $("refresh").addEventListener("click", function () { boot(); });
  $("course").addEventListener("change", function () { funnel.load(); });
  $("quiz-flow").addEventListener("change", function () { items.load(); });
  $("survey-flow").addEventListener("change", function () { survey.load(); });
  $("learner-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    if (!$("conv").value.trim()) { learner.error(t("needConv")); $("conv").focus(); return; }
    learner.load();
  });

  function applyLang() {
    document.documentElement.lang = lang;
    var nodes = document.querySelectorAll("[data-t]");
    for (var i = 0; i < nodes.length; i++) nodes[i].textContent = t(nodes[i].getAttribute("data-t"));
    document.title = t("title");
    $("lang-es").setAttribute("aria-pressed", String(lang === "es"));
    $("lang-en").setAttribute("aria-pressed", String(lang === "en"));
    localStorage.setItem("aula.dashboard.lang", lang);
  }
  function setLang(l) {
    if (l === lang) return;
    lang = l;
    applyLang();
    // Question texts and module names come from aula in the asked language: ask again.
    if (token() && !$("app").hidden) boot();
    else loginMessage(loginMsgKey);
  }
  $("lang-es").addEventListener("click", function () { setLang("es"); });
  $("lang-en").addEventListener("click", function () { setLang("en"); });

  applyLang();
  if (token()) { $("login").hidden = true; boot(); } else showLogin("");
})();
</script>
</body>
</html>
)PAGE";
  return page;
}

}  // namespace aula::cli
