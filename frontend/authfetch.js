// authfetch embed: one tag gives an existing page the 401 -> one refresh -> replay behaviour.
//
//   <script type="module" src="/static/authfetch/authfetch.js"
//           data-refresh-url="/api/v1/users/refresh-token" data-runtime="mpy"></script>
//
// The page's requests go straight through the engine (authfetch/engine.js): a request costs
// no interpreter work. The interpreter (MicroPython, or Pyodide with data-runtime="py") is
// loaded directly from its npm module, without PyScript, so the page needs no 'unsafe-eval'
// in its Content-Security-Policy, and runs the Python AuthClient, which makes every decision:
// how each URL travels (asked once per URL), what a 401 means, the refresh, sign-in and
// sign-out. Every URL resolves relative to this file unless data-interpreter says otherwise.

import { FLAGS, bodyKind } from "./authfetch/engine.js";

// The library modules, kept in step with frontend/authfetch/ by scripts/sync_pyscript_files.py.
const MODULES = [/* modules */"__init__.py", "bridge.py", "client.py", "commands.py", "compat.py", "config.py", "coordinator.py", "errors.py", "events.py", "ffi.py", "inputs.py", "models.py", "servers.py", "session.py", "sync.py", "tabs.py", "tokens.py", "transport.py", "urls.py"/* end */];
const BOOT_TIMEOUT_MS = 60000;
const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);
const GAVE_UP = new Set(["session-expired", "refresh-failed", "non-replayable"]);
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

function settings() {
  // data-* attributes become the Python AuthClient's keyword arguments.
  const list = (value) => (value ? value.split(/[\s,]+/).filter(Boolean) : []);
  const options = { refresh_url: data.refreshUrl };
  if (data.baseUrl) options.base_url = data.baseUrl;
  if (data.preset) options.server = data.preset; // simplejwt, dj-rest-auth, oauth2 (servers.py)
  if (data.clientId) options.client_id = data.clientId;
  if (data.scope) options.scope = data.scope;
  if (data.mode) options.mode = data.mode;
  if (data.tokenField) options.token_field = data.tokenField;
  if (data.shareToken) options.share_token = data.shareToken !== "false";
  if (data.refreshTokenStorage) options.refresh_token_storage = data.refreshTokenStorage;
  if (data.allowedOrigins) options.allowed_origins = list(data.allowedOrigins);
  if (data.csrfCookie) options.csrf_cookie = data.csrfCookie;
  if (data.csrfHeader) options.csrf_header = data.csrfHeader;
  if (data.crossTab) options.cross_tab = data.crossTab !== "false";
  if (data.leeway) options.leeway = data.leeway === "none" ? null : Number(data.leeway);
  if (data.signInUrl) options.login_url = data.signInUrl; // the API endpoint; data-login-url is the page
  if (data.signOutUrl) options.logout_url = data.signOutUrl;
  return { options, loginUrl: data.loginUrl || null, patchFetch: data.patchFetch || null };
}

// Sign-in and sign-out calls wait for Python by number: it settles them with a number (an
// answer the engine keeps) or a string (a failure), never a JS object (see transport.py).
const pending = new Map();
let lastCall = 0;
api._settle = (token, outcome) => {
  const resolve = pending.get(token);
  pending.delete(token);
  if (resolve) resolve(outcome);
};

// Called by Python once its client is live: the engine it sends through, its profile, and the
// two ways back into Python (the route of a URL, and a sign-in or sign-out call).
api._booted = (engine, profile, route, sign, signing) => {
  const routes = new Map(); // URL -> the engine's flags, as the Python client decided them
  const routeOf = (url) => {
    let flags = routes.get(url);
    if (flags === undefined) {
      flags = route(url);
      if (routes.size > 256) routes.clear();
      routes.set(url, flags);
    }
    return flags;
  };
  let lastRequest = 0; // counts down: Python numbers its requests to this engine 1, 2, 3...

  api.covers = (url) => (routeOf(new URL(url, location.href).href) & FLAGS.CREDENTIALED) !== 0;

  api.fetch = async (input, init) => {
    const signal = init && init.signal;
    if (signal && signal.aborted) throw signal.reason;
    const fromRequest = input instanceof Request;
    const url = fromRequest ? input.url : new URL(String(input), location.href).href;
    const method = String((init && init.method) || (fromRequest ? input.method : "GET")).toUpperCase();
    let headers = init && init.headers !== undefined ? [...new Headers(init.headers)] : fromRequest ? [...input.headers] : null;
    if (headers && !headers.length) headers = null;
    let body = init && "body" in init ? init.body : undefined;
    if (body === undefined && fromRequest && input.body) body = await input.clone().arrayBuffer();
    let flags = routeOf(url);
    if (flags < 0) throw new TypeError(`authfetch: ${url} is not a valid http(s) URL`);
    if (flags & signing) return signCall(url, method, headers, body);
    if (flags & FLAGS.COORDINATED && SAFE.has(method) && bodyKind(body) !== "stream") flags |= FLAGS.RECALLABLE;
    const ident = --lastRequest;
    const call = engine.request(ident, profile, url, method, headers, body ?? null, flags, null);
    const outcome = await (signal ? abortable(call, signal, () => engine.cancel(ident)) : call);
    if (!outcome.error) return outcome.response;
    if (GAVE_UP.has(outcome.error)) {
      // fetch semantics: the last response, e.g. the final 401; a synthetic 401 if none was sent.
      return outcome.response || new Response(null, { status: 401, statusText: "Session expired" });
    }
    throw new TypeError(`authfetch: ${method} ${url} failed: ${outcome.message}`); // as fetch() fails
  };

  async function signCall(url, method, headers, body) {
    const outcome = await new Promise((resolve) => {
      const token = ++lastCall;
      pending.set(token, resolve);
      // undefined, not null: Pyodide turns null into a JsNull object, undefined into None.
      sign(token, url, method, headers || [], body == null ? undefined : body);
    });
    if (typeof outcome === "string") throw new TypeError(outcome); // a network failure, as fetch reports it
    const response = engine.take(outcome); // whole: Python read a copy for the token
    if (!response) throw new TypeError(`authfetch: the answer to ${method} ${url} is no longer kept`);
    return response;
  }

  const { patchFetch } = settings();
  if (patchFetch === "same-origin") {
    window.fetch = (input, init) => (api.covers(new Request(input, init).url) ? api.fetch(input, init) : nativeFetch(input, init));
  } else if (patchFetch) {
    console.warn(`authfetch: data-patch-fetch="${patchFetch}" is not known; window.fetch left alone`);
  }
  resolveReady(api);
};
api._refused = (message) => fail(message);

function abortable(call, signal, cancel) {
  // The listener goes when the call settles: a page reusing one signal for many calls must
  // not collect a listener per call.
  let onAbort;
  const aborted = new Promise((_, reject) => {
    onAbort = () => { cancel(); reject(signal.reason); };
    signal.addEventListener("abort", onAbort, { once: true });
  });
  return Promise.race([call, aborted]).finally(() => signal.removeEventListener("abort", onAbort));
}

async function fetchText(url, what) {
  let response;
  try {
    response = await nativeFetch(url, { credentials: "same-origin" });
  } catch (error) {
    throw new Error(`cannot load the ${what} from ${url}: ${error.message}`);
  }
  if (!response.ok) throw new Error(`cannot load the ${what} from ${url} (HTTP ${response.status})`);
  return response.text();
}

async function loadInterpreter(url) {
  let module;
  try {
    module = await import(url);
  } catch (error) {
    // The import's own error rarely says why; a HEAD tells a missing file from a broken one.
    const status = await nativeFetch(url, { method: "HEAD" }).then((r) => `HTTP ${r.status}`, (e) => e.message);
    throw new Error(`cannot load the ${runtime === "py" ? "Pyodide" : "MicroPython"} interpreter from ${url} (${status}): ${error.message}`);
  }
  const print = (line) => console.log(line);
  if (runtime === "py") return module.loadPyodide({ indexURL: new URL(".", url).href, stdout: print, stderr: print });
  return module.loadMicroPython({ stdout: print, stderr: print, linebuffer: true });
}

async function boot() {
  if (!data.refreshUrl) throw new Error('data-refresh-url is required (the refresh-token endpoint, e.g. "/api/v1/users/refresh-token")');
  const interpreterUrl = new URL(
    data.interpreter || (runtime === "py" ? "pyodide/pyodide.mjs" : "micropython/micropython.mjs"),
    here,
  ).href;
  // The interpreter and the package's files load side by side.
  const [interpreter, sources] = await Promise.all([
    loadInterpreter(interpreterUrl),
    Promise.all(MODULES.map((name) => fetchText(new URL(`authfetch/${name}`, here).href, `authfetch module ${name}`))),
  ]);
  const folder = "/authfetch-embed/authfetch";
  for (const path of ["/authfetch-embed", folder]) {
    try { interpreter.FS.mkdir(path); } catch { /* exists */ }
  }
  MODULES.forEach((name, i) => interpreter.FS.writeFile(`${folder}/${name}`, sources[i]));
  api._settings = JSON.stringify(settings());
  await interpreter.runPythonAsync('import sys\nsys.path.insert(0, "/authfetch-embed")\nfrom authfetch.bridge import boot\nboot()\n');
}

boot().catch((error) => fail(error.message));
setTimeout(() => fail(`not ready after ${BOOT_TIMEOUT_MS / 1000} s (see the console)`), BOOT_TIMEOUT_MS);
