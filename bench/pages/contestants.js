// The JavaScript contestants, written as their users write them. window.bench[name](n) fires n
// concurrent GETs of the profile, answering one status (or "lost") per request;
// window.bench.writes[name](n, prefix) fires n concurrent POSTs to the echo route, answering
// [status, sha256 the server saw] per request. The cold-start page imports makeClient.
import axios from "axios";
import createAuthRefreshInterceptor from "axios-auth-refresh";

export const PROFILE = "/api/v1/users/profile";
const REFRESH = "/api/v1/users/refresh-token";
const ECHO = "/api/v1/echo";

// One body per write, the same text every contestant builds (bench/bursts.py checks the hash).
export const writeBody = (prefix, i) => `{"id":"${prefix}${i}","seq":${i},"text":"write ${i} of ${prefix}"}`;
const writeHeaders = (prefix, i) => ({ "Content-Type": "application/json", "X-Request-Id": `${prefix}${i}` });

const failure = (reason) => reason?.response?.status ?? "lost";
const settle = async (promises) =>
  (await Promise.allSettled(promises)).map((r) => (r.status === "fulfilled" ? r.value : failure(r.reason)));
const settleWrites = async (promises) =>
  (await Promise.allSettled(promises)).map((r) => (r.status === "fulfilled" ? r.value : [failure(r.reason), null]));

// The interceptor most tutorials show: one refresh per 401, a _retry flag against loops.
function naive() {
  const api = axios.create({ withCredentials: true });
  api.interceptors.response.use(
    (response) => response,
    async (error) => {
      const original = error.config;
      if (error.response?.status === 401 && !original._retry) {
        original._retry = true;
        await axios.post(REFRESH, {}, { withCredentials: true });
        return api(original);
      }
      return Promise.reject(error);
    },
  );
  return api;
}

function authRefresh(options) {
  const api = axios.create({ withCredentials: true });
  createAuthRefreshInterceptor(api, () => axios.post(REFRESH, {}, { withCredentials: true }), options);
  return api;
}

export const makeClient = {
  naive,
  "axios-auth-refresh": () => authRefresh({}),
  "axios-auth-refresh-nodedup": () => authRefresh({ deduplicateRefresh: false }),
};

const viaAxios = (make) => async (n) => {
  const api = make();
  return settle(Array.from({ length: n }, () => api.get(PROFILE).then((r) => r.status)));
};

const writesViaAxios = (make) => async (n, prefix) => {
  const api = make();
  return settleWrites(Array.from({ length: n }, (_, i) =>
    api.post(ECHO, writeBody(prefix, i), { headers: writeHeaders(prefix, i) }).then((r) => [r.status, r.data.data.sha256])));
};

const rawWrite = async (prefix, i) => {
  const r = await fetch(ECHO, { method: "POST", credentials: "include", headers: writeHeaders(prefix, i), body: writeBody(prefix, i) });
  return [r.status, r.ok ? (await r.json()).data.sha256 : null];
};

window.bench = {
  raw: async (n) => settle(Array.from({ length: n }, () => fetch(PROFILE, { credentials: "include" }).then((r) => r.status))),
  writes: { raw: async (n, prefix) => settleWrites(Array.from({ length: n }, (_, i) => rawWrite(prefix, i))) },
};
for (const [name, make] of Object.entries(makeClient)) {
  window.bench[name] = viaAxios(make);
  window.bench.writes[name] = writesViaAxios(make);
}
const state = document.getElementById("state");
if (state) state.textContent = "ready";
