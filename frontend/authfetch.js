// authfetch embed: one tag gives an existing page the 401 -> one refresh -> replay behaviour.
//
//   <script type="module" src="/static/authfetch/authfetch.js"
//           data-refresh-url="/api/v1/users/refresh-token" data-runtime="mpy"></script>
//
// This file is only a loader and a bridge: it loads PyScript and the interpreter (from next to
// itself unless data-pyscript / data-interpreter say otherwise), installs the authfetch package
// into it, and lets the Python AuthClient answer window.authfetch.fetch(). Every decision stays
// in Python.

// The library modules, kept in step with frontend/authfetch/ by scripts/sync_pyscript_files.py.
const MODULES = [/* modules */"__init__.py", "bridge.py", "client.py", "compat.py", "config.py", "coordinator.py", "errors.py", "events.py", "models.py", "session.py", "tabs.py", "tokens.py", "transport.py", "urls.py"/* end */];
const BOOT_TIMEOUT_MS = 60000;
const here = new URL(".", import.meta.url);
const tag = [...document.scripts].find((s) => s.src === import.meta.url) || document.currentScript;
const data = (tag && tag.dataset) || {};
const runtime = data.runtime === "py" ? "py" : "mpy";
const nativeFetch = window.fetch.bind(window);

let resolveReady, rejectReady;
const ready = new Promise((resolve, reject) => { resolveReady = resolve; rejectReady = reject; });
const api = (window.authfetch = { ready, nativeFetch, runtime, fetch: notReady });
ready.catch(() => {}); // the page decides whether to handle it; no "unhandled rejection" noise

async function notReady(input, init) {
  await ready;
  return api.fetch(input, init);
}

function fail(message) {
  const error = new Error(`authfetch: ${message}`);
  rejectReady(error);
  console.error(error.message);
}

async function reachable(url, what) {
  let response;
  try {
    response = await nativeFetch(url, { method: "HEAD", credentials: "same-origin" });
  } catch (error) {
    throw new Error(`cannot load the ${what} from ${url}: ${error.message}`);
  }
  if (!response.ok) throw new Error(`cannot load the ${what} from ${url} (HTTP ${response.status})`);
}

function settings() {
  // data-* attributes become the Python AuthClient's keyword arguments.
  const list = (value) => (value ? value.split(/[\s,]+/).filter(Boolean) : []);
  const options = { refresh_url: data.refreshUrl };
  if (data.baseUrl) options.base_url = data.baseUrl;
  if (data.mode) options.mode = data.mode;
  if (data.allowedOrigins) options.allowed_origins = list(data.allowedOrigins);
  if (data.csrfCookie) options.csrf_cookie = data.csrfCookie;
  if (data.csrfHeader) options.csrf_header = data.csrfHeader;
  if (data.crossTab) options.cross_tab = data.crossTab !== "false";
  if (data.leeway) options.leeway = data.leeway === "none" ? null : Number(data.leeway);
  if (data.signInUrl) options.login_url = data.signInUrl; // the API endpoint; data-login-url is the page
  if (data.signOutUrl) options.logout_url = data.signOutUrl;
  return { options, loginUrl: data.loginUrl || null, patchFetch: data.patchFetch || null };
}

// Whether a URL gets the authfetch treatment when window.fetch is patched: the page's origin
// and data-allowed-origins, as the Python client decides for credentials.
const origins = [location.origin, ...(data.allowedOrigins || "").split(/[\s,]+/).filter(Boolean).map((o) => new URL(o, location.href).origin)];
api.covers = (url) => origins.includes(new URL(url, location.href).origin);

// Calls waiting for Python, by number: Python settles them with a number (a Response the
// transport's keeper holds) or a string (a failure), never a JS object (see transport.py).
const pending = new Map();
let lastCall = 0;
api._settle = (token, outcome) => {
  const resolve = pending.get(token);
  pending.delete(token);
  if (resolve) resolve(outcome);
};

// Handed to Python: it calls these when the client is live or the config is refused.
api._booted = (bridge) => {
  api.fetch = async (input, init) => {
    const signal = init && init.signal;
    if (signal && signal.aborted) throw signal.reason;
    const request = new Request(input, init);
    const body = init && "body" in init ? init.body : (input instanceof Request && input.body ? await input.clone().arrayBuffer() : undefined);
    // undefined, not null: Pyodide turns null into a JsNull object, undefined into None.
    const call = new Promise((resolve) => {
      const token = ++lastCall;
      pending.set(token, resolve);
      bridge(token, request.url, request.method, [...request.headers], body == null ? undefined : body);
    });
    const settled = signal
      ? Promise.race([call, new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason), { once: true }))])
      : call;
    let outcome;
    try {
      outcome = await settled;
    } catch (error) {
      throw error instanceof Error && error.name !== "PythonError" ? error : new TypeError(String(error.message || error));
    }
    if (typeof outcome === "string") throw new TypeError(outcome); // a network failure, as fetch reports it
    // A number names a Response the transport's keeper holds (see transport.py for why).
    return typeof outcome === "number" ? globalThis.authfetchKeeper.take(outcome) : outcome;
  };
  const { patchFetch } = settings();
  if (patchFetch === "same-origin") {
    window.fetch = (input, init) => (api.covers(new Request(input, init).url) ? api.fetch(input, init) : nativeFetch(input, init));
  } else if (patchFetch) {
    console.warn(`authfetch: data-patch-fetch="${patchFetch}" is not known; window.fetch left alone`);
  }
  resolveReady(api);
};
api._refused = (message) => fail(message);

async function boot() {
  if (!data.refreshUrl) throw new Error('data-refresh-url is required (the refresh-token endpoint, e.g. "/api/v1/users/refresh-token")');
  const coreUrl = new URL(data.pyscript || "pyscript/core.js", here).href;
  const interpreterUrl = new URL(
    data.interpreter || (runtime === "py" ? "pyodide/pyodide.mjs" : "micropython/micropython.mjs"),
    here,
  ).href;
  await reachable(interpreterUrl, runtime === "py" ? "Pyodide interpreter" : "MicroPython interpreter");
  const files = {};
  for (const name of MODULES) files[new URL(`authfetch/${name}`, here).href] = `./authfetch/${name}`;
  api._settings = JSON.stringify(settings());
  const script = document.createElement("script");
  script.type = runtime;
  script.setAttribute("config", JSON.stringify({ interpreter: interpreterUrl, files }));
  script.textContent = "from authfetch.bridge import boot\nboot()\n";
  document.head.append(script);
  if (!customElements.get("py-script") && !customElements.get("mpy-script")) {
    try {
      await import(coreUrl);
    } catch (error) {
      throw new Error(`cannot load PyScript from ${coreUrl}: ${error.message}`);
    }
  }
}

boot().catch((error) => fail(error.message));
setTimeout(() => fail(`not ready after ${BOOT_TIMEOUT_MS / 1000} s (see the console)`), BOOT_TIMEOUT_MS);
