// The demo's own config (same interpreter, same library files), with harness.py as the script;
// ?worker=1 runs it in a PyScript worker, reached through xworker.sync; ?config=URL uses
// another PyScript config (make dist's, which installs the package from the wheel). A file,
// not an inline script, so the page runs under a Content-Security-Policy without 'unsafe-inline'.
const query = new URLSearchParams(location.search);
const runtime = query.get("runtime") === "py" ? "py" : "mpy";
const script = document.createElement("script");
script.type = runtime;
script.src = "/__stub__/harness/harness.py";
script.setAttribute("config", query.get("config") || (runtime === "py" ? "/pyscript.py.toml" : "/pyscript.toml"));
if (query.get("worker")) {
  script.setAttribute("worker", "");
  window.harnessWorker = true;
  window.harnessRun = (code) => script.xworker.sync.harnessRun(code);
  // A worker on a page without cross-origin isolation has no document to say it is ready.
  new BroadcastChannel("harness-state").onmessage = (event) => {
    document.getElementById("state").textContent = event.data;
  };
}
document.body.append(script);
await import("/vendor/pyscript/core.js");
