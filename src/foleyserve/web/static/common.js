// Shared by both pages: the API key (entered once, kept in localStorage), calls to the JSON
// API, and turning its {"error": {"code", "message"}} answers into readable messages.
"use strict";

const KEY_STORAGE = "foleyserve.apiKey";

class ApiError extends Error {
  constructor(status, code, message, retryAfterS) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfterS = retryAfterS;
  }
}

function apiKey() {
  return localStorage.getItem(KEY_STORAGE) || "";
}

function authHeaders() {
  const key = apiKey();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

// A readable sentence for an error answer: the server's message, with what to do first.
function explain(error) {
  if (!(error instanceof ApiError)) {
    return `The server could not be reached (${error.message}). Check that it is running.`;
  }
  const what = {
    401: "The API key is missing or not accepted: enter a valid key under \u201cAPI key\u201d.",
    403: "This key may not do that.",
    413: "The video is too large.",
    429: "Too many submissions at once" +
      (error.retryAfterS ? `: try again in ${error.retryAfterS} s.` : "; wait a moment."),
  }[error.status];
  return what ? `${what} ${error.message}` : error.message;
}

// fetch() against the API; resolves to the Response when it is ok, else throws ApiError.
async function apiFetch(path, options = {}) {
  const headers = { ...authHeaders(), ...(options.headers || {}) };
  const response = await fetch(path, { ...options, headers });
  if (response.ok) return response;
  let code = `http_${response.status}`;
  let message = `The server answered ${response.status} ${response.statusText}.`;
  try {
    const body = await response.json();
    if (body && body.error) ({ code, message } = body.error);
  } catch (_) {
    // Not our JSON (a proxy's page, say): keep the status line.
  }
  const retryAfter = Number.parseInt(response.headers.get("Retry-After") || "", 10);
  throw new ApiError(response.status, code, message, Number.isNaN(retryAfter) ? null : retryAfter);
}

async function apiJson(path, options = {}) {
  return (await apiFetch(path, options)).json();
}

// Wire the key form found on both pages: save, forget, and say which is in use.
function setUpKeyForm(onChange) {
  const form = document.getElementById("key-form");
  const input = document.getElementById("key-input");
  const state = document.getElementById("key-state");
  const show = () => {
    const key = apiKey();
    state.textContent = key ? `Using key ${key.slice(0, 8)}\u2026` : "No key saved (fine when the server needs none).";
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const key = input.value.trim();
    if (key) localStorage.setItem(KEY_STORAGE, key);
    input.value = "";
    show();
    onChange();
  });
  document.getElementById("key-forget").addEventListener("click", () => {
    localStorage.removeItem(KEY_STORAGE);
    show();
    onChange();
  });
  show();
}

function showError(element, error) {
  element.textContent = error ? explain(error) : "";
  element.hidden = !error;
}

function shortTime(iso) {
  return iso ? new Date(iso).toLocaleTimeString() : "";
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "text") node.textContent = value;
    else node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}
