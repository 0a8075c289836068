// The review page: sign in, projects, documents, a keyboard-first review queue, bulk accept,
// exports and agreement. Every call to the server goes through api.js; the page never reloads.
import * as api from "./api.js";

const $ = (selector, root = document) => root.querySelector(selector);
const VIEWS = ["signin", "projects", "project", "review", "blind"];
const NEAR_DUPLICATE = 0.5; // word overlap (Jaccard) above which two texts are near-duplicates
const MODEL = "precode model";

const state = {
  user: null,
  project: null,
  book: null, // {codes: [...], byId: Map}
  docs: [],
  docCache: new Map(), // document id -> {segments, suggestions: Map id -> suggestion}
  queue: null,
  decided: 0, // suggestions decided by this user
  docProgress: null, // document id -> {decided, pending}, from GET .../progress
  pending: 0,
  chain: Promise.resolve(), // decisions are sent one after another, in order
  preview: null, // the bulk-accept filters last previewed
  consensusMode: false, // owners: a, x and 1-9 settle the project's consensus instead
};

// ---- small helpers ------------------------------------------------------------------------
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

function say(message) {
  $("#status").textContent = message;
}

function fail(error) {
  const box = $("#error");
  box.textContent = error instanceof Error ? error.message : String(error);
  box.hidden = false;
  if (error instanceof api.ApiError && error.status === 401) signOut();
}

function clearError() {
  $("#error").hidden = true;
  $("#error").textContent = "";
}

const pct = (x) => (x === null || x === undefined ? "n/a" : `${Math.round(x * 100)}%`);
const num = (x, digits = 2) => (x === null || x === undefined ? "n/a" : Number(x).toFixed(digits));
const value = (x) => (x !== null && typeof x === "object" ? x.value : x);

function label(code) {
  const c = state.book && state.book.byId.get(code);
  return c ? c.label : code;
}

function words(text) {
  return new Set((text || "").toLowerCase().match(/[\p{L}\p{N}']+/gu) || []);
}

function overlap(a, b) {
  if (!a.size || !b.size) return 0;
  let shared = 0;
  for (const w of a) if (b.has(w)) shared += 1;
  return shared / (a.size + b.size - shared);
}

// two suggestions a reviewer would see as the same thing twice: the same code on another segment
// whose text is nearly the same
export function nearDuplicates(a, b) {
  if (a.code !== b.code || a.segment.id === b.segment.id) return false;
  a._words = a._words || words(a.segment.text);
  b._words = b._words || words(b.segment.text);
  return overlap(a._words, b._words) >= NEAR_DUPLICATE;
}

// most uncertain first, but a near-duplicate of one of the last two is put back until something
// else has come between them
function diversify(items, before = []) {
  const out = [];
  const rest = [...items];
  while (rest.length) {
    const recent = [...before, ...out].slice(-2);
    let i = rest.findIndex((s) => !recent.some((r) => nearDuplicates(r, s)));
    if (i < 0) i = 0;
    out.push(rest.splice(i, 1)[0]);
  }
  return out;
}

// ---- routing --------------------------------------------------------------------------------
function show(view) {
  for (const name of VIEWS) $(`#view-${name}`).hidden = name !== view;
  document.body.dataset.view = view;
}

function parseHash() {
  const [path, query] = (window.location.hash.slice(1) || "/").split("?");
  const parts = path.split("/").filter(Boolean);
  return { parts, params: new URLSearchParams(query || "") };
}

async function route() {
  clearError();
  if (!api.token()) {
    show("signin");
    $("#who").hidden = true;
    $("#my-progress").hidden = true;
    $("#token").focus();
    return;
  }
  try {
    if (!state.user) await loadUser();
    const { parts, params } = parseHash();
    if (parts[0] === "p" && parts[1]) {
      await openProject(Number(parts[1]));
      if (parts[2] === "review") await openReview(params);
      else if (parts[2] === "blind") await openBlind(params);
      else await renderProject();
    } else {
      await renderProjects();
    }
  } catch (error) {
    fail(error);
  }
}

function crumbs(...items) {
  const nav = $("#crumbs");
  nav.replaceChildren(el("ol", {}, items.map(([text, href]) =>
    el("li", {}, href ? el("a", { href, text }) : el("span", { "aria-current": "page", text })))));
}

// ---- sign in ----------------------------------------------------------------------------------
async function loadUser() {
  state.user = await api.me();
  $("#who-name").textContent = state.user.name;
  $("#who").hidden = false;
}

function signOut() {
  api.setToken(null);
  Object.assign(state, { user: null, project: null, queue: null });
  clearDocuments();
  window.location.hash = "#/";
  route();
}

// ---- projects ---------------------------------------------------------------------------------
async function renderProjects() {
  crumbs(["Projects"]);
  $("#my-progress").hidden = true;
  const list = await api.projects();
  const ul = $("#project-list");
  ul.replaceChildren(...list.map((p) => el("li", { class: "card" },
    el("a", { href: `#/p/${p.id}`, text: p.name }),
    el("span", { class: "muted", text: ` ${p.codebook_source} · your role: ${p.role}` }))));
  if (!list.length) ul.append(el("li", { text: "You are not a member of any project yet." }));
  show("projects");
  say(`${list.length} project(s)`);
}

async function openProject(id) {
  if (state.project && state.project.id === id) return;
  const [project, book, docs] = await Promise.all([api.getProject(id), api.codebook(id), api.documents(id)]);
  state.project = project;
  state.book = { codes: book.codes, byId: new Map(book.codes.map((c) => [c.id, c])) };
  state.docs = docs;
  clearDocuments();
  memoCache.clear();
  state.queue = null;
  state.blind = null;
  state.preview = null;
  await loadProgress();
  fillCodeSelects();
}

async function loadProgress() {
  const id = state.project.id;
  const mine = await api.progress(id);
  if (mine) {
    Object.assign(state, { decided: mine.decided, pending: mine.pending,
                           docProgress: new Map(mine.documents.map((d) => [d.document_id, d])) });
  } else { // a server without /progress: counted from the suggestions and your reviews
    const [pending, decided] = await Promise.all([
      api.suggestions(id, { status: "pending", limit: 1 }), myDecisions(id)]);
    Object.assign(state, { decided: decided.size, pending: pending.total, docProgress: null });
  }
  showProgress();
}

async function myDecisions(id) {
  const ids = new Set();
  for (let offset = 0; ; offset += 1000) {
    const page = await api.reviews(id, { reviewer: state.user.name, limit: 1000, offset });
    for (const r of page.items) {
      if (r.action === "undo") ids.delete(r.suggestion_id);
      else if (!["add", "import", "consensus"].includes(r.action)) ids.add(r.suggestion_id);
    }
    if (offset + page.items.length >= page.total || !page.items.length) return ids;
  }
}

function showProgress() {
  const box = $("#my-progress");
  box.hidden = false;
  $("[data-field=decided]", box).textContent = state.decided;
  $("[data-field=pending]", box).textContent = state.pending;
}

function codeOptions(select) {
  const depth = (c) => {
    let n = 0;
    for (let p = c.parent; p; p = (state.book.byId.get(p) || {}).parent) n += 1;
    return n;
  };
  select.replaceChildren(...state.book.codes.filter((c) => c.codable).map((c) =>
    el("option", { value: c.id, text: `${"\u00a0\u00a0".repeat(depth(c))}${c.label}` })));
}

function fillCodeSelects() {
  codeOptions($("#queue-form select[name=code]"));
  codeOptions($("#bulk-code"));
  const docSelect = $("#queue-form select[name=document]");
  docSelect.replaceChildren(...state.docs.map((d) => el("option", { value: d.id, text: d.name })));
}

async function renderProject() {
  const p = state.project;
  crumbs(["Projects", "#/"], [p.name]);
  $("#project-title").textContent = p.name;
  $("#project-meta").textContent = `Codebook: ${p.codebook_source} · your role: ${p.role}` +
    (p.blind ? " · coded blind: code each segment yourself before you see the model's suggestions" : "");
  // asked each time: a retraining while the page is open may have calibrated the model
  const models = await api.models(p.id);
  const caution = models.length ? models[models.length - 1].caution : null;
  $("#model-caution-text").textContent = caution || "";
  $("#model-caution").hidden = !caution;
  $("#bulk-caution").hidden = !caution;
  const tbody = $("#documents tbody");
  const counts = await Promise.all(state.docs.map(async (d) => {
    const mine = state.docProgress && state.docProgress.get(d.id);
    if (state.docProgress) return mine ? [mine.decided + mine.pending, mine.decided] : [0, 0];
    const [all, pending] = await Promise.all([
      api.suggestions(p.id, { document_id: d.id, limit: 1 }),
      api.suggestions(p.id, { document_id: d.id, status: "pending", limit: 1 })]);
    return [all.total, all.total - pending.total];
  }));
  tbody.replaceChildren(...state.docs.map((d, i) => {
    const [total, done] = counts[i];
    const all = { total };
    return el("tr", { "data-document": d.id },
      el("th", { scope: "row", text: d.name }),
      el("td", { text: String(d.n_segments) }),
      el("td", {},
        el("progress", { max: all.total || 1, value: done, "aria-label": `${d.name}: ${done} of ${all.total} suggestions reviewed` }),
        el("span", { class: "count", text: ` ${done} / ${all.total}` })),
      el("td", {}, el("a", { href: `#/p/${p.id}/review?order=document&document=${d.id}`,
        "aria-label": `Review ${d.name}`, text: "Review" }),
        p.blind ? el("span", {}, " · ", el("a", { href: `#/p/${p.id}/blind?document=${d.id}`,
          "aria-label": `Code ${d.name} blind`, text: "Code blind" })) : null));
  }));
  if (!state.docs.length) tbody.append(el("tr", {}, el("td", { colspan: 4, text: "No documents yet." })));
  $("#bulk-confirm").disabled = true;
  $("#bulk-result").textContent = "";
  // what your role allows: coders decide, owners export
  $("#bulk").hidden = p.role === "viewer";
  $("#export").hidden = p.role !== "owner";
  $("#consensus-order").hidden = p.role !== "owner";
  if (p.role === "owner") await fillExportChoice();
  show("project");
  say(`${p.name}: ${state.pending} suggestion(s) pending`);
}

// ---- the review queue -------------------------------------------------------------------------
class Queue {
  constructor(projectId, spec) {
    Object.assign(this, { projectId, spec, items: [], pos: 0, seen: new Set(), history: [],
                          done: false });
  }

  query() {
    const { order, code, document } = this.spec;
    // the consensus: every suggestion not yet settled, whoever decided it
    if (order === "consensus") return { consensus: "pending", order: "position" };
    if (order === "code") return { code, order: "uncertainty", status: "pending" };
    if (order === "document") return { document_id: document, order: "position", status: "pending" };
    return { order: "uncertainty", status: "pending" };
  }

  async fill() {
    if (this.done) return;
    // still pending: the ones not yet seen here (past those skipped in this session)
    let fresh = [];
    for (let offset = 0; !fresh.length; offset += 200) {
      const page = await api.suggestions(this.projectId, { ...this.query(), limit: 200, offset });
      fresh = page.items.filter((s) => !this.seen.has(s.id));
      if (offset + page.items.length >= page.total || !page.items.length) break;
    }
    fresh.forEach((s) => this.seen.add(s.id));
    if (!fresh.length) {
      this.done = true;
      return;
    }
    if (this.spec.order === "uncertainty" || this.spec.order === "code") fresh = diversify(fresh, this.items.slice(this.pos, this.pos + 1));
    // what is still ahead is kept in its order; the new ones come after it
    this.items.push(...fresh);
  }

  current() {
    return this.items[this.pos] || null;
  }

  async next() {
    this.pos += 1;
    if (this.items.length - this.pos >= 5) return;
    // more are fetched in the background while some are still ahead; waited for only when none is
    if (!this.filling) this.filling = this.fill().finally(() => { this.filling = null; });
    if (this.pos >= this.items.length) await this.filling;
  }
}

async function openReview(params) {
  const spec = { order: params.get("order") || "uncertainty", code: params.get("code"),
                 document: params.get("document") };
  const key = JSON.stringify(spec);
  delete $("#view-review").dataset.suggestion;
  if (!state.queue || state.queue.key !== key) {
    state.queue = new Queue(state.project.id, spec);
    state.queue.key = key;
    await state.queue.fill();
  }
  const what = spec.order === "code" ? `code ${label(spec.code)}`
    : spec.order === "document" ? (state.docs.find((d) => String(d.id) === spec.document) || {}).name
    : spec.order === "consensus" ? "the consensus"
    : "most uncertain first";
  crumbs(["Projects", "#/"], [state.project.name, `#/p/${state.project.id}`], [`Review: ${what}`]);
  $("#review-back").href = `#/p/${state.project.id}`;
  show("review");
  say(`Reviewing ${what}: ${state.pending} pending in the project`);
  await renderItem();
  window.scrollTo(0, 0);
  $("#review-pane").focus({ preventScroll: true });
}

const docLoading = new Map(); // document id -> the fetch of its data under way

async function documentData(documentId) {
  const data = state.docCache.get(documentId);
  if (data) return data;
  if (!docLoading.has(documentId)) {
    const fetching = fetchDocumentData(documentId).then((fetched) => {
      if (docLoading.get(documentId) === fetching) { // not cleared meanwhile
        state.docCache.set(documentId, fetched);
        docLoading.delete(documentId);
      }
      return fetched;
    }, (error) => {
      if (docLoading.get(documentId) === fetching) docLoading.delete(documentId);
      throw error;
    });
    docLoading.set(documentId, fetching);
  }
  return docLoading.get(documentId);
}

function clearDocuments() {
  state.docCache.clear();
  docLoading.clear();
}

async function fetchDocumentData(documentId) {
  const id = state.project.id;
  const [segments, first] = await Promise.all([
    api.segments(id, documentId),
    api.suggestions(id, { document_id: documentId, order: "position", limit: 500 })]);
  const all = [...first.items];
  for (let offset = 500; offset < first.total; offset += 500) {
    all.push(...(await api.suggestions(id, { document_id: documentId, order: "position", limit: 500, offset })).items);
  }
  return { segments, suggestions: new Map(all.map((s) => [s.id, s])) };
}

// the documents of the next few suggestions are fetched while the coder reads this one
function prefetchAhead(queue) {
  for (const next of queue.items.slice(queue.pos + 1, queue.pos + 4)) {
    documentData(next.segment.document_id).catch(() => {}); // fetched again when shown
  }
}

function chip(s) {
  const decided = s.status !== "pending";
  const code = s.decided_code || s.code;
  const human = s.origin !== "model" || decided;
  const cls = ["chip", human ? "human" : "ai", s.status].join(" ");
  const what = s.status === "rejected" ? "rejected" : !decided ? `AI suggestion ${pct(s.confidence)}`
    : s.origin === "model" ? s.status : "human coding";
  return el("li", { class: cls, title: `${label(code)}: ${what}`, "data-suggestion": s.id },
    !human ? el("span", { class: "badge ai", "aria-hidden": "true", text: "AI " }) : null,
    el("span", { text: label(code) }),
    el("span", { class: "sr-only", text: ` (${what})` }),
    !human ? el("span", { class: "conf", text: ` ${pct(s.confidence)}` }) : null);
}

function alternatives(item) {
  const codes = state.book.codes.filter((c) => c.codable && c.id !== item.code);
  const me = state.book.byId.get(item.code) || { parent: null };
  const rank = new Map();
  const give = (id, r) => { if (!rank.has(id)) rank.set(id, r); };
  for (const c of codes) if (c.parent && c.parent === me.parent) give(c.id, 0);
  for (const e of item.evidence) for (const code of e.codes) give(code, 1);
  for (const c of codes) if (c.parent === item.code || c.id === me.parent) give(c.id, 2);
  return codes.map((c, i) => [rank.has(c.id) ? rank.get(c.id) : 3, i, c]).sort((a, b) => a[0] - b[0] || a[1] - b[1])
    .slice(0, 9).map(([, , c]) => c);
}

async function renderItem() {
  const queue = state.queue;
  const item = queue.current();
  $("#review-empty").hidden = !!item;
  $("#review-pane").hidden = !item;
  if (!item) {
    delete $("#view-review").dataset.suggestion;
    say("Nothing left to review in this queue.");
    return;
  }
  const data = await documentData(item.segment.document_id);
  if (queue.current() !== item) return; // moved on meanwhile
  prefetchAhead(queue);
  const stored = data.suggestions.get(item.id);
  if (stored) Object.assign(item, { status: stored.status, decided_code: stored.decided_code });

  // the transcript around the segment: two turns before, two after
  const segs = data.segments;
  const at = segs.findIndex((s) => s.id === item.segment.id);
  const bySegment = new Map();
  for (const s of data.suggestions.values()) {
    if (s.status === "superseded") continue;
    if (!bySegment.has(s.segment.id)) bySegment.set(s.segment.id, []);
    bySegment.get(s.segment.id).push(s);
  }
  $("#context-doc").textContent = `· ${item.document}`;
  $("#context").replaceChildren(...segs.slice(Math.max(0, at - 2), at + 3).map((seg) => {
    const current = seg.id === item.segment.id;
    return el("li", { class: `turn${current ? " current" : ""}${seg.is_interviewer ? " interviewer" : ""}`,
                      "aria-current": current ? "true" : null },
      el("span", { class: "speaker", text: seg.speaker ? `${seg.speaker}: ` : "" }),
      el("span", { class: "text", text: seg.text }),
      el("ul", { class: "chips", "aria-label": "Codes on this turn" }, (bySegment.get(seg.id) || []).map(chip)));
  }));

  // the suggestion
  const code = state.book.byId.get(item.code);
  $("#s-label").textContent = item.label || label(item.code);
  $("#s-code").textContent = code && code.parent ? `under ${label(code.parent)}` : "";
  $("#s-meter").value = item.confidence ?? 0;
  $("#s-confidence").textContent = item.confidence === null ? "n/a (a human coding)"
    : `${pct(item.confidence)} (suggested from ${pct(item.threshold)})`;
  $("#s-definition").textContent = code ? code.definition : "";
  $("#s-evidence").replaceChildren(...item.evidence.slice(0, 3).map((e) => el("li", {},
    el("blockquote", { text: e.text }),
    el("p", { class: "muted" }, "coded ", e.codes.map((c) => el("span", { class: "chip human small", text: label(c) })),
      el("span", { text: ` · similarity ${num(e.similarity)}` })))));
  if (!item.evidence.length) $("#s-evidence").append(el("li", { class: "muted", text: "No coded excerpt is close." }));
  const decided = $("#s-decided");
  decided.hidden = item.status === "pending";
  decided.textContent = item.status === "pending" ? ""
    : `Decided: ${item.status}${item.status === "changed" ? ` to ${label(item.decided_code)}` : ""}. ` +
      "Decide again to replace it, or skip to keep it.";
  $("#suggestion-title .badge").hidden = item.status !== "pending";
  $("#alternatives").replaceChildren(...alternatives(item).map((c, i) => el("li", {},
    el("button", { type: "button", class: "alt", "data-code": c.id, "aria-keyshortcuts": String(i + 1),
                   onclick: () => decide("change", c.id) },
      el("kbd", { text: String(i + 1) }), ` ${c.label}`))));
  showMemos(item.segment.id);
  setConsensusMode(queue.spec.order === "consensus");
  showConsensus(item);
  $("#queue-pos").textContent = `${queue.pos + 1} of ${queue.items.length}${queue.done ? "" : "+"} in this queue`;
  $("#view-review").dataset.suggestion = item.id;
}

// ---- memos ------------------------------------------------------------------------------------
const memoCache = new Map(); // segment id -> memos

async function showMemos(segmentId) {
  const list = $("#memo-list");
  if (!memoCache.has(segmentId)) {
    list.replaceChildren();
    try {
      memoCache.set(segmentId, await api.memos(state.project.id, segmentId));
    } catch (error) {
      if (error instanceof api.ApiError && error.status === 404) $(".memos").hidden = true;
      else fail(error);
      return;
    }
  }
  const item = state.queue && state.queue.current();
  if (!item || item.segment.id !== segmentId) return; // moved on meanwhile
  list.replaceChildren(...memoCache.get(segmentId).map((m) =>
    el("li", {}, el("b", { text: `${m.author}: ` }), el("span", { text: m.text }))));
  if (!memoCache.get(segmentId).length) list.append(el("li", { class: "muted", text: "none yet" }));
}

async function saveMemo(event) {
  if (event) event.preventDefault();
  const item = state.queue && state.queue.current();
  const text = $("#memo-text").value.trim();
  if (!item || !text) return;
  try {
    const memo = await api.addMemo(state.project.id, item.segment.id, text);
    memoCache.set(item.segment.id, [...(memoCache.get(item.segment.id) || []), memo]);
    $("#memo-text").value = "";
    say("Memo saved");
    await showMemos(item.segment.id);
    $("#review-pane").focus({ preventScroll: true });
  } catch (error) {
    fail(error);
  }
}

function decide(action, code) {
  if (state.consensusMode) {
    settle(action, code);
    return;
  }
  const queue = state.queue;
  const item = queue && queue.current();
  if (!item) return;
  const projectId = state.project.id;
  const before = { status: item.status, decided_code: item.decided_code };
  const first = before.status === "pending"; // your first decision on it
  queue.history.push({ index: queue.pos, item });
  item.status = { accept: "accepted", reject: "rejected", change: "changed" }[action];
  item.decided_code = action === "reject" ? null : action === "change" ? code : item.code;
  if (first) {
    state.pending -= 1;
    state.decided += 1;
  }
  showProgress();
  const cached = state.docCache.get(item.segment.document_id);
  const stored = cached && cached.suggestions.get(item.id);
  if (stored) Object.assign(stored, { status: item.status, decided_code: item.decided_code });
  say(`${action === "change" ? `Changed to ${label(code)}` : action === "accept" ? "Accepted" : "Rejected"}: ${item.label}`);
  state.chain = state.chain.then(() => api.review(projectId, item.id, action, code)).then((detail) => {
    Object.assign(item, { status: detail.status, decided_code: detail.decided_code });
    if (stored) Object.assign(stored, { status: detail.status, decided_code: detail.decided_code });
  }).catch((error) => {
    // not recorded: the decision is taken back on the page too
    Object.assign(item, before);
    if (stored) Object.assign(stored, before);
    if (first) {
      state.pending += 1;
      state.decided -= 1;
    }
    showProgress();
    fail(error);
  });
  advance();
}

async function advance() {
  await state.queue.next();
  await renderItem();
}

async function skip() {
  if (!state.queue || !state.queue.current()) return;
  say("Skipped");
  await advance();
}

// undo: back to the last suggestion decided here, your decision on it withdrawn (pending for you
// again, and counted so); in the consensus queue, back to the last one settled, to settle again
async function undo() {
  const queue = state.queue;
  const last = queue && queue.history.pop();
  if (!last) {
    say("Nothing to undo");
    return;
  }
  await state.chain; // the decision has reached the server (or was taken back)
  const item = last.item;
  queue.pos = last.index;
  if (queue.spec.order !== "consensus" && item.status !== "pending") {
    const projectId = state.project.id;
    const before = { status: item.status, decided_code: item.decided_code };
    const cached = state.docCache.get(item.segment.document_id);
    const stored = cached && cached.suggestions.get(item.id);
    const pending = { status: "pending", decided_code: null };
    Object.assign(item, pending);
    if (stored) Object.assign(stored, pending);
    state.pending += 1;
    state.decided -= 1;
    showProgress();
    state.chain = state.chain.then(() => api.undo(projectId, item.id)).then((detail) => {
      Object.assign(item, { status: detail.status, decided_code: detail.decided_code });
      if (stored) Object.assign(stored, { status: detail.status, decided_code: detail.decided_code });
    }).catch((error) => {
      // not withdrawn: the decision stands on the page too
      Object.assign(item, before);
      if (stored) Object.assign(stored, before);
      state.pending -= 1;
      state.decided += 1;
      showProgress();
      if (queue.current() === item) renderItem();
      fail(error);
    });
    say(`Undone: ${item.label} is pending again`);
  } else {
    say(`Back to ${item.label}: ${queue.spec.order === "consensus" ? "settle it again" : "decide it"}`);
  }
  await renderItem();
}

// ---- the consensus (owners) -------------------------------------------------------------------
const isOwner = () => !!state.project && state.project.role === "owner";

function verdict(status, code) {
  return status === "changed" ? `changed to ${label(code)}` : status === "accepted" ? `accepted (${label(code)})` : status;
}

function setConsensusMode(on) {
  state.consensusMode = on && isOwner();
  const pane = $("#review-pane");
  pane.classList.toggle("consensus-mode", state.consensusMode);
  $("#btn-consensus").setAttribute("aria-pressed", String(state.consensusMode));
  $("#consensus-hint").hidden = !state.consensusMode;
  $("#consensus-hint .leave").hidden = !!state.queue && state.queue.spec.order === "consensus";
  $("#btn-consensus").hidden = !!state.queue && state.queue.spec.order === "consensus";
  $(".actions", pane).setAttribute("aria-label", state.consensusMode ? "Settle the consensus" : "Decide");
  $("#btn-accept").firstChild.textContent = state.consensusMode ? "Consensus: accept " : "Accept ";
  $("#btn-reject").firstChild.textContent = state.consensusMode ? "Consensus: reject " : "Reject ";
}

// the consensus panel: the consensus set so far and, while settling it (or just settled), each
// coder's own decision
async function showConsensus(item, detail) {
  const box = $("#consensus");
  box.hidden = !isOwner();
  if (!isOwner()) return;
  const list = $("#consensus-decisions");
  const stateLine = (c) => {
    $("#consensus-state").textContent = c ? `Consensus: ${verdict(c.status, c.code)}, set by ${c.by || "an owner"}.`
      : "Consensus: not settled yet.";
    box.dataset.consensus = c ? c.status : "pending";
  };
  stateLine(item.consensus);
  if (!detail && !state.consensusMode) {
    list.hidden = true;
    list.replaceChildren();
    return;
  }
  list.hidden = false;
  if (!detail) {
    list.replaceChildren(el("li", { class: "muted", text: "Loading each coder's decision..." }));
    try {
      detail = await api.suggestion(state.project.id, item.id);
    } catch (error) {
      fail(error);
      return;
    }
    if (state.queue.current() !== item) return; // moved on meanwhile
  }
  item.consensus = detail.consensus;
  stateLine(detail.consensus);
  list.replaceChildren(...detail.decisions.map((d) => el("li", { "data-coder": d.coder, "data-status": d.status },
    el("b", { text: d.coder }), `: ${verdict(d.status, d.code)}`,
    d.reviewer !== d.coder ? el("span", { class: "muted", text: ` (imported by ${d.reviewer})` }) : null)));
  if (!detail.decisions.length) list.append(el("li", { class: "muted", text: "No coder has decided it yet." }));
  $("#view-review").dataset.consensusShown = item.id;
}

function toggleConsensus() {
  const item = state.queue && state.queue.current();
  if (!item || !isOwner() || state.queue.spec.order === "consensus") return;
  setConsensusMode(!state.consensusMode);
  say(state.consensusMode ? `Settling the consensus on ${item.label}: a, x or 1-9` : "Back to your own decision");
  showConsensus(item);
}

async function settle(action, code) {
  const queue = state.queue;
  const item = queue && queue.current();
  if (!item) return;
  clearError();
  try {
    await state.chain;
    const detail = await api.consensus(state.project.id, item.id, action, code);
    item.consensus = detail.consensus;
    say(`Consensus on ${item.label}: ${verdict(detail.consensus.status, detail.consensus.code)}`);
    if (queue.spec.order === "consensus") {
      queue.history.push({ index: queue.pos, item });
      await advance();
    } else if (queue.current() === item) {
      setConsensusMode(false);
      await showConsensus(item, detail);
      $("#review-pane").focus({ preventScroll: true });
    }
  } catch (error) {
    fail(error);
  }
}

// ---- blind coding -----------------------------------------------------------------------------
// A coder codes each segment first; the model's suggestions on it show only then.
async function openBlind(params) {
  const documentId = Number(params.get("document"));
  const doc = state.docs.find((d) => d.id === documentId);
  if (!doc) throw new Error("no such document in this project");
  if (!state.blind || state.blind.documentId !== documentId) {
    const segments = (await api.segments(state.project.id, documentId)).filter((x) => !x.is_interviewer);
    state.blind = { documentId, all: null, segments, pos: 0, info: null };
    state.blind.all = await api.segments(state.project.id, documentId);
    // start at the first segment you have not coded
    for (; state.blind.pos < segments.length; state.blind.pos += 1) {
      state.blind.info = await api.blindSegment(state.project.id, segments[state.blind.pos].id);
      if (!state.blind.info.coded) break;
    }
  }
  crumbs(["Projects", "#/"], [state.project.name, `#/p/${state.project.id}`], [`Code blind: ${doc.name}`]);
  $("#blind-empty .back").href = `#/p/${state.project.id}`;
  $("#blind-doc").textContent = `· ${doc.name}`;
  show("blind");
  say(`Coding ${doc.name} blind`);
  fillBlindCodes();
  await renderBlind();
}

function fillBlindCodes() {
  const box = $("#blind-codes");
  const legend = box.querySelector("legend");
  box.replaceChildren(legend, ...state.book.codes.filter((c) => c.codable).map((c) =>
    el("label", { class: c.parent ? "sub" : null, "data-label": c.label.toLowerCase() },
      el("input", { type: "checkbox", name: "code", value: c.id }), c.label)));
}

async function renderBlind() {
  const b = state.blind;
  const seg = b.segments[b.pos];
  $("#blind-empty").hidden = !!seg;
  $("#blind-pane").hidden = !seg;
  if (!seg) {
    delete $("#view-blind").dataset.segment;
    return;
  }
  if (!b.info || b.info.segment.id !== seg.id) b.info = await api.blindSegment(state.project.id, seg.id);
  const info = b.info;
  const at = b.all.findIndex((x) => x.id === seg.id);
  $("#blind-context").replaceChildren(...b.all.slice(Math.max(0, at - 2), at + 3).map((x) =>
    el("li", { class: `turn${x.id === seg.id ? " current" : ""}${x.is_interviewer ? " interviewer" : ""}`,
               "aria-current": x.id === seg.id ? "true" : null },
      el("span", { class: "speaker", text: x.speaker ? `${x.speaker}: ` : "" }),
      el("span", { class: "text", text: x.text }))));
  $("#blind-pos").textContent = `Segment ${b.pos + 1} of ${b.segments.length}` + (info.coded ? " · coded by you" : "");
  for (const box of document.querySelectorAll("#blind-codes input")) box.checked = info.my_codes.includes(box.value);
  filterCodes("");
  $("#blind-filter").value = "";
  $("#blind-after").hidden = !info.coded;
  $("#blind-mine").textContent = info.coded
    ? `You coded it: ${info.my_codes.length ? info.my_codes.map(label).join(", ") : "no code applies"}.` : "";
  const model = info.coded ? info.suggestions.filter((x) => x.origin === "model") : [];
  $("#blind-suggestions").replaceChildren(...model.map(chip));
  if (info.coded && !model.length) $("#blind-suggestions").append(el("li", { class: "muted", text: "nothing" }));
  $("#view-blind").dataset.segment = seg.id;
  $("#view-blind").dataset.coded = info.coded;
  if (info.coded) $("#blind-pane").focus({ preventScroll: true });
  else $("#blind-filter").focus({ preventScroll: true });
}

function filterCodes(text) {
  const needle = text.trim().toLowerCase();
  for (const row of document.querySelectorAll("#blind-codes label")) {
    row.hidden = needle !== "" && !row.dataset.label.includes(needle);
  }
}

async function codeBlind(event) {
  if (event) event.preventDefault();
  const b = state.blind;
  const seg = b && b.segments[b.pos];
  if (!seg) return;
  const codes = [...document.querySelectorAll("#blind-codes input:checked")].map((x) => x.value);
  try {
    b.info = await api.codeBlind(state.project.id, seg.id, codes);
    say(`Coded: ${codes.length ? codes.map(label).join(", ") : "no code applies"}`);
    await renderBlind();
  } catch (error) {
    fail(error);
  }
}

async function nextBlind() {
  const b = state.blind;
  if (!b || b.pos >= b.segments.length) return;
  b.pos += 1;
  b.info = null;
  await renderBlind();
}

function onBlindKey(event) {
  const target = event.target;
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    codeBlind();
  } else if (target.id === "blind-filter") {
    if (event.key === "Enter") {  // tick the first code found
      event.preventDefault();
      const first = [...document.querySelectorAll("#blind-codes label")].find((row) => !row.hidden);
      if (first) {
        const box = first.querySelector("input");
        box.checked = !box.checked;
        say(`${box.checked ? "Ticked" : "Unticked"} ${first.textContent}`);
      }
      target.value = "";
      filterCodes("");
    }
  } else if (!target.closest("input, select, textarea, dialog")) {
    if (event.key === "n" || event.key === "N") {
      event.preventDefault();
      nextBlind();
    } else if (event.key === "/") {
      event.preventDefault();
      $("#blind-filter").focus();
    } else if (event.key === "?") {
      event.preventDefault();
      $("#keys").showModal();
    }
  }
}

// ---- bulk accept ------------------------------------------------------------------------------
function bulkFilters() {
  const t = Number($("#bulk-threshold").value);
  if (!(t >= 0 && t <= 1)) throw new Error("the confidence must be between 0 and 1");
  return { code: $("#bulk-code").value, min_confidence: t };
}

async function bulkPreview(event) {
  event.preventDefault();
  clearError();
  try {
    const filters = bulkFilters();
    const out = await api.bulkAccept(state.project.id, { ...filters, dry_run: true });
    state.preview = { ...filters, count: out.accepted };
    $("#bulk-result").textContent = `${out.accepted} pending suggestion(s) of ${label(filters.code)} ` +
      `at a confidence of ${num(filters.min_confidence)} or more would be accepted.`;
    $("#bulk-result").dataset.count = out.accepted;
    $("#bulk-confirm").disabled = out.accepted === 0;
    $("#bulk-confirm").textContent = `Accept ${out.accepted}`;
  } catch (error) {
    fail(error);
  }
}

async function bulkConfirm() {
  clearError();
  const preview = state.preview;
  if (!preview) return;
  $("#bulk-confirm").disabled = true;
  try {
    const out = await api.bulkAccept(state.project.id, { code: preview.code, min_confidence: preview.min_confidence });
    state.preview = null;
    clearDocuments();
    state.queue = null;
    await loadProgress();
    await renderProject();
    $("#bulk-result").textContent = `Accepted ${out.accepted} suggestion(s) of ${label(preview.code)}` +
      (out.accepted !== preview.count ? ` (the preview said ${preview.count}: others decided some meanwhile)` : "") + ".";
    $("#bulk-result").dataset.count = out.accepted;
  } catch (error) {
    fail(error);
  }
}

function bulkChanged() {
  state.preview = null;
  $("#bulk-confirm").disabled = true;
  $("#bulk-confirm").textContent = "Accept them";
}

// ---- exports ----------------------------------------------------------------------------------
// whose codings an export holds: everyone's, one coder's (you, or another member), or the
// consensus
async function fillExportChoice() {
  const select = $("#export-who");
  const chosen = select.value;
  let names = [];
  try {
    names = (await api.members(state.project.id)).map((m) => m.name).filter((n) => n !== state.user.name).sort();
  } catch (error) {
    if (!(error instanceof api.ApiError && error.status === 404)) throw error;
  }
  select.replaceChildren(
    el("option", { value: "", text: "Everyone" }),
    el("option", { value: `coder:${state.user.name}`, text: `Yours (${state.user.name})` }),
    ...names.map((n) => el("option", { value: `coder:${n}`, text: n })),
    el("option", { value: "consensus", text: "The consensus" }));
  select.value = [...select.options].some((o) => o.value === chosen) ? chosen : "";
  describeExport();
}

function describeExport() {
  const who = $("#export-who").value;
  $("#export-about").textContent = who === "consensus" ? "The consensus owners settled (\u201cprecode consensus\u201d)."
    : who.startsWith("coder:") ? `What ${who.slice("coder:".length)} accepted, with when and how.`
    : "The model and each coder as separate coders (in the .qdpx, the consensus too).";
}

function exportParams() {
  const who = $("#export-who").value;
  if (who === "consensus") return { consensus: "true" };
  if (who.startsWith("coder:")) return { coder: who.slice("coder:".length) };
  return {};
}

async function download(kind) {
  clearError();
  try {
    const { blob, name } = await api.exportFile(state.project.id, kind, exportParams());
    const url = URL.createObjectURL(blob);
    const link = el("a", { href: url, download: name, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
    $("#export-result").textContent = `Downloaded ${name} (${blob.size.toLocaleString()} bytes).`;
  } catch (error) {
    fail(error);
  }
}

// ---- agreement --------------------------------------------------------------------------------
function figure(field, x, digits = 2) {
  const v = value(x);
  return el("td", { "data-field": field, "data-value": v === null || v === undefined ? "" : v,
                    text: field === "percent_agreement" ? pct(v) : num(v, digits) });
}

function statsRow(head, entry, attrs = {}) {
  return el("tr", attrs, el("th", { scope: "row" }, head),
    el("td", { "data-field": "n_units", "data-value": entry.n_units, text: String(entry.n_units ?? "") }),
    figure("percent_agreement", entry.percent_agreement),
    kappaCell(entry),
    figure("krippendorff_alpha", entry.krippendorff_alpha),
    el("td", { class: "muted", text: (entry.interpretation || {})[kappaField(entry)] || "" }));
}

// Cohen's kappa for two coders; Fleiss' kappa when more coded (the report has no Cohen's then)
const kappaField = (entry) => ("cohen_kappa" in entry ? "cohen_kappa" : "fleiss_kappa");

function kappaCell(entry) {
  const field = kappaField(entry);
  const cell = figure(field, entry[field]);
  cell.title = field === "cohen_kappa" ? "Cohen's kappa" : "Fleiss' kappa";
  if (field === "fleiss_kappa") cell.append(el("sup", { text: "F" }));
  return cell;
}

function statsTable(id, caption, firstHeader, rows) {
  return el("table", { class: "table", id },
    el("caption", { text: caption }),
    el("thead", {}, el("tr", {}, [firstHeader, "Units", "Agreement", "Kappa", "Krippendorff's alpha", "Reading"]
      .map((h) => el("th", { scope: "col", text: h })))),
    el("tbody", {}, rows));
}

function pairName(pair) {
  const [a, b] = pair.split("|");
  const who = (c) => (c === MODEL ? "the model" : c);
  return `${who(a)} vs ${who(b)}`;
}

function pairTable(rows) {
  return statsTable("agreement-pairs", "Each coder against the model and against each other (every code)",
    "Pair", rows.map(({ pair, kind, entry, error }) => error
      ? el("tr", { "data-pair": pair, class: `${kind}-pair` }, el("th", { scope: "row", text: pairName(pair) }),
          el("td", { colspan: 5, class: "muted", text: error }))
      : statsRow(pairName(pair), entry, { "data-pair": pair, class: `${kind}-pair` })));
}

function codeRows(perCode, attrs = {}) {
  return Object.entries(perCode || {}).map(([code, entry]) => statsRow(
    el("span", {}, entry.label || label(code),
      entry.warning ? el("span", { class: "warn", title: entry.warning, text: " *" }) : null),
    entry, { ...attrs, "data-code": code }));
}

// report: GET /agreement (every coder together); pairwise: GET /agreement/pairs, or null
export function renderAgreement(report, pairwise) {
  const body = $("#agreement-body");
  const kindOf = (pair) => (pair.includes(MODEL) ? "model" : "coder");
  const rows = pairwise
    ? pairwise.pairs.map((p) => ({ pair: `${p.a}|${p.b}`, kind: p.kind === "coders" ? "coder" : "model",
                                   entry: p.error ? null : { ...p.overall, n_units: p.n_units_compared },
                                   error: p.error, perCode: p.per_code }))
    : Object.entries(report.pairs || {}).map(([pair, entry]) => ({ pair, kind: kindOf(pair), entry }));
  rows.sort((a, b) => Number(a.kind === "coder") - Number(b.kind === "coder"));
  const parts = [
    el("p", {}, `${report.n_units_compared} of ${report.n_units} unit(s) compared; coders: `,
      report.coders.map((c, i) => el("span", {}, i ? ", " : "", el("b", { text: c === MODEL ? `${c} (the model)` : c })))),
    pairTable(rows),
  ];
  for (const row of rows) {
    if (!row.perCode) continue;
    const id = `agreement-pair-${row.pair.replace(/[^\w-]/g, "_")}`;
    parts.push(el("details", { class: "pair-codes" }, el("summary", { text: `${pairName(row.pair)}, per code` }),
      statsTable(id, `${pairName(row.pair)}, per code`, "Code", codeRows(row.perCode, { "data-pair": row.pair }))));
  }
  parts.push(statsTable("agreement-codes", "Per code, every coder together", "Code", codeRows(report.per_code)));
  parts.push(el("p", { class: "muted", text: "Kappa: Cohen's for a pair of coders; Fleiss' (F) " +
    "across three or more. Agreement: the share of units where the coders gave the same codes. " +
    "Units: those both coders of a pair saw." }));
  if ((report.warnings || []).length) {
    parts.push(el("ul", { class: "warnings" }, report.warnings.map((w) => el("li", { text: w }))));
  }
  body.replaceChildren(...parts);
}

async function loadAgreement() {
  clearError();
  $("#agreement-body").textContent = "Computing...";
  try {
    const params = { bootstrap: 0 };
    const [report, pairwise] = await Promise.all([
      api.agreement(state.project.id, params), api.agreementPairs(state.project.id, params)]);
    renderAgreement(report, pairwise);
  } catch (error) {
    $("#agreement-body").textContent = "";
    fail(error);
  }
}

// ---- keys -------------------------------------------------------------------------------------
function onKey(event) {
  const target = event.target;
  if (document.body.dataset.view === "blind") {
    onBlindKey(event);
    return;
  }
  if (event.key === "Escape" && state.consensusMode && document.body.dataset.view === "review"
      && state.queue && state.queue.spec.order !== "consensus" && target.id !== "memo-text"
      && !target.closest("dialog")) {
    event.preventDefault();
    toggleConsensus();
    return;
  }
  if (target.id === "memo-text") {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) saveMemo(event);
    else if (event.key === "Escape") $("#review-pane").focus({ preventScroll: true });
    return;
  }
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (target.closest && target.closest("input, select, textarea, dialog")) return;
  if (event.key === "?") {
    event.preventDefault();
    $("#keys").showModal();
    return;
  }
  if (document.body.dataset.view !== "review" || !state.queue) return;
  const onControl = target.closest && target.closest("button, a");
  if (event.key === " " || event.key === "Spacebar") {
    if (onControl && onControl.id !== "btn-skip") return; // a focused button is pressed as usual
    event.preventDefault();
    if (!event.repeat) skip();
  } else if (event.key === "a" || event.key === "A") {
    event.preventDefault();
    decide("accept");
  } else if (event.key === "x" || event.key === "X") {
    event.preventDefault();
    decide("reject");
  } else if ((event.key === "c" || event.key === "C") && isOwner()) {
    event.preventDefault();
    toggleConsensus();
  } else if (event.key === "m" || event.key === "M") {
    event.preventDefault();
    $("#memo-text").focus();
  } else if (event.key === "Backspace") {
    event.preventDefault();
    undo();
  } else if (/^[1-9]$/.test(event.key)) {
    const button = $(`#alternatives li:nth-child(${event.key}) button`);
    if (button) {
      event.preventDefault();
      decide("change", button.dataset.code);
    }
  }
}

// ---- wiring -----------------------------------------------------------------------------------
function init() {
  $("#signin-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError();
    api.setToken($("#token").value.trim());
    $("#token").value = "";
    try {
      await loadUser();
      say(`Signed in as ${state.user.name}`);
      route();
    } catch (error) {
      api.setToken(null);
      state.user = null;
      fail(error instanceof api.ApiError && error.status === 401 ? "That token is not valid (unknown, revoked or expired)." : error);
    }
  });
  $("#signout").addEventListener("click", signOut);
  $("#keys-button").addEventListener("click", () => $("#keys").showModal());
  $("#queue-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    const order = form.get("order");
    const params = new URLSearchParams({ order });
    if (order === "code") params.set("code", form.get("code"));
    if (order === "document") params.set("document", form.get("document"));
    state.queue = null;
    window.location.hash = `#/p/${state.project.id}/review?${params}`;
  });
  for (const name of ["code", "document"]) {
    $(`#queue-form select[name=${name}]`).addEventListener("change", () => {
      $(`#queue-form input[value=${name}]`).checked = true;
    });
  }
  $("#bulk-form").addEventListener("submit", bulkPreview);
  $("#bulk-form").addEventListener("input", bulkChanged);
  $("#bulk-confirm").addEventListener("click", bulkConfirm);
  for (const button of document.querySelectorAll("[data-export]")) {
    button.addEventListener("click", () => download(button.dataset.export));
  }
  $("#export-who").addEventListener("change", describeExport);
  $("#agreement-load").addEventListener("click", loadAgreement);
  $("#btn-accept").addEventListener("click", () => decide("accept"));
  $("#btn-reject").addEventListener("click", () => decide("reject"));
  $("#btn-skip").addEventListener("click", skip);
  $("#btn-undo").addEventListener("click", undo);
  $("#btn-consensus").addEventListener("click", toggleConsensus);
  $("#memo-form").addEventListener("submit", saveMemo);
  $("#blind-form").addEventListener("submit", codeBlind);
  $("#blind-filter").addEventListener("input", (event) => filterCodes(event.target.value));
  $("#blind-next").addEventListener("click", nextBlind);
  document.addEventListener("keydown", onKey);
  window.addEventListener("hashchange", route);
  route();
}

init();
