// What the engine needs from the browser, apart from sending: how many connections an origin
// has (Resource Timing), the CSRF cookie, bodies in the form fetch() takes, and a keeper for
// answers that Python reads by number (MicroPython passes numbers and strings across safely;
// see transport.py).

const HTTP1_CONNECTIONS = 6; // what browsers open per origin over HTTP/1.x
const MULTIPLEXED_STREAMS = 100; // HTTP/2 and 3: the concurrent streams servers commonly allow
const KEEP_MS = 120000; // an answer nobody read is dropped after this
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

export function createKeeper() {
  // Answers Python reads later, by number; the oldest are dropped after KEEP_MS.
  const kept = new Map(); // number -> {response, at, buffer}
  let last = 0;

  function held(id) {
    const item = kept.get(id);
    if (!item) throw new Error(`response ${id} is no longer kept (answers are kept ${KEEP_MS / 1000} s)`);
    return item;
  }

  async function buffer(id) {
    const item = held(id);
    if (!item.buffer) item.buffer = new Uint8Array(await item.response.arrayBuffer());
    return item.buffer;
  }

  return {
    keep(response) {
      const at = Date.now();
      for (const [id, item] of kept) {
        if (at - item.at < KEEP_MS) break;
        kept.delete(id);
      }
      last = (last % (ID_WRAP - 1)) + 1;
      kept.set(last, { response, at, buffer: null });
      return last;
    },
    readers: {
      text: async (id) => new TextDecoder().decode(await buffer(id)),
      bytes: (id) => buffer(id),
      hex: async (id) => toHex(await buffer(id)),
      headers: (id) => JSON.stringify([...held(id).response.headers]),
      url: (id) => held(id).response.url,
      take(id) {
        const item = held(id);
        kept.delete(id);
        return item.response;
      },
      drop: (id) => kept.delete(id),
    },
  };
}
