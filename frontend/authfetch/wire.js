// What the engine needs from the browser, apart from sending: how many connections an origin
// has (Resource Timing), the CSRF cookie, bodies in the form fetch() takes, and a keeper for
// answers that Python reads by number (MicroPython passes numbers and strings across safely;
// see transport.py).

const HTTP1_CONNECTIONS = 6; // what browsers open per origin over HTTP/1.x
const MULTIPLEXED_STREAMS = 100; // HTTP/2 and 3: the concurrent streams servers commonly allow
const KEEP_MS = 120000; // an answer is dropped this long after it came
const ID_WRAP = 1000000; // kept numbers stay below this, so number * 1000 + status is a small int

export function protocolOf(origin) {
  // The latest Resource Timing entry of ``origin`` that names its protocol: the page's own
  // navigation for a same-origin API, else an earlier answer (unless withheld cross-origin).
  const performance = globalThis.performance;
  if (!performance || !performance.getEntriesByType) return "";
  for (const kind of ["resource", "navigation"]) {
    const entries = performance.getEntriesByType(kind);
    for (let i = entries.length - 1; i >= 0; i--) {
      const entry = entries[i];
      if ((entry.name === origin || entry.name.startsWith(origin + "/")) && entry.nextHopProtocol) {
        return entry.nextHopProtocol;
      }
    }
  }
  return "";
}

export function connectionsFor(protocol) {
  if (!protocol) return null;
  return protocol.startsWith("h2") || protocol.startsWith("h3") ? MULTIPLEXED_STREAMS : HTTP1_CONNECTIONS;
}

function cookieFrom(text, name) {
  for (const part of String(text || "").split(";")) {
    const at = part.indexOf("=");
    if (at > 0 && part.slice(0, at).trim() === name) return part.slice(at + 1).trim();
  }
  return null;
}

export function pageCookie(name) {
  // In a PyScript worker on an isolated page, PyScript sets ``document`` to the page's.
  const document = globalThis.document;
  return document ? cookieFrom(document.cookie, name) : null;
}

const HEX_DIGITS = (() => {
  const table = new Int8Array(128).fill(-1);
  for (let i = 0; i < 16; i++) {
    table["0123456789abcdef".charCodeAt(i)] = i;
    table["0123456789ABCDEF".charCodeAt(i)] = i;
  }
  return table;
})();

export function fromHexInto(target, offset, text) {
  // MicroPython's bytes arrive as hex, a chunk at a time (see ffi.py): decode into place.
  const count = text.length >> 1;
  for (let i = 0, j = 0; i < count; i++, j += 2) {
    target[offset + i] = (HEX_DIGITS[text.charCodeAt(j)] << 4) | HEX_DIGITS[text.charCodeAt(j + 1)];
  }
  return count;
}

function toHex(bytes) {
  const digits = "0123456789abcdef";
  const parts = new Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) parts[i] = digits[bytes[i] >> 4] + digits[bytes[i] & 15];
  return parts.join("");
}

// Whether this browser's fetch can upload a ReadableStream. Firefox (153) cannot, and sends the
// text "[object ReadableStream]" instead without a word, so a stream body is refused there
// (the feature test the Chrome team publishes: a browser that streams reads `duplex` and adds
// no Content-Type for a stream).
export const streamUploads = (() => {
  try {
    let duplex = false;
    const typed = new Request("https://example.invalid/", {
      method: "POST", body: new ReadableStream(), get duplex() { duplex = true; return "half"; },
    }).headers.has("content-type");
    return duplex && !typed;
  } catch {
    return false;
  }
})();

export function bodyKind(body) {
  // "stream" (sent once), "native" (buffered once so a replay sends the same bytes), or null.
  if (body == null || typeof body === "string") return null;
  if (typeof ReadableStream !== "undefined" && body instanceof ReadableStream) return "stream";
  if (body instanceof ArrayBuffer || ArrayBuffer.isView(body)) return "native";
  for (const name of ["Blob", "FormData", "URLSearchParams"]) {
    if (typeof globalThis[name] === "function" && body instanceof globalThis[name]) return "native";
  }
  return null;
}

export function describe(error) {
  // A JavaScript error as one line of text (what Python and the console are told).
  if (error && typeof error === "object") {
    const text = error.message || error.name;
    if (text) return error.name && error.message && !String(error.message).startsWith(error.name) ? `${error.name}: ${error.message}` : String(text);
  }
  return String(error);
}

// -- what Python reaches through here because a thrown exception would abort MicroPython ------

export function storage(scope, op, key, value) {
  // scope's localStorage (the page's window, also from a PyScript worker on an isolated page):
  // get -> text or undefined, set -> "" or why not. Even reading scope.localStorage throws where
  // the user blocks site data or in a sandboxed frame, and a full store throws; this never does.
  try {
    const store = scope.localStorage;
    if (!store) return op === "get" ? undefined : "no localStorage here";
    if (op === "get") return store.getItem(key) ?? undefined;
    store.setItem(key, value);
    return "";
  } catch (error) {
    return op === "get" ? undefined : describe(error);
  }
}

export function cookie(name) {
  // A cookie the page's scripts can read, or undefined; document.cookie throws in a sandboxed
  // frame without allow-same-origin.
  try {
    return pageCookie(name) ?? undefined;
  } catch {
    return undefined;
  }
}

export function post(channel, text) {
  // A BroadcastChannel post: "" or why not (a closed channel throws InvalidStateError).
  try {
    channel.postMessage(text);
    return "";
  } catch (error) {
    return describe(error);
  }
}

// -- answers Python reads by number ------------------------------------------------------------

const MAX_KEPT = 2048; // unread answers kept at most; the oldest are dropped first,
const EVICT_BATCH = 64; // this many at a time

function housekeeping(fn, ms) {
  const handle = setTimeout(fn, ms);
  handle?.unref?.(); // in Node.js (the tests) a sweep must not keep the process alive
  return handle;
}

export function createKeeper({ clock = () => performance.now(), setTimer, clearTimer = clearTimeout, keepMs = KEEP_MS, most = MAX_KEPT } = {}) {
  const sweepLater = setTimer || housekeeping;
  const later = setTimer || ((fn, ms) => setTimeout(fn, ms));
  // Each answer is kept until keepMs after it came, or until `most` newer ones came: Python
  // cannot tell when it drops a Response, so the keeper forgets on its own, in order. A body
  // handed to Python is not kept at all (Python keeps what it read): then only the headers and
  // the URL stay, for the rest of that time.
  const kept = new Map(); // number -> {response, headers, url, at, body, read, large}
  let last = 0;
  let sweeper = null;

  function forget(id, item) {
    kept.delete(id);
    const response = item.response;
    if (response && !item.body && response.body && !response.bodyUsed) {
      response.body.cancel().catch(() => {}); // nobody will read it: let the browser free it
    }
  }

  function sweep() {
    sweeper = null;
    const now = clock();
    for (const [id, item] of kept) {
      if (now - item.at < keepMs) break;
      forget(id, item);
    }
    arm();
  }

  function arm() {
    if (sweeper !== null || !kept.size) return;
    const oldest = kept.values().next().value;
    sweeper = sweepLater(sweep, Math.max(0, keepMs - (clock() - oldest.at)) + 1);
  }

  function handed(item) {
    // The body went to Python: let the Response go, keep what headers() and url() answer
    // (taken only now: reading them off every Response kept would cost each request).
    item.headers = item.response.headers;
    item.url = item.response.url;
    item.response = null;
    item.read = true;
  }

  function body(id) {
    // The body's bytes (read once, by however many readers ask meanwhile), or undefined when the
    // answer is no longer kept or its body went to Python already.
    const item = kept.get(id);
    if (item && item.large) return Promise.reject(new Error(`the answer's body is over ${item.large} bytes: authfetch read that much of it and stopped`));
    if (!item || (item.read && !item.body)) return Promise.resolve(undefined);
    if (!item.body) {
      item.body = item.response.arrayBuffer().then(
        (buffer) => {
          item.body = null;
          handed(item);
          return new Uint8Array(buffer);
        },
        (error) => {
          item.body = null;
          throw error;
        },
      );
    }
    return item.body;
  }

  async function upTo(id, limit, timeoutMs, keepIt) {
    // The body's text if it has at most `limit` bytes, else undefined (the rest is not read);
    // gives up after timeoutMs (null: no bound). A refresh answer's size is the server's choice.
    // keepIt: read a copy, so the answer itself stays readable (a sign-in the page reads too).
    const item = kept.get(id);
    if (!item || !item.response) throw new Error("the answer is no longer kept");
    const source = keepIt ? item.response.clone() : item.response;
    const declared = Number(source.headers.get("content-length"));
    const reader = source.body?.getReader();
    if (!reader) return "";
    if (!keepIt) item.body = true; // being read: forget() must not cancel it under the reader
    const parts = [];
    let size = declared > limit ? declared : 0;
    let timer = null;
    const timedOut = new Promise((_, reject) => {
      if (timeoutMs != null) timer = later(() => reject(new Error(`its body did not come within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      while (size <= limit) {
        const { done, value } = await Promise.race([reader.read(), timedOut]);
        if (done) break;
        parts.push(value);
        size += value.length;
      }
    } catch (error) {
      reader.cancel().catch(() => {});
      throw error;
    } finally {
      if (timer !== null) clearTimer(timer);
      if (!keepIt) item.body = null;
    }
    if (size > limit) {
      reader.cancel().catch(() => {});
      if (!keepIt) {
        item.large = limit;
        handed(item);
      }
      return undefined;
    }
    const whole = new Uint8Array(size);
    let offset = 0;
    for (const part of parts) {
      whole.set(part, offset);
      offset += part.length;
    }
    if (!keepIt) handed(item);
    return new TextDecoder().decode(whole);
  }

  // Every reader answers undefined for an answer no longer kept (a synchronous throw could not
  // be caught on MicroPython); the async ones reject when reading itself fails.
  return {
    keep(response) {
      last = (last % (ID_WRAP - 1)) + 1;
      kept.set(last, { response, headers: null, url: null, at: clock(), body: null, read: false, large: 0 });
      if (kept.size > most) {
        // The oldest go a batch at a time: one by one, at the cap, cost every request a walk.
        for (const [id, item] of kept) {
          if (kept.size <= most - EVICT_BATCH) break;
          forget(id, item);
        }
      }
      arm();
      return last;
    },
    size: () => kept.size,
    readers: {
      text: async (id) => {
        const bytes = await body(id);
        return bytes && new TextDecoder().decode(bytes);
      },
      bytes: (id) => body(id),
      hex: async (id) => {
        const bytes = await body(id);
        return bytes && toHex(bytes);
      },
      bounded: (id, limit, timeoutMs, keepIt) => upTo(id, limit, timeoutMs, !!keepIt),
      headers(id) {
        const item = kept.get(id);
        return item ? JSON.stringify([...(item.response ? item.response.headers : item.headers)]) : undefined;
      },
      url(id) {
        const item = kept.get(id);
        return item ? (item.response ? item.response.url : item.url) : undefined;
      },
      take(id) {
        // The answer itself, for the embed's page (a sign-in: Python read a copy of it).
        const item = kept.get(id);
        kept.delete(id);
        return item ? item.response ?? undefined : undefined;
      },
      drop(id) {
        const item = kept.get(id);
        if (item) forget(id, item);
      },
    },
  };
}
