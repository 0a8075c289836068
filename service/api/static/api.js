// The page's only door to the JSON API: every call the review page makes is here, so that a new
// endpoint is wired in one place. The token lives in this tab's sessionStorage and goes out as
// the Authorization header; nothing else is stored.

const TOKEN_KEY = "precode.token";

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

function newKey() {
  // an Idempotency-Key per decision: a retry after a lost answer is recorded once
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function call(method, path, { body, query, headers, raw } = {}) {
  const url = new URL(path, window.location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
  }
  const init = { method, headers: { Authorization: `Bearer ${token()}`, ...(headers || {}) } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(url, init);
  if (!res.ok) {
    let detail = `${res.status} ${res.statusText}`;
    try {
      const problem = await res.json();
      detail = problem.detail || detail;
      if (problem.errors) detail += ": " + problem.errors.map((e) => `${e.pointer || ""} ${e.detail}`).join("; ");
    } catch (_) { /* not JSON */ }
    throw new ApiError(res.status, detail);
  }
  if (raw) return res;
  return res.status === 204 ? null : res.json();
}

const project = (id) => `/v1/projects/${id}`;

export const me = () => call("GET", "/v1/users/me");
export const projects = () => call("GET", "/v1/projects");
export const getProject = (id) => call("GET", project(id));
export const codebook = (id) => call("GET", `${project(id)}/codebook`);
export const documents = (id) => call("GET", `${project(id)}/documents`);
// the project's model versions, oldest first; the last is current ({caution, measured_on, ...})
export const models = (id) => call("GET", `${project(id)}/models`);
export const segments = (id, documentId) => call("GET", `${project(id)}/documents/${documentId}/segments`);

// {total, items}; params: document_id, code, status, origin, order, limit, offset
export const suggestions = (id, params) => call("GET", `${project(id)}/suggestions`, { query: params });

// action: accept | reject | change (with code)
export const review = (id, suggestionId, action, code) =>
  call("POST", `${project(id)}/suggestions/${suggestionId}/review`, {
    body: code ? { action, code } : { action }, headers: { "Idempotency-Key": newKey() },
  });

// undo: withdraw your own decision; the suggestion is pending for you again (409 when you have
// none on it)
export const undo = (id, suggestionId) => call("DELETE", `${project(id)}/suggestions/${suggestionId}/review`);

// one suggestion with each person's decision on it (`decisions`) and its review history
export const suggestion = (id, suggestionId) => call("GET", `${project(id)}/suggestions/${suggestionId}`);

// the project's consensus (owners): accept | reject | change (with code)
export const consensus = (id, suggestionId, action, code) =>
  call("POST", `${project(id)}/suggestions/${suggestionId}/consensus`, {
    body: code ? { action, code } : { action },
  });

// [{user_id, name, role}]
export const members = (id) => call("GET", `${project(id)}/members`);

// {code, min_confidence, dry_run}: with dry_run only counts what would be accepted
export const bulkAccept = (id, body) => call("POST", `${project(id)}/suggestions/bulk-accept`, { body });

// blind coding: a segment with your codes and, once you coded it, its suggestions
export const blindSegment = (id, segmentId) => call("GET", `${project(id)}/segments/${segmentId}/blind`);
export const codeBlind = (id, segmentId, codes) =>
  call("POST", `${project(id)}/segments/${segmentId}/blind`, { body: { codes } });

// memos on a segment: [{id, author, text, ...}], oldest first
export const memos = (id, segmentId) => call("GET", `${project(id)}/segments/${segmentId}/memos`);
export const addMemo = (id, segmentId, text) =>
  call("POST", `${project(id)}/segments/${segmentId}/memos`, { body: { text } });

// your own progress: {decided, pending, ..., documents: [{document_id, decided, pending}]}, or
// null from a server without it
export async function progress(id) {
  try {
    return await call("GET", `${project(id)}/progress`);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return null;
    throw error;
  }
}

export const reviews = (id, params) => call("GET", `${project(id)}/reviews`, { query: params });

// 200 with the report, or 202 while a large project's report is computed: asked again after
// Retry-After seconds
export async function agreement(id, params, path = "/agreement") {
  for (;;) {
    const res = await call("GET", `${project(id)}${path}`, { query: params, raw: true });
    if (res.status !== 202) return res.json();
    const wait = Number(res.headers.get("Retry-After") || "1");
    await new Promise((done) => setTimeout(done, Math.min(wait, 10) * 1000));
  }
}

// each coder against the model and against each other coder, overall and per code: null where
// the server has no such report (an older one)
export async function agreementPairs(id, params) {
  try {
    return await agreement(id, params, "/agreement/pairs");
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return null;
    throw error;
  }
}

// the export as a Blob with its file name: kind is csv or qdpx; params: {coder} (one coder's
// codings) or {consensus: true} (the project's consensus), none for everyone's
export async function exportFile(id, kind, params) {
  const res = await call("GET", `${project(id)}/export.${kind}`, { raw: true, query: params });
  const disposition = res.headers.get("Content-Disposition") || "";
  const match = /filename="([^"]+)"/.exec(disposition);
  return { blob: await res.blob(), name: match ? match[1] : `project-${id}.${kind}` };
}
