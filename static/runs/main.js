// The /runs/ page: every run of mine across workflows, filtered and paged. The filters live in
// the URL's query (a filtered page can be bookmarked); the rows come from GET /api/runs/ and
// are fetched again every few seconds while the tab is visible, so statuses stay current.
import {runRow} from "./rows.js";

const POLL_MS = 4000;
const FILTERS = ["status", "workflow", "origin", "since", "until"];
const DAY = /^\d{4}-\d{2}-\d{2}$/;
const $ = (sel) => document.querySelector(sel);
const form = $("[data-testid=run-filters]");
const body = $("[data-testid=runs-body]");
const count = $("[data-testid=page-count]");
const error = $("[data-testid=runs-error]");
const LIMIT = 25;  // the API's default page (builder/run_list.py): under 10 KB a poll
let shown = {offset: 0, limit: LIMIT, total: 0};
let loading = null;

/** The page's query as the URL has it. */
function pageQuery() {
  return new URLSearchParams(location.search);
}

/** A page date (the browser's day) as the moment the API filters by: a day's start, or for
 * `until` the next day's start (the day is included). Anything else goes as it is (the API
 * answers 422 to what it cannot read). */
function apiMoment(value, end) {
  if (!DAY.test(value)) return value;
  const [y, m, d] = value.split("-").map(Number);
  const day = new Date(y, m - 1, d + (end ? 1 : 0));
  return Number.isNaN(day.getTime()) ? value : day.toISOString();
}

function apiQuery(query) {
  const out = new URLSearchParams();
  for (const name of [...FILTERS, "offset", "limit"]) {
    const value = query.get(name);
    if (!value) continue;
    out.set(name, name === "since" || name === "until" ? apiMoment(value, name === "until") : value);
  }
  return out;
}

function showError(message) {
  error.textContent = message;
  error.hidden = !message;
}

/** Fetch and draw the page the URL names (`quiet`: a poll, keep the rows until the answer). */
async function load(quiet = false) {
  const query = pageQuery();
  loading?.abort();
  const controller = new AbortController();
  loading = controller;
  if (!quiet) body.setAttribute("aria-busy", "true");
  try {
    const response = await fetch(`/api/runs/?${apiQuery(query)}`, {
      headers: {Accept: "application/json"}, credentials: "same-origin", signal: controller.signal});
    const data = await response.json();
    if (!response.ok) throw new Error(describe(data, response.status));
    shown = {offset: Number(query.get("offset")) || 0, limit: Number(query.get("limit")) || LIMIT,
      total: Number(response.headers.get("X-Total-Count")) || 0};
    draw(data);
    showError("");
  } catch (err) {
    if (err.name === "AbortError") return;
    if (!quiet) { body.replaceChildren(); shown.total = 0; paintPager(0); }
    showError(err.message);
  } finally {
    if (loading === controller) { loading = null; body.removeAttribute("aria-busy"); }
  }
}

function describe(data, status) {
  const problems = (data?.errors || []).map((e) => `${e.path.replace(/^query\./, "")}: ${e.message}`);
  return problems.length ? `These filters cannot be used: ${problems.join("; ")}` : data?.detail || `failed (${status})`;
}

function draw(runs) {
  if (!runs.length) {
    const filtered = FILTERS.some((name) => pageQuery().get(name));
    const cell = Object.assign(document.createElement("td"), {colSpan: 6, className: "muted",
      textContent: shown.total ? "No runs on this page." : filtered ? "No runs match these filters." : "No runs yet."});
    body.replaceChildren(document.createElement("tr"));
    body.firstChild.append(cell);
  } else {
    body.replaceChildren(...runs.map(runRow));
  }
  paintPager(runs.length);
}

function paintPager(rows) {
  const {offset, limit, total} = shown;
  count.textContent = rows ? `${offset + 1}–${offset + rows} of ${total}` : total ? `none of ${total} here` : "";
  $("[data-page=prev]").disabled = offset <= 0;
  $("[data-page=next]").disabled = offset + limit >= total;
}

/** Go to the page of `query` (a new history entry, so Back returns to the last view). */
function go(query) {
  const search = query.toString();
  history.pushState(null, "", search ? `?${search}` : location.pathname);
  load();
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const query = new URLSearchParams();
  for (const [name, value] of new FormData(form)) if (value) query.set(name, String(value));
  const limit = pageQuery().get("limit");
  if (limit) query.set("limit", limit);
  go(query);  // a new filter starts at the first page
});
for (const select of form.querySelectorAll("select")) select.addEventListener("change", () => form.requestSubmit());

$("[data-testid=pager]").addEventListener("click", (event) => {
  const button = event.target.closest("button[data-page]");
  if (!button || button.disabled) return;
  const query = pageQuery();
  const step = button.dataset.page === "next" ? shown.limit : -shown.limit;
  const offset = Math.max(0, shown.offset + step);
  if (offset) query.set("offset", String(offset)); else query.delete("offset");
  go(query);
});

window.addEventListener("popstate", () => {
  const query = pageQuery();
  for (const name of FILTERS) form.elements[name].value = query.get(name) || "";
  load();
});

document.querySelector("[data-testid=nav-runs]")?.setAttribute("aria-current", "page");
setInterval(() => { if (!document.hidden && !loading) load(true); }, POLL_MS);
load();
