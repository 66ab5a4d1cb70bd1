// The operator's dashboard: GET /v1/admin/overview and /v1/admin/failed every few seconds,
// and POST /v1/admin/jobs/{id}/retry from the failed jobs' buttons.
"use strict";

const REFRESH_MS = 5000;
const $ = (id) => document.getElementById(id);
let timer = null;

function stat(label, value) {
  return el("div", {}, el("dt", { text: label }), el("dd", { text: String(value) }));
}

function seconds(value) {
  return value === null || value === undefined ? "\u2013" : value.toFixed(2);
}

function percent(value) {
  return value === null || value === undefined ? "\u2013" : `${Math.round(value * 100)}%`;
}

function rowsOrEmpty(body, rows, columns, empty) {
  body.replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: String(columns), text: empty }))]));
}

function renderQueue(overview) {
  const q = overview.queue.by_priority;
  $("queue-stats").replaceChildren(
    stat("high", q.high),
    stat("normal", q.normal),
    stat("low", q.low),
    stat("running", overview.counts.running),
  );
  const rows = overview.queue.by_tenant.map((row) =>
    el("tr", {}, el("td", { text: row.tenant }), el("td", { text: row.priority }), el("td", { class: "num", text: String(row.queued) })),
  );
  rowsOrEmpty($("queue-tenants"), rows, 3, "Nothing queued.");
}

function renderThroughput(overview) {
  const t = overview.throughput;
  const minutes = Math.round(overview.window_s / 60);
  $("throughput-stats").replaceChildren(
    stat(`finished (${minutes} min)`, t.finished),
    stat("succeeded", t.succeeded),
    stat("per minute", t.per_minute.toFixed(2)),
  );
  const most = Math.max(1, ...t.buckets.map((b) => b.succeeded + b.failed));
  $("bars").replaceChildren(
    ...t.buckets.map((b) => {
      const bar = el("span", { class: b.failed > b.succeeded ? "bad" : "", title: `${shortTime(b.start)}: ${b.succeeded} ok, ${b.failed} not` });
      bar.style.height = `${((b.succeeded + b.failed) / most) * 100}%`;
      return bar;
    }),
  );
  const row = (name, l) =>
    el("tr", {}, el("th", { scope: "row", text: name }), ...[l.p50_s, l.p95_s, l.max_s].map((v) => el("td", { class: "num", text: seconds(v) })));
  $("latency").replaceChildren(row("submitted \u2192 done", t.total_latency), row("started \u2192 done", t.run_latency));
}

function renderWorkers(overview) {
  if (!overview.workers.length) {
    $("workers").replaceChildren(el("p", { class: "hint", text: "No batch running." }));
    return;
  }
  $("workers").replaceChildren(
    ...overview.workers.map((worker) => {
      const list = el("ul", {}, ...worker.running.map((job) => {
        const bar = el("progress", { max: "1", value: String(job.fraction), "aria-label": `${job.id} progress` });
        return el("li", { "data-job": job.id }, el("code", { text: job.id }), ` ${job.tenant} \u00b7 ${job.stage} `, bar);
      }));
      return el("div", { "data-worker": worker.worker_id },
        el("h3", { text: `${worker.worker_id}: ${worker.running.length} job${worker.running.length === 1 ? "" : "s"}` }), list);
    }),
  );
}

function renderBatches(overview) {
  const cell = (label, text) => el("td", { class: "num", "data-label": label, text });
  const rows = overview.batches.map((b) =>
    el("tr", { "data-worker": b.worker_id }, el("td", { text: b.worker_id }), cell("Batches", String(b.batches)),
      cell("Jobs", String(b.jobs)), cell("Mean size", b.mean_batch_size.toFixed(1)), cell("Largest", String(b.max_batch_size))),
  );
  rowsOrEmpty($("batches"), rows, 5, "No batch finished in the window.");
}

function renderCaches(overview) {
  $("cache-rate").textContent = `Result cache answered ${percent(overview.result_cache_hit_rate)} of the video jobs done in the window (every server).`;
  const rows = overview.caches.map((c) => {
    const looked = (c.hits || 0) + (c.misses || 0);
    const rate = c.hits === null ? "workers only" : looked ? percent(c.hits / looked) : "\u2013";
    return el("tr", {}, el("td", { text: c.namespace }), el("td", { class: "num", text: String(c.entries) }),
      el("td", { class: "num", text: (c.bytes / 1e6).toFixed(1) }), el("td", { class: "num", text: rate }));
  });
  rowsOrEmpty($("caches"), rows, 4, "No caches.");
}

function renderTenants(overview) {
  const cell = (label, text) => el("td", { class: "num", "data-label": label, text });
  const rows = overview.tenants.map((t) =>
    el("tr", {}, el("td", { text: t.tenant }),
      cell("Queued", String(t.queued)), cell("Running", String(t.running)),
      cell("Finished", String(t.finished)), cell("Failed", String(t.failed)),
      cell("Run s", t.run_s.toFixed(1)), cell("Charged s", t.service_s.toFixed(1))),
  );
  rowsOrEmpty($("tenants"), rows, 7, "No tenant has used it yet.");
}

function renderFailed(page) {
  const rows = page.jobs.map((job) => {
    const button = el("button", { type: "button", class: "secondary", text: "Retry" });
    button.setAttribute("aria-label", `Retry job ${job.id}`);
    button.addEventListener("click", () => retry(job.id, button));
    const error = job.error ? `${job.error.code}: ${job.error.message}` : "";
    return el("tr", { "data-job": job.id }, el("td", { "data-label": "Job" }, el("code", { text: job.id })),
      el("td", { "data-label": "Tenant", text: job.tenant }), el("td", { "data-label": "Error", text: error }),
      el("td", { "data-label": "Failed at", text: shortTime(job.finished_at) }), el("td", {}, button));
  });
  rowsOrEmpty($("failed"), rows, 5, "No failed jobs.");
}

async function retry(jobId, button) {
  button.disabled = true;
  try {
    const job = await apiJson(`/v1/admin/jobs/${jobId}/retry`, { method: "POST" });
    $("retry-status").textContent = `Job ${job.id} is ${job.state} again.`;
    showError($("error"), null);
  } catch (error) {
    showError($("error"), error);
    button.disabled = false;
  }
  refresh();
}

async function refresh() {
  clearTimeout(timer);
  try {
    const windowS = $("window").value;
    const [overview, failed] = await Promise.all([
      apiJson(`/v1/admin/overview?window_s=${windowS}`),
      apiJson("/v1/admin/failed?limit=50"),
    ]);
    renderQueue(overview);
    renderThroughput(overview);
    renderWorkers(overview);
    renderBatches(overview);
    renderCaches(overview);
    renderTenants(overview);
    renderFailed(failed);
    showError($("error"), null);
    $("updated").textContent = `Updated ${shortTime(overview.now)}${overview.finished_truncated ? " (latest jobs only)" : ""}.`;
    document.body.dataset.loaded = "true";
  } catch (error) {
    showError($("error"), error);
    if (error instanceof ApiError && error.status === 401) $("key-box").open = true;
  }
  timer = setTimeout(refresh, REFRESH_MS);
}

document.addEventListener("DOMContentLoaded", () => {
  setUpKeyForm(refresh);
  $("refresh").addEventListener("click", refresh);
  $("window").addEventListener("change", refresh);
  refresh();
});
