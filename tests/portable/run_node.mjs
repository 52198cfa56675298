// Runs tests/portable/test_client.py under real MicroPython or Pyodide in Node.js, from the
// pinned npm packages: `node tests/portable/run_node.mjs mpy|py [name-filter]`.
// Prints one PASS/FAIL line per test and PORTABLE-SUMMARY; exits non-zero on any failure.
//
// Requests travel through the real engine.js. Its fetch is portableFetch below, which hands
// each request to the Python fake server (tests/portable/fake_server.py) and answers with a
// real Response, aborts included: only the server is fake.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
const runtime = process.argv[2];
const only = process.argv[3] || "";

let failed = null;
const print = (line) => {
  const summary = /PORTABLE-SUMMARY passed=\d+ failed=(\d+)/.exec(line);
  if (summary) failed = Number(summary[1]);
  console.log(line);
};

async function load() {
  if (runtime === "mpy") {
    const { loadMicroPython } = await import(
      join(root, "node_modules/@micropython/micropython-webassembly-pyscript/micropython.mjs")
    );
    return loadMicroPython({ stdout: print, stderr: print, linebuffer: true, heapsize: 64 * 1024 * 1024 });
  }
  if (runtime === "py") {
    const { loadPyodide } = await import(join(root, "node_modules/pyodide/pyodide.mjs"));
    return loadPyodide({ stdout: print, stderr: print });
  }
  throw new Error(`runtime must be mpy or py, got ${runtime}`);
}

function copyInto(py, from, to) {
  py.FS.mkdirTree ? py.FS.mkdirTree(to) : to.split("/").reduce((path, part) => {
    const next = path + "/" + part;
    if (part) { try { py.FS.mkdir(next); } catch (e) { /* exists */ } }
    return next;
  }, "");
  for (const name of readdirSync(from)) {
    if (name.endsWith(".py")) py.FS.writeFile(`${to}/${name}`, readFileSync(join(from, name), "utf8"));
  }
}

await import(join(root, "frontend/authfetch/engine.js")); // registers globalThis.authfetchEngine

const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
const unhex = (text) => Uint8Array.from(text.match(/../g) || [], (pair) => parseInt(pair, 16));

async function bytesOf(body) {
  if (body == null) return new Uint8Array();
  if (typeof body === "string") return new TextEncoder().encode(body);
  if (body instanceof ReadableStream) return new Uint8Array(await new Response(body).arrayBuffer());
  return new Uint8Array(body.buffer ? body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength) : body);
}

let serve = null;
let abort = null;
const pending = new Map();
let last = 0;
globalThis.portableFetch = {
  connect(serveFn, abortFn) {
    serve = serveFn;
    abort = abortFn;
  },
  environment(tab, readCookie, connections) {
    return {
      connections: connections ?? null,
      readCookie: (name) => {
        const value = readCookie(name);
        return value == null ? null : String(value);
      },
      fetch: (url, init) => new Promise((resolve, reject) => {
        const ident = ++last;
        pending.set(ident, { resolve, reject });
        init.signal?.addEventListener("abort", () => {
          if (!pending.delete(ident)) return;
          abort(ident);
          reject(new DOMException("The operation was aborted.", "AbortError"));
        }, { once: true });
        bytesOf(init.body).then((bytes) => {
          if (!pending.has(ident)) return;
          serve(tab, ident, init.method || "GET", String(url), JSON.stringify([...new Headers(init.headers)]), hex(bytes), init.credentials === "include");
        });
      }),
    };
  },
  settle(ident, status, headers, bodyHex, error) {
    const waiting = pending.get(ident);
    if (!waiting) return;
    pending.delete(ident);
    if (error != null) waiting.reject(new TypeError(String(error)));
    else waiting.resolve(new Response(unhex(bodyHex), { status, headers: JSON.parse(headers) }));
  },
  stream: (bodyHex) => new Response(unhex(bodyHex)).body, // a FakeStream's bytes as a ReadableStream
};

const py = await load();
copyInto(py, join(root, "frontend/authfetch"), "/portable/authfetch");
copyInto(py, here, "/portable");
try {
  await py.runPythonAsync(`
import sys
sys.path.insert(0, "/portable")
import runner, test_client
await runner.run_all(test_client, ${JSON.stringify(only)})
`);
} catch (error) {
  console.log(`ERROR ${error.message}`);
}
process.exit(failed === 0 ? 0 : 1);
