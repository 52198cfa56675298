// The embed test page's own script (a file, so the page runs under a strict CSP).
// CSP violations from the first line on (test_csp.py reads window.violations; WebKit's driver
// can run no script before the page's own).
if (!window.violations) {
  window.violations = [];
  document.addEventListener("securitypolicyviolation", (e) => window.violations.push(`${e.violatedDirective} ${e.blockedURI}`));
}
// Count the page events across navigations (sessionStorage survives the login redirect).
for (const name of ["refresh", "refresh-failed", "session-expired"]) {
  addEventListener(`authfetch:${name}`, (event) => {
    const key = `events:${name}`;
    sessionStorage.setItem(key, String(Number(sessionStorage.getItem(key) || 0) + 1));
    if (name === "session-expired" && sessionStorage.getItem("cancel-redirect")) event.preventDefault();
  });
}
// The one tag, with its data-* attributes taken from this page's query (camelCase keys).
window.navigationStart = performance.timeOrigin;
const tag = document.createElement("script");
tag.type = "module";
tag.src = "/static/authfetch/authfetch.js";
for (const [key, value] of new URLSearchParams(location.search)) tag.dataset[key] = value;
document.head.append(tag);
