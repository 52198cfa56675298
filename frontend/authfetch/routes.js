// authfetch routes: how a URL travels, as data. The one tag applies it to the requests a page
// makes while its interpreter boots; once Python is up, Python routes (config.py, Options.route)
// with the table it compiles from the same settings, and the tag checks the two tables agree.
//
// A table: { origins: [origins that get credentials], paced: the refresh URL's origin,
//            exact: { "origin/path": flags } (no_refresh_for, the sign-in and sign-out URLs),
//            cookies: the credential is the cookie jar (cookie mode), so it exists before Python }
// The numbers are engine.js's FLAGS, and config.py's SIGN_IN and SIGN_OUT.

const CREDENTIALED = 1;
const COORDINATED = 2;
const PACED = 8;
const SIGN_IN = 256;
const SIGN_OUT = 512;
// Presets whose refresh token travels in the body (servers.py; tests/unit/test_route_table.py
// checks the list): bearer mode, a token only Python holds.
const BODY_PRESETS = ["simplejwt", "oauth2"];

export const SIGNING = SIGN_IN | SIGN_OUT;

// What a URL setting may hold for the tag to route by it before Python is up: the characters
// both parsers read alike. Anything else (userinfo's "@", "%" escapes, "\", non-ASCII hosts
// and paths, braces...) is left to Python alone: the browser and urls.py normalise those
// differently, and a table that differs could send a cookie where Python would not.
const PLAIN = /^[A-Za-z0-9\-._~:/?#[\]!$&'()*+,;=]*$/;

function bare(url) {
  return url.origin + url.pathname; // no query, no fragment: what no_refresh_for and the sign URLs name
}

export function pythonOptions(data) {
  // The tag's data-* attributes (a dataset) as the Python AuthClient's keyword arguments, and
  // what else the bridge needs (bridge.py, client_options): one reading of them for both sides.
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
  if (data.noRefreshFor) options.no_refresh_for = list(data.noRefreshFor);
  if (data.crossTab) options.cross_tab = data.crossTab !== "false";
  if (data.leeway) options.leeway = data.leeway === "none" ? null : Number(data.leeway);
  if (data.signInUrl) options.login_url = data.signInUrl; // the API endpoint; data-login-url is the page
  if (data.signOutUrl) options.logout_url = data.signOutUrl;
  return { options, loginUrl: data.loginUrl || null, patchFetch: data.patchFetch || null };
}

function list(value) {
  return value ? value.split(/[\s,]+/).filter(Boolean) : [];
}

function plainUrl(text, page) {
  // The URL of a setting both sides read alike, else null: an absolute http(s) URL already in
  // the browser's own form, or a path from the root ("/api/..."), whose meaning does not hang
  // on the page's path (which may change before Python reads it: history.pushState).
  if (!PLAIN.test(text) || text.startsWith("//")) return null;
  let url;
  try {
    url = new URL(text, page);
  } catch {
    return null;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return null;
  const written = text.startsWith("/") ? url.pathname + url.search + url.hash : url.href;
  const origin = text.startsWith("/") ? "" : url.origin;
  return written === text || (origin && (text === origin || text === origin + "/")) ? url : null;
}

export function compileRoutes(data, page) {
  // data: the tag's data-* attributes (dataset); page: the page's URL. null when a setting is
  // not plain (plainUrl): then nothing goes out before Python has read the settings itself.
  const { options } = pythonOptions(data);
  const at = (text) => plainUrl(text, page);
  const origins = [new URL(page).origin];
  const refresh = at(options.refresh_url || "");
  if (!refresh) return null;
  for (const item of options.allowed_origins || []) {
    const url = at(item);
    if (!url || (url.pathname !== "/" || url.search || url.hash)) return null; // an origin, nothing more
    if (!origins.includes(url.origin)) origins.push(url.origin);
  }
  const exact = {};
  for (const text of [options.refresh_url, ...(options.no_refresh_for || [])]) {
    const url = at(text);
    if (!url) return null;
    exact[bare(url)] = CREDENTIALED | (url.origin === refresh.origin ? PACED : 0);
  }
  for (const [text, flags] of [[options.login_url, SIGN_IN], [options.logout_url, SIGN_OUT]]) {
    if (text === undefined) continue;
    const url = at(text);
    if (!url) return null;
    exact[bare(url)] = CREDENTIALED | flags;
  }
  for (const key of Object.keys(exact)) if (!origins.includes(new URL(key).origin)) delete exact[key];
  const mode = options.mode || (BODY_PRESETS.includes(options.server) ? "bearer" : "cookie");
  return { origins, paced: refresh.origin, exact, cookies: mode === "cookie" };
}

export function routeFlags(table, href) {
  // The engine's flags for an absolute URL (SIGN_IN / SIGN_OUT for the sign URLs); -1 if it is not http(s).
  let url;
  try {
    url = new URL(href);
  } catch {
    return -1;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return -1;
  if (!table.origins.includes(url.origin)) return 0;
  const exact = table.exact[bare(url)];
  if (exact !== undefined) return exact;
  return CREDENTIALED | COORDINATED | (url.origin === table.paced ? PACED : 0);
}

export function routesDiffer(a, b) {
  // "" when two tables route every URL alike, else what differs.
  const sorted = (table) => JSON.stringify({
    origins: [...table.origins].sort(), paced: table.paced, cookies: table.cookies,
    exact: Object.entries(table.exact).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)),
  });
  const [left, right] = [sorted(a), sorted(b)];
  return left === right ? "" : `${left} against ${right}`;
}
