// The submit page: send a video and a prompt to POST /v1/jobs, poll the job, then play,
// draw and offer the result for download. Results need the API key, so they are fetched
// with it and shown from a blob URL, never linked directly.
"use strict";

const POLL_MS = 500;
const $ = (id) => document.getElementById(id);
let current = null; // { id, timer, urls: [] }

function formFields() {
  const data = new FormData();
  data.append("video", $("video").files[0]);
  data.append("prompt", $("prompt").value);
  data.append("negative_prompt", $("negative_prompt").value);
  for (const name of ["output_format", "seed", "steps", "mix_original_db"]) {
    const value = $(name).value.trim();
    if (value !== "") data.append(name, value);
  }
  return data;
}

async function submit(event) {
  event.preventDefault();
  showError($("error"), null);
  if (!$("video").files.length) {
    $("error").textContent = "Choose a video file first.";
    $("error").hidden = false;
    $("video").focus();
    return;
  }
  if (!$("prompt").value.trim()) {
    $("error").textContent = "Describe the sound you want, e.g. \u201cfootsteps on gravel\u201d.";
    $("error").hidden = false;
    $("prompt").focus();
    return;
  }
  $("submit").disabled = true;
  try {
    const job = await apiJson("/v1/jobs", { method: "POST", body: formFields() });
    watch(job);
    refreshRecent();
  } catch (error) {
    showError($("error"), error);
  } finally {
    $("submit").disabled = false;
  }
}

function forget() {
  if (!current) return;
  clearTimeout(current.timer);
  current.urls.forEach((url) => URL.revokeObjectURL(url));
  current = null;
}

// Show `job` and keep polling it until it finishes.
function watch(job) {
  forget();
  current = { id: job.id, timer: null, urls: [] };
  $("job").hidden = false;
  $("result").hidden = true;
  showError($("job-error"), null);
  render(job);
  if (!isFinished(job)) schedulePoll();
  else finish(job);
}

function isFinished(job) {
  return ["succeeded", "failed", "canceled", "expired"].includes(job.state);
}

function schedulePoll(delayMs = POLL_MS) {
  const mine = current;
  mine.timer = setTimeout(async () => {
    try {
      const job = await apiJson(`/v1/jobs/${mine.id}`);
      if (current !== mine) return;
      showError($("job-error"), null);
      render(job);
      if (isFinished(job)) finish(job);
      else schedulePoll();
    } catch (error) {
      if (current !== mine) return;
      showError($("job-error"), error);
      schedulePoll(Math.min(delayMs * 2, 10_000)); // back off while the server refuses
    }
  }, delayMs);
}

// Text set only when it changes, so the live region announces changes, not every poll.
function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

// `queue` (GET /v1/jobs/{id} while queued): jobs ahead, and a rough start time or null.
function queueText(queue) {
  const place = `place ${queue.ahead + 1} in the queue`;
  if (!queue.estimated_start_at) return `(${place})`;
  const seconds = Math.max(0, Math.round((Date.parse(queue.estimated_start_at) - Date.now()) / 1000));
  return `(${place}, starts in about ${seconds} s)`;
}

function render(job) {
  const state = $("state-text");
  setText(state, job.state[0].toUpperCase() + job.state.slice(1));
  state.className = `state state-${job.state}`;
  $("status").dataset.state = job.state;
  setText($("job-id"), job.id);
  setText($("queue-text"), job.state === "queued" && job.queue ? queueText(job.queue) : "");
  const p = job.progress;
  const fraction = job.state === "succeeded" ? 1 : p.fraction;
  $("progress").value = fraction;
  $("progress").setAttribute("aria-valuetext", `${Math.round(fraction * 100)}%`);
  setText($("progress-text"), p.total
    ? `${p.stage}: step ${p.step} of ${p.total} (${Math.round(fraction * 100)}%)`
    : `${p.stage}${job.cached ? " (answered from the cache)" : ""}`);
}

async function finish(job) {
  refreshRecent();
  if (job.state !== "succeeded") {
    const why = job.error ? `${job.error.message} (${job.error.code})` : `The job was ${job.state}.`;
    $("job-error").textContent = why;
    $("job-error").hidden = false;
    return;
  }
  const mine = current;
  try {
    const response = await apiFetch(job.links.result);
    const blob = await response.blob();
    if (current !== mine) return;
    await showResult(job, blob);
  } catch (error) {
    showError($("job-error"), error);
  }
}

async function showResult(job, blob) {
  const url = URL.createObjectURL(blob);
  current.urls.push(url);
  const isVideo = job.result.content_type.startsWith("video/");
  const player = isVideo ? $("result-video") : $("result-audio");
  $("result-video").hidden = !isVideo;
  $("result-audio").hidden = isVideo;
  player.src = url;
  const extension = { mp4: "mp4", wav: "wav", flac: "flac", mp3: "mp3", m4a: "m4a", opus: "ogg" };
  const download = $("download");
  download.href = url;
  download.download = `${job.id}.${extension[job.params.output_format] || "bin"}`;
  download.textContent = isVideo ? "Download the video" : "Download the sound";
  $("result").hidden = false;
  $("result").dataset.ready = "false";
  const audio = await decode(blob, job.result.sample_rate_hz);
  drawWaveform($("waveform"), audio);
  const wavButton = $("download-audio");
  wavButton.hidden = !(isVideo && audio);
  wavButton.onclick = () => saveWav(audio, `${job.id}.wav`);
  $("result").dataset.ready = "true";
}

async function decode(blob, sampleRateHz) {
  try {
    const context = new OfflineAudioContext(1, 1, sampleRateHz);
    return await context.decodeAudioData(await blob.arrayBuffer());
  } catch (_) {
    return null; // a codec this browser cannot decode: the player may still play it
  }
}

// Peaks (min and max per pixel column) of the first channels' mix, drawn as bars.
function drawWaveform(canvas, audio) {
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.max(1, Math.round(canvas.clientWidth * ratio));
  canvas.height = Math.max(1, Math.round(canvas.clientHeight * ratio));
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  canvas.dataset.drawn = "false";
  if (!audio) return;
  const channels = Array.from({ length: audio.numberOfChannels }, (_, c) => audio.getChannelData(c));
  const per = Math.max(1, Math.floor(audio.length / canvas.width));
  const mid = canvas.height / 2;
  ctx.fillStyle = "#5fb3ff";
  let peakAll = 0;
  for (let x = 0; x < canvas.width; x++) {
    let low = 0;
    let high = 0;
    for (let i = x * per; i < Math.min(audio.length, (x + 1) * per); i++) {
      let sample = 0;
      for (const data of channels) sample += data[i];
      sample /= channels.length;
      if (sample < low) low = sample;
      if (sample > high) high = sample;
    }
    peakAll = Math.max(peakAll, high, -low);
    ctx.fillRect(x, mid - high * mid, 1, Math.max(1, (high - low) * mid));
  }
  canvas.dataset.drawn = peakAll > 0 ? "true" : "silent";
  canvas.setAttribute("aria-label", `Waveform, ${audio.duration.toFixed(1)} s, peak ${peakAll.toFixed(2)}`);
}

// 16-bit PCM WAV of a decoded AudioBuffer, for "the sound only" beside a video result.
function saveWav(audio, filename) {
  const channels = audio.numberOfChannels;
  const frames = audio.length;
  const buffer = new ArrayBuffer(44 + frames * channels * 2);
  const view = new DataView(buffer);
  const text = (offset, s) => [...s].forEach((ch, i) => view.setUint8(offset + i, ch.charCodeAt(0)));
  text(0, "RIFF");
  view.setUint32(4, 36 + frames * channels * 2, true);
  text(8, "WAVEfmt ");
  view.setUint32(16, 16, true);
  view.setUint16(20, 1, true);
  view.setUint16(22, channels, true);
  view.setUint32(24, audio.sampleRate, true);
  view.setUint32(28, audio.sampleRate * channels * 2, true);
  view.setUint16(32, channels * 2, true);
  view.setUint16(34, 16, true);
  text(36, "data");
  view.setUint32(40, frames * channels * 2, true);
  const data = Array.from({ length: channels }, (_, c) => audio.getChannelData(c));
  let offset = 44;
  for (let i = 0; i < frames; i++) {
    for (const channel of data) {
      const s = Math.max(-1, Math.min(1, channel[i]));
      view.setInt16(offset, s < 0 ? s * 0x8000 : s * 0x7fff, true);
      offset += 2;
    }
  }
  const link = el("a", { href: URL.createObjectURL(new Blob([buffer], { type: "audio/wav" })), download: filename });
  document.body.append(link);
  link.click();
  link.remove();
}

async function refreshRecent() {
  const body = $("recent");
  try {
    const page = await apiJson("/v1/jobs?limit=10");
    showError($("recent-error"), null);
    body.replaceChildren(
      ...page.jobs.map((job) => {
        const open = el("button", { type: "button", class: "secondary", text: "Open" });
        open.setAttribute("aria-label", `Open job ${job.params.prompt}`);
        open.addEventListener("click", () => watch(job));
        return el(
          "tr",
          { "data-job": job.id },
          el("td", { "data-label": "Prompt", text: job.params.prompt }),
          el("td", { "data-label": "State", class: `state state-${job.state}`, text: job.state }),
          el("td", { "data-label": "Submitted", text: shortTime(job.created_at) }),
          el("td", {}, open),
        );
      }),
    );
    if (!page.jobs.length) body.replaceChildren(el("tr", {}, el("td", { colspan: "4", text: "No jobs yet." })));
  } catch (error) {
    showError($("recent-error"), error);
  }
}

function setUpDrop() {
  const drop = $("drop");
  const input = $("video");
  const show = () => {
    const file = input.files[0];
    const size = file && file.size < 1e6 ? `${Math.ceil(file.size / 1e3)} kB` : `${(file?.size / 1e6).toFixed(1)} MB`;
    $("file-name").textContent = file ? `Chosen: ${file.name} (${size})` : "";
  };
  input.addEventListener("change", show);
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (event) => {
      event.preventDefault();
      drop.classList.add("over");
    });
  }
  for (const name of ["dragleave", "drop"]) {
    drop.addEventListener(name, () => drop.classList.remove("over"));
  }
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    if (event.dataTransfer.files.length) {
      input.files = event.dataTransfer.files;
      show();
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  setUpKeyForm(refreshRecent);
  setUpDrop();
  $("job-form").addEventListener("submit", submit);
  $("recent-refresh").addEventListener("click", refreshRecent);
  refreshRecent();
});
