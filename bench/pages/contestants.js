// The JavaScript contestants, written as their users write them. Each takes n and fires n
// concurrent GETs of the profile, answering one status (or "lost") per request.
import axios from "axios";
import createAuthRefreshInterceptor from "axios-auth-refresh";

const PROFILE = "/api/v1/users/profile";
const REFRESH = "/api/v1/users/refresh-token";

const settle = async (promises) =>
  (await Promise.allSettled(promises)).map((r) => (r.status === "fulfilled" ? r.value : r.reason?.response?.status ?? "lost"));

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

const viaAxios = (make) => async (n) => {
  const api = make();
  return settle(Array.from({ length: n }, () => api.get(PROFILE).then((r) => r.status)));
};

window.bench = {
  raw: async (n) => settle(Array.from({ length: n }, () => fetch(PROFILE, { credentials: "include" }).then((r) => r.status))),
  naive: viaAxios(naive),
  "axios-auth-refresh": viaAxios(() => authRefresh({})),
  "axios-auth-refresh-nodedup": viaAxios(() => authRefresh({ deduplicateRefresh: false })),
};
document.getElementById("state").textContent = "ready";
