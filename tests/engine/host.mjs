// engine.js in Node.js, driven step by step from Python (tests/support/engine_host.py) for the
// property tests: the real engine, with a fetch, a clock and timers that the test moves by hand.
//
// One JSON line in, one JSON line out. In: {"new": {settings, connections, cookie}} (a fresh
// engine), or a list of operations:
//   ["submit", ident, profile, url, method, body, flags, timeoutMs]
//   ["profile", number, settingsJson]      ["forget", number]
//   ["answer", call, status, bodyText]     ["fail", call, message]
//   ["apply", commandsJson]                ["cancel", ident]
//   ["advance", ms]                        ["cookie", value]
// Out, once every microtask has run: {batches: [report JSON texts], settled: [[ident, outcome]],
// calls: [[call, url, method, authorization]], applied: [what apply said], state: engine.state(),
// requests: engine.requests()}. Only what happened during this line is reported.
import { createInterface } from "node:readline";

import { createEngine } from "../../frontend/authfetch/engine.js";
import { virtualTime } from "./virtual-time.mjs";

let engine = null;
let time = virtualTime();
let calls = new Map(); // number -> {resolve, reject}
let lastCall = 0;
let jar = { csrf: "c1" };
let out = null;

function fresh() {
  return { batches: [], settled: [], calls: [], applied: [] };
}

function create({ settings, connections = null }) {
  time = virtualTime();
  calls = new Map();
  lastCall = 0;
  engine = createEngine(settings, {
    connections,
    now: time.now,
    setTimer: time.setTimer,
    clearTimer: time.clearTimer,
    readCookie: (name) => jar[name] ?? null,
    fetch(url, init) {
      return new Promise((resolve, reject) => {
        const number = ++lastCall;
        calls.set(number, { resolve, reject });
        const authorization = init.headers?.get?.("authorization") ?? null;
        out.calls.push([number, url, init.method || "GET", authorization]);
        init.signal?.addEventListener("abort", () => {
          if (calls.delete(number)) reject(new DOMException("The operation was aborted.", "AbortError"));
        }, { once: true });
      });
    },
  });
  engine.listen((text) => out.batches.push(text));
}

const operations = {
  submit(ident, profile, url, method, body, flags, timeoutMs) {
    engine.submit(ident, profile, url, method, null, body, flags, timeoutMs).then((outcome) => out.settled.push([ident, outcome]));
  },
  profile: (number, text) => out.applied.push(engine.profile(number, text)),
  forget: (number) => engine.forget(number),
  answer(call, status, text) {
    const waiting = calls.get(call);
    calls.delete(call);
    waiting?.resolve(new Response(text ?? "{}", { status }));
  },
  fail(call, message) {
    const waiting = calls.get(call);
    calls.delete(call);
    waiting?.reject(new TypeError(message || "Failed to fetch"));
  },
  apply: (text) => out.applied.push(engine.apply(text)),
  cancel: (ident) => engine.cancel(ident),
  advance: (ms) => time.advance(ms),
  cookie(value) {
    jar.csrf = value;
  },
};

const lines = createInterface({ input: process.stdin });
lines.on("line", async (line) => {
  out = fresh();
  let error = null;
  try {
    const input = JSON.parse(line);
    if (input.new) create(input.new);
    else for (const [name, ...args] of input) operations[name](...args);
  } catch (caught) {
    error = String(caught && caught.stack || caught);
  }
  // Every promise the operations started settles before the answer goes (no fetch is real).
  await new Promise((resolve) => setImmediate(resolve)); // after every microtask the operations queued
  const answer = { ...out, error, state: engine ? JSON.parse(engine.state()) : null, requests: engine ? JSON.parse(engine.requests()) : [] };
  process.stdout.write(JSON.stringify(answer) + "\n");
});
