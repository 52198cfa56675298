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

import { FLAGS, bodyKind, createEngine } from "./authfetch/engine.js";
import { SIGNING, compileRoutes, pythonOptions, routeFlags, routesDiffer } from "./authfetch/routes.js";
import { interpreterPath } from "./authfetch/where.js";
import "./authfetch/wire.js"; // engine.js's own import, named here so it loads beside engine.js, not after it

// The library modules, kept in step with frontend/authfetch/ by scripts/sync_pyscript_files.py.
const MODULES = [/* modules */"__init__.py", "bridge.py", "client.py", "commands.py", "compat.py", "config.py", "coordinator.py", "errors.py", "events.py", "ffi.py", "inputs.py", "models.py", "servers.py", "session.py", "sync.py", "tabs.py", "tokens.py", "transport.py", "urls.py"/* end */];
const BOOT_TIMEOUT_MS = 60000;
const BOOT_DEFER_MAX_MS = 500; // the interpreter's loads wait for the page's first answers at most so long
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
let settled = false;
let booting = false; // the boot has begun (startBoot, below)
let deferTimer = null;
let earlyFlying = 0; // the page's requests sent before Python, not yet answered

async function notReady(input, init) {
  startBoot(); // this request needs Python
  await ready;
  return api.fetch(input, init);
}

function fail(message) {
  if (settled) return;
  settled = true;
  const error = new Error(`authfetch: ${message}`);
  rejectReady(error);
  console.error(error.message);
  api.fetch = notReady; // rejects with the reason from now on
  api._failed = true; // a Python that comes up after all builds no client (bridge.py)
  if (api._engine) api._engine.listen(null); // what waits for a decision settles (as its last answer)
  delete api._engine;
}

// While the interpreter boots, the page's requests already go through the engine, with the
// credential the page has (its cookies), routed by the same table Python compiles once up
// (routes.js; checked in _booted). What needs Python waits for it: sign-in and sign-out, writes
// (their CSRF header), bearer mode (only Python holds a token). A 401 in the meantime trips the
// gate, and the engine keeps its report for the coordinator (expectListener).
const EARLY_PROFILE = 0; // Python numbers its clients' profiles from 1
const early = earlyRoute();
if (early) {
  const engine = (api._engine = createEngine({ maxInFlight: "auto", pacedOrigin: early.paced }));
  engine.expectListener(startBoot); // a 401 held: the coordinator is wanted now
  engine.profile(EARLY_PROFILE, JSON.stringify({ refreshOn: [401], headers: [], bearer: false }));
  const earlyFetch = async (input, init) => {
    // A page may keep this function from load (const f = authfetch.fetch): once the boot is
    // over it hands over to what authfetch.fetch is then, Python's or the failure's.
    if (settled) return api.fetch(input, init);
    earlyFlying += 1;
    try {
      return await send(engine, EARLY_PROFILE, (url, method) => {
        const flags = routeFlags(early, url);
        if (flags < 0) return flags; // not http(s): fails now, as it would after boot
        return flags & SIGNING || (flags & FLAGS.CREDENTIALED && !SAFE.has(method)) ? null : flags;
      }, null, input, init);
    } finally {
      earlyFlying -= 1;
      if (!earlyFlying) startBoot(); // the page's first answers are in
    }
  };
  api.fetch = earlyFetch;
}

function earlyRoute() {
  // The table, or null: nothing leaves before Python is up (a setting routes.js does not read
  // as Python would, bearer mode, no refresh URL: Python refuses that and says why).
  const table = data.refreshUrl ? compileRoutes(data, location.href) : null;
  return table && table.cookies ? table : null;
}

let lastRequest = 0; // counts down: Python numbers its requests to the engine 1, 2, 3...

async function send(engine, profile, flagsFor, sign, input, init) {
  // One request through the engine, as fetch() would answer it. flagsFor(url, method): the
  // engine's flags (with SIGNING bits for sign(url, method, headers, body)), or null for a
  // request that waits for Python.
  const signal = init && init.signal;
  if (signal && signal.aborted) throw signal.reason;
  const fromRequest = input instanceof Request;
  const url = fromRequest ? input.url : new URL(String(input), location.href).href;
  const method = String((init && init.method) || (fromRequest ? input.method : "GET")).toUpperCase();
  let flags = flagsFor(url, method);
  if (flags === null) return notReady(input, init);
  if (flags < 0) throw new TypeError(`authfetch: ${url} is not a valid http(s) URL`);
  let headers = init && init.headers !== undefined ? [...new Headers(init.headers)] : fromRequest ? [...input.headers] : null;
  if (headers && !headers.length) headers = null;
  let body = init && "body" in init ? init.body : undefined;
  if (body === undefined && fromRequest && input.body) body = await input.clone().arrayBuffer();
  if (flags & SIGNING) return sign(url, method, headers, body);
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
}

function settings() {
  return pythonOptions(data); // data-* attributes become the Python AuthClient's keyword arguments
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

// Called by Python once its client is live: the engine it sends through (the tag's own, see
// early), its profile, the two ways back into Python (the route of a URL, and a sign-in or
// sign-out call), and the route table Python compiled.
api._booted = (engine, profile, route, sign, table) => {
  if (settled) return; // timed out meanwhile: the page was told it failed
  try {
    takeOver(engine, profile, route, sign, table);
  } catch (error) {
    fail(`could not start: ${error.message}`); // not a ready that never settles
    return;
  }
  settled = true;
  resolveReady(api);
};

function takeOver(engine, profile, route, sign, table) {
  const problem = early ? routesDiffer(early, JSON.parse(table)) : "";
  if (problem) console.error(`authfetch: the tag routed requests before Python was up by a table Python does not share (a bug): ${problem}`);
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

  api.covers = (url) => (routeOf(new URL(url, location.href).href) & FLAGS.CREDENTIALED) !== 0;
  api.fetch = (input, init) => send(engine, profile, routeOf, signCall, input, init);
  delete api._engine; // Python's now

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
}
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
  // Low priority: over HTTP/1.1 a browser gives an origin 6 connections, and the page's own
  // first requests, which leave before the interpreter is up, must not queue behind the
  // package's 19 files (cold start 2026-12-03, 6 runs each: the tag's first answer 315 ms
  // against axios-auth-refresh's 151 before, 173 against 133 after).
  let response;
  try {
    response = await nativeFetch(url, { credentials: "same-origin", priority: "low" });
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
  const interpreterUrl = new URL(data.interpreter || interpreterPath(runtime, here.href), here).href;
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

// The interpreter's loads wait for the page's first requests: its 20 files and its wasm module,
// read beside them (from the HTTP cache too) and the interpreter's start on the main thread,
// held the page's first answer 25-60 ms on the wire against 6-15 without them (cold start,
// 2026-12-04, 6 runs). So the boot begins once every request the page sent before it is
// answered; at once when something needs Python (a request that waits for it, a 401 held for
// the coordinator) or nobody sees the page load (a tab opened in the background); when the
// page's scripts have run and sent nothing; and at the latest BOOT_DEFER_MAX_MS after this
// module ran (a long poll must not hold ready for ever).
function startBoot() {
  // A task later: the answer that wakes it reaches the page's code first (the boot's first
  // steps, 20 fetches and an import, are synchronous work on the main thread).
  if (booting) return;
  booting = true;
  clearTimeout(deferTimer);
  nextTask(() => boot().catch((error) => fail(error.message)));
}

function nextTask(fn) {
  // A message, not setTimeout(0): a hidden tab's timers wait for the next whole second.
  const channel = new MessageChannel();
  channel.port1.onmessage = () => { channel.port1.close(); fn(); };
  channel.port2.postMessage(null);
}

deferTimer = setTimeout(startBoot, BOOT_DEFER_MAX_MS);
if (!early || document.visibilityState === "hidden") {
  startBoot(); // nothing leaves before Python, or no first answer anybody waits for
} else {
  // Module scripts run before DOMContentLoaded; the page's own (after this tag) and its
  // DOMContentLoaded handlers have had their turn one task after it.
  const quiet = () => nextTask(() => { if (!earlyFlying) startBoot(); });
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", quiet, { once: true });
  else quiet();
}
const bootTimer = setTimeout(() => fail(`not ready after ${BOOT_TIMEOUT_MS / 1000} s (see the console)`), BOOT_TIMEOUT_MS);
ready.then(() => clearTimeout(bootTimer), () => clearTimeout(bootTimer));
