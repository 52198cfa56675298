// The page's own code: nothing here knows about tokens or refreshes.
const out = document.getElementById("out");
const log = (text) => {
  const item = document.createElement("li");
  item.textContent = `${new Date().toLocaleTimeString()} ${text}`;
  document.getElementById("log").prepend(item);
};
for (const name of ["refresh", "refresh-failed", "session-expired"]) {
  window.addEventListener(`authfetch:${name}`, (event) => log(`${name} ${JSON.stringify(event.detail)}`));
}

async function loadProfile() {
  const response = await fetch("/api/v1/users/profile"); // the patched fetch: same-origin only
  out.textContent = response.ok ? JSON.stringify((await response.json()).data, null, 2) : `HTTP ${response.status}: sign in`;
}

document.getElementById("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  const response = await window.authfetch.fetch("/api/v1/users/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username: "demo", password: "demo" }),
  });
  log(`login ${response.status}`);
  await loadProfile();
});
document.getElementById("load").addEventListener("click", loadProfile);

window.authfetch.ready.then(
  () => { document.body.dataset.ready = "yes"; loadProfile(); },
  (error) => { out.textContent = error.message; },
);
