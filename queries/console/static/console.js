// The ragstream console: one page, no build step. Every datum comes from the query API's own routes,
// called with the credential the user signed in with (kept in this tab's sessionStorage), so the
// page shows exactly what the API would return to that credential.
"use strict";

const STORE = "ragstream.console";
const VIEWS = ["signin", "search", "ask", "documents", "pipeline"];
let session = null; // {key, tenant, principals, whoami}
let focusNext = null; // what a keyboard shortcut asked to focus once its view is shown

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

// ---- talking to the API ------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

function headers(extra) {
  const h = { Accept: "application/json", ...(extra || {}) };
  if (session && session.key) h["X-API-Key"] = session.key;
  if (session && session.tenant) h["X-Tenant"] = session.tenant;
  if (session && session.principals) h["X-Principals"] = session.principals;
  return h;
}

async function problemOf(response) {
  try {
    return await response.json();
  } catch (_) {
    return { title: response.statusText || `HTTP ${response.status}` };
  }
}

async function api(method, path, body) {
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: headers(body === undefined ? {} : { "Content-Type": "application/json" }),
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
    });
  } catch (err) {
    throw new ApiError(0, { title: "The query API cannot be reached", detail: String(err) });
  }
  if (!response.ok) throw new ApiError(response.status, await problemOf(response));
  return response;
}

const getJSON = async (path) => (await api("GET", path)).json();
const postJSON = async (path, body) => (await api("POST", path, body)).json();
const docPath = (id) => id.split("/").map(encodeURIComponent).join("/");

// Errors in words: what went wrong and, where the API said, why.
function describe(err) {
  if (!(err instanceof ApiError)) return `Something went wrong: ${err}`;
  const p = err.problem || {};
  const detail = p.detail && p.detail !== p.title ? `: ${p.detail}` : "";
  if (err.status === 401) return `You are not signed in, or the key is no longer valid${detail}`;
  if (err.status === 403) return `Your credential may not do this${detail}`;
  if (err.status === 429) return `Too many requests; wait a moment and retry${detail}`;
  return `${p.title || "Error"}${detail}`;
}

function showError(err) {
  const box = $("error");
  if (!err) {
    box.hidden = true;
    box.textContent = "";
    return;
  }
  box.textContent = typeof err === "string" ? err : describe(err);
  box.hidden = false;
  if (err instanceof ApiError && err.status === 401) signOut(false);
}

// ---- session -------------------------------------------------------------------------------------

function saved() {
  try {
    return JSON.parse(sessionStorage.getItem(STORE) || "null");
  } catch (_) {
    return null;
  }
}

async function signIn(key, tenant, principals) {
  session = { key: key || "", tenant: tenant || "", principals: principals || "" };
  const whoami = await getJSON("/v1/whoami");
  session.whoami = whoami;
  sessionStorage.setItem(STORE, JSON.stringify({ key: session.key, tenant: session.tenant, principals: session.principals }));
  $("who").textContent = `${whoami.subject} · tenant ${whoami.tenant} · ${whoami.scopes.join(", ") || "no scopes"}`;
  $("nav").hidden = false;
  $("signout").hidden = false;
  $("nav-pipeline").hidden = !isAdmin();
}

function isAdmin() {
  const scopes = (session && session.whoami && session.whoami.scopes) || [];
  return scopes.includes("admin") || scopes.includes("operator");
}

function signOut(navigate = true) {
  session = null;
  sessionStorage.removeItem(STORE);
  $("who").textContent = "";
  $("nav").hidden = true;
  $("signout").hidden = true;
  if (navigate) location.hash = "#signin";
  else show("signin");
}

// ---- views ---------------------------------------------------------------------------------------

function parseHash() {
  const [name, query] = location.hash.replace(/^#/, "").split("?");
  return { name: VIEWS.includes(name) ? name : "search", params: new URLSearchParams(query || "") };
}

function show(name) {
  for (const view of VIEWS) $(`view-${view}`).hidden = view !== name;
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.dataset.view === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const title = $(`${name}-title`);
  document.title = `${title.textContent} · ragstream console`;
}

async function route() {
  showError(null);
  const { name, params } = parseHash();
  if (!session) {
    show("signin");
    $("signin-key").focus();
    return;
  }
  const target = name === "signin" ? "search" : name;
  const shown = !$(`view-${target}`).hidden;
  show(target);
  // Focus moves to the new view's heading (screen readers announce it), or where a shortcut asked.
  // A view already shown keeps it: a route that runs late for it (a click's hashchange handled
  // after "/" had already moved to the search box) must not pull focus away from a box in use.
  if (focusNext) focusNext.focus();
  else if (!shown) $(`${target}-title`).focus();
  focusNext = null;
  if (target === "documents" && params.get("id")) await openDocument(params.get("id"), params.get("chunk"));
  if (target === "pipeline") await loadPipeline();
}

// ---- search --------------------------------------------------------------------------------------

function terms(text) {
  return [...new Set(text.toLowerCase().match(/[\p{L}\p{N}]{2,}/gu) || [])];
}

// The text with the query's words marked; built as nodes, so nothing in it is ever parsed as HTML.
function highlighted(text, words) {
  const out = document.createDocumentFragment();
  if (!words.length) {
    out.append(text);
    return out;
  }
  const escaped = words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  const pattern = new RegExp(`(${escaped.join("|")})`, "giu");
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    out.append(text.slice(last, match.index), el("mark", { text: match[0] }));
    last = match.index + match[0].length;
  }
  out.append(text.slice(last));
  return out;
}

const timings = (t) => Object.entries(t).map(([stage, ms]) => `${stage} ${fmt(ms, 1)} ms`).join(", ");
const fmt = (x, digits = 3) => (x === null || x === undefined ? "–" : Number(x).toFixed(digits));

function searchBody(form) {
  const data = new FormData(form);
  const body = { query: data.get("query"), mode: data.get("mode"), limit: Number(data.get("limit") || 10) };
  if (data.get("fusion")) body.fusion = data.get("fusion");
  if (data.get("rrf_k")) body.rrf_k = Number(data.get("rrf_k"));
  if (data.get("alpha")) body.alpha = Number(data.get("alpha"));
  if (data.get("normalization")) body.normalization = data.get("normalization");
  if (data.get("sibling_weight")) body.sibling_weight = Number(data.get("sibling_weight"));
  const filters = {};
  const ids = String(data.get("documents") || "").split(",").map((s) => s.trim()).filter(Boolean);
  if (ids.length) filters.document_ids = ids;
  const metadata = {};
  for (const line of String(data.get("metadata") || "").split("\n")) {
    const at = line.indexOf("=");
    if (at > 0) metadata[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  if (Object.keys(metadata).length) filters.metadata = metadata;
  body.filters = filters;
  return body;
}

async function runSearch(event) {
  event.preventDefault();
  showError(null);
  const form = event.target;
  const body = searchBody(form);
  const list = clear($("search-hits"));
  $("search-status").textContent = "Searching…";
  try {
    const result = await postJSON("/v1/search", body);
    const words = terms(body.query);
    $("search-status").textContent = result.hits.length
      ? `${result.hits.length} hit${result.hits.length === 1 ? "" : "s"} (${timings(result.timings_ms)})`
      : "Nothing relevant found.";
    for (const hit of result.hits) list.append(hitItem(hit, words));
  } catch (err) {
    $("search-status").textContent = "";
    showError(err);
  }
}

function hitItem(hit, words) {
  const s = hit.scores;
  const link = `#documents?id=${encodeURIComponent(hit.document_id)}&chunk=${encodeURIComponent(hit.chunk_id)}`;
  return el("li", { class: "hit card" },
    el("h2", {}, el("a", { href: link, text: hit.title || hit.document_id })),
    el("p", { class: "meta" },
      el("span", { text: hit.document_id }), " · ", el("span", { text: `v${hit.version}` }), " · ",
      el("span", { text: `score ${fmt(hit.score, 4)}` })),
    el("p", { class: "scores" },
      el("span", { class: "badge", text: `BM25 ${fmt(s.bm25)} (rank ${s.bm25_rank ?? "–"})` }),
      el("span", { class: "badge", text: `vector ${fmt(s.vector)} (rank ${s.vector_rank ?? "–"})` })),
    el("p", { class: "text" }, highlighted(hit.text, words)));
}

// ---- ask (streamed answer) -----------------------------------------------------------------------

let citations = [];

async function* sseEvents(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true }).replace(/\r\n/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length) yield { name, data: JSON.parse(data.join("\n")) };
    }
  }
}

// The answer's [n] markers become buttons that open the cited passage.
function answerWithMarkers(text) {
  const out = document.createDocumentFragment();
  let last = 0;
  for (const match of text.matchAll(/\[(\d+)\]/g)) {
    const marker = Number(match[1]);
    out.append(text.slice(last, match.index));
    if (citations.some((c) => c.marker === marker)) {
      out.append(el("button", { type: "button", class: "marker", "aria-label": `Citation ${marker}`,
        onclick: () => openPassage(marker), text: `[${marker}]` }));
    } else out.append(match[0]);
    last = match.index + match[0].length;
  }
  out.append(text.slice(last));
  return out;
}

let opener = null; // the citation that opened the passage: focus returns there when it closes

function openPassage(marker) {
  const c = citations.find((x) => x.marker === marker);
  if (!c) return;
  opener = document.activeElement;
  $("passage-title").textContent = `[${c.marker}] ${c.title || c.document_id}`;
  // A passage of a PDF, deck or workbook also says where it is in the original (page, slide, sheet).
  const where = c.location ? `${c.location} · ` : "";
  $("passage-meta").textContent = `${c.document_id} · ${where}chunk ${c.chunk_id} · characters ${c.start}–${c.end}`;
  $("passage-quote").textContent = c.quote;
  $("passage-open").href = `#documents?id=${encodeURIComponent(c.document_id)}&chunk=${encodeURIComponent(c.chunk_id)}`;
  $("passage").hidden = false;
  $("passage").focus();
}

function closePassage() {
  $("passage").hidden = true;
  if (opener && document.contains(opener)) opener.focus();
  opener = null;
}

async function runAsk(event) {
  event.preventDefault();
  showError(null);
  const data = new FormData(event.target);
  const answer = clear($("ask-answer"));
  const list = clear($("ask-citations"));
  const note = $("ask-note");
  note.hidden = true;
  $("passage").hidden = true;
  citations = [];
  answer.setAttribute("aria-busy", "true");
  answer.classList.add("streaming");
  const body = { question: data.get("question"), mode: data.get("mode"), passages: Number(data.get("passages") || 5), stream: true };
  let text = "";
  try {
    const response = await api("POST", "/v1/answer", body);
    for await (const ev of sseEvents(response)) {
      if (ev.name === "delta") {
        text += ev.data.text;
        answer.textContent = text;
      } else if (ev.name === "fallback") {
        note.textContent = `The language model was unavailable (${ev.data.reason}); the extractive generator answered.`;
        note.hidden = false;
      } else if (ev.name === "citations") {
        citations = ev.data.citations;
        clear(answer).append(answerWithMarkers(text));
        if (!ev.data.grounded || !citations.length) {
          note.textContent = "Nothing relevant found: no passage you may read answers this question.";
          note.hidden = false;
        }
        for (const c of citations) {
          list.append(el("li", {},
            el("button", { type: "button", class: "link", onclick: () => openPassage(c.marker) },
              `[${c.marker}] `, el("strong", { text: c.title || c.document_id }), c.location ? ` (${c.location})` : "", ` — “${c.quote.slice(0, 140)}${c.quote.length > 140 ? "…" : ""}”`)));
        }
      } else if (ev.name !== "done") {
        showError(ev.data.detail || ev.data.title || "The answer failed");
      }
    }
  } catch (err) {
    showError(err);
  } finally {
    answer.setAttribute("aria-busy", "false");
    answer.classList.remove("streaming");
  }
}

// ---- documents -----------------------------------------------------------------------------------

const when = (t) => (t ? new Date(typeof t === "number" ? t * 1000 : t).toLocaleString() : "–");

function row(...cells) {
  return el("tr", {}, ...cells.map((c) => el("td", {}, c instanceof Node ? c : String(c ?? "–"))));
}

async function openDocument(id, chunk) {
  $("documents-id").value = id;
  const box = $("document");
  box.hidden = true;
  let record;
  let history;
  try {
    [record, history] = await Promise.all([
      getJSON(`/v1/documents/${docPath(id)}`),
      getJSON(`/v1/documents/${docPath(id)}/history`),
    ]);
  } catch (err) {
    showError(err.status === 404 ? `No document “${id}” that you may see.` : err);
    return;
  }
  $("document-title").textContent = record.title || record.document_id;
  const fields = clear($("document-fields"));
  const shown = {
    "document id": record.document_id, status: record.status, version: record.version,
    "content type": record.content_type, updated: when(record.updated_at), "updated by": record.updated_by,
    ACL: record.acl.length ? record.acl.join(", ") : "everyone in the tenant",
    metadata: Object.entries(record.metadata).map(([k, v]) => `${k}=${v}`).join(", ") || "–",
  };
  for (const [k, v] of Object.entries(shown)) fields.append(el("dt", { text: k }), el("dd", { text: String(v) }));
  const models = clear($("document-readmodels").tBodies[0]);
  const entries = Object.entries(record.read_models);
  if (!entries.length) models.append(row("–", "–", "not in any read model yet", "–"));
  for (const [name, v] of entries) {
    const state = v.deleted ? "deleted" : v.version >= record.version ? "current" : `behind (v${record.version} is current)`;
    models.append(row(name, v.version, state, when(v.applied_at)));
  }
  const rows = clear($("document-history").tBodies[0]);
  for (const e of [...history.entries].reverse()) {
    rows.append(row(when(e.recorded_time), e.event_type, el("span", { class: `outcome ${e.outcome}`, text: e.outcome }), e.version, e.reason || "", e.actor));
  }
  const why = history.entries.filter((e) => e.reason && e.outcome !== "applied" && e.outcome !== "accepted").pop();
  $("document-why").hidden = !why;
  if (why) $("document-why").textContent = `Latest ${why.outcome.replace(/_/g, " ")} (${why.event_type}): ${why.reason}`;
  box.hidden = false;
  await loadChunks(record, chunk);
}

async function loadChunks(record, chunk) {
  const list = clear($("document-chunks"));
  if (record.status === "deleted") {
    list.append(el("li", { text: "The document is deleted: it has no chunks." }));
    return;
  }
  // The chunks the caller may read, through the search route (same tenant, ACL and filters).
  const body = { query: record.title || record.document_id, mode: "dense", limit: 100, filters: { document_ids: [record.document_id] } };
  try {
    const result = await postJSON("/v1/search", body);
    const hits = result.hits.sort((a, b) => a.start - b.start);
    if (!hits.length) list.append(el("li", { text: "No chunks are searchable yet." }));
    for (const hit of hits) {
      const item = el("li", { id: `chunk-${hit.chunk_id}`, class: hit.chunk_id === chunk ? "chunk target" : "chunk", tabindex: "-1" },
        el("p", { class: "meta", text: `${hit.chunk_id} · v${hit.version} · characters ${hit.start}–${hit.end}` }),
        el("p", { class: "text", text: hit.text }));
      list.append(item);
    }
    const target = chunk && document.getElementById(`chunk-${chunk}`);
    if (target) {
      target.scrollIntoView({ block: "center" });
      target.focus();
    }
  } catch (err) {
    showError(err);
  }
}

// ---- pipeline (admin) ----------------------------------------------------------------------------

function histogram(buckets) {
  const NS = "http://www.w3.org/2000/svg";
  const svg = (tag, attrs) => {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    return node;
  };
  const width = 360, height = 90, pad = 22;
  const max = Math.max(1, ...buckets.map((b) => b.count));
  const total = buckets.reduce((a, b) => a + b.count, 0);
  const barW = (width - pad) / buckets.length;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height + 30}`, role: "img", class: "histogram",
    "aria-label": `${total} writes; ` + buckets.map((b) => `${b.count} within ${label(b.le)} s`).join(", ") });
  buckets.forEach((b, i) => {
    const h = (b.count / max) * height;
    const rect = svg("rect", { x: pad + i * barW + 2, y: height - h, width: barW - 4, height: Math.max(h, 0.5), class: "bar" });
    const tip = svg("title", {});
    tip.textContent = `${b.count} within ${label(b.le)} s`;
    rect.append(tip);
    chart.append(rect);
    const t = svg("text", { x: pad + i * barW + barW / 2, y: height + 14, "text-anchor": "middle", class: "axis" });
    t.textContent = label(b.le);
    chart.append(t);
  });
  const unit = svg("text", { x: width, y: height + 28, "text-anchor": "end", class: "axis" });
  unit.textContent = "seconds (bucket upper bound)";
  chart.append(unit);
  const y = svg("text", { x: 0, y: 10, class: "axis" });
  y.textContent = String(max);
  chart.append(y);
  return chart;
}

// Bucket upper bounds in seconds; the last one (+Inf) holds everything slower.
const label = (le) => (le === null || le === Infinity || le === "Infinity" || le > 1e9 ? ">" : String(le));

async function loadPipeline() {
  const box = $("pipeline");
  box.hidden = true;
  if (!isAdmin()) {
    showError("The Pipeline page is for administrators: your credential lacks the admin scope.");
    return;
  }
  let view;
  let jobs;
  try {
    [view, jobs] = await Promise.all([getJSON("/v1/admin/pipeline"), getJSON("/v1/admin/jobs")]);
  } catch (err) {
    showError(err);
    return;
  }
  $("pipeline-time").textContent = `as of ${new Date().toLocaleTimeString()}`;
  $("pipeline-group").textContent = view.lag_error
    ? `Lag unavailable: ${view.lag_error}`
    : `Consumer group ${view.group}: ${view.group_state || "unknown"}, ${view.members} worker${view.members === 1 ? "" : "s"}`;
  const stages = clear($("pipeline-stages").tBodies[0]);
  for (const s of view.stages) stages.append(row(s.stage, s.topic, el("span", { class: s.lag > 0 ? "lagging" : "ok", text: String(s.lag) })));
  const fresh = clear($("pipeline-freshness"));
  const models = Object.entries(view.freshness);
  if (!models.length) fresh.append(el("p", { text: "No writes applied since this node started." }));
  for (const [name, buckets] of models) fresh.append(el("h3", { text: name }), histogram(buckets));
  const dead = clear($("pipeline-dead").tBodies[0]);
  if (view.dead_letters_error) dead.append(row(`Dead letters unavailable: ${view.dead_letters_error}`, "", "", ""));
  else if (!view.dead_letters.length) dead.append(row("No dead letters.", "", "", ""));
  for (const d of view.dead_letters) {
    const link = el("a", { href: `#documents?id=${encodeURIComponent(d.document_id)}`, text: d.document_id });
    dead.append(row(link, d.processor, `${d.error_type}: ${d.reason}`, d.position));
  }
  const table = clear($("pipeline-jobs").tBodies[0]);
  if (!jobs.length) table.append(row("No jobs.", "", "", "", "", ""));
  for (const j of jobs) {
    const progress = el("progress", { max: String(Math.max(j.total, 1)), value: String(j.done), "aria-label": `${j.done} of ${j.total}` });
    table.append(row(j.id, j.kind, j.read_model, j.state, el("span", {}, progress, ` ${j.done}/${j.total}`), j.error || ""));
  }
  box.hidden = false;
}

// ---- wiring --------------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", async () => {
  $("signin-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    showError(null);
    const data = new FormData(event.target);
    try {
      await signIn(String(data.get("key")).trim(), String(data.get("tenant")).trim(), String(data.get("principals")).trim());
      event.target.reset();
      if (parseHash().name === "signin" || !location.hash) location.hash = "#search";
      else await route();
    } catch (err) {
      session = null;
      showError(err);
    }
  });
  $("signout").addEventListener("click", () => signOut());
  $("search-form").addEventListener("submit", runSearch);
  $("ask-form").addEventListener("submit", runAsk);
  $("documents-form").addEventListener("submit", (event) => {
    event.preventDefault();
    location.hash = `#documents?id=${encodeURIComponent(new FormData(event.target).get("id"))}`;
  });
  $("passage-close").addEventListener("click", closePassage);
  $("pipeline-refresh").addEventListener("click", () => loadPipeline());
  // "/" jumps to the search box, Escape closes an open passage.
  document.addEventListener("keydown", (event) => {
    const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName);
    if (event.key === "/" && !typing && session) {
      event.preventDefault();
      if (parseHash().name !== "search") {
        focusNext = $("search-query");
        location.hash = "#search";
      } else $("search-query").focus();
    } else if (event.key === "Escape" && !$("passage").hidden) {
      closePassage();
    }
  });
  window.addEventListener("hashchange", route);
  const stored = saved();
  if (stored) {
    try {
      await signIn(stored.key, stored.tenant, stored.principals);
    } catch (err) {
      session = null;
      showError(err);
    }
  }
  await route();
});
