// engine.js on its own, in Node.js (node --test): the mechanics the coordinator relies on, with a
// fetch whose answers the test hands out one by one. The coordinator's side is played by hand:
// reports are read from the listener, commands are applied as session.py would send them.
import assert from "node:assert/strict";
import { test } from "node:test";

import { FLAGS, cookie, createEngine, fromHexInto, post, storage } from "../../frontend/authfetch/engine.js";
import { virtualTime } from "./virtual-time.mjs";

const { CREDENTIALED, COORDINATED, RECALLABLE, PACED } = FLAGS;
const GET_FLAGS = CREDENTIALED | COORDINATED | RECALLABLE | PACED;
const PROFILE = JSON.stringify({ refreshOn: [401], csrfCookie: "csrf", csrfHeader: "X-CSRF-Token", headers: [], bearer: true });

function setup({ connections = null, maxInFlight = "auto", cookie = "c1", time = null, body = "{}" } = {}) {
  const sent = []; // {url, init, answer(status), fail(error)}
  const reports = [];
  const jar = { csrf: cookie };
  const fetch = (url, init) => new Promise((resolve, reject) => {
    const call = { url, init, answer: (status, text = body, headers) => resolve(new Response(text, { status, headers })), fail: reject };
    init.signal?.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
    sent.push(call);
  });
  const engine = createEngine(JSON.stringify({ maxInFlight, pacedOrigin: "https://app.test" }), {
    fetch, connections, readCookie: (name) => jar[name] ?? null, ...(time ? { now: time.now, setTimer: time.setTimer, clearTimer: time.clearTimer } : {}),
  });
  engine.listen((text) => reports.push(...JSON.parse(text)));
  const profile = 7; // the caller numbers its clients
  assert.equal(engine.profile(profile, PROFILE), "");
  const submit = (ident, flags = GET_FLAGS, extra = {}) =>
    engine.submit(ident, profile, extra.url || "https://app.test/api/x", extra.method || "GET", extra.headers ?? null,
      extra.body ?? null, flags, extra.timeoutMs ?? null);
  const apply = (...commands) => engine.apply(JSON.stringify(commands));
  return { engine, sent, reports, jar, submit, apply, settle: () => new Promise((r) => setTimeout(r, 0)) };
}

test("a request number in use is refused, loudly, as an answer (no function Python calls throws)", async () => {
  const { submit } = setup();
  submit(1);
  assert.match(await submit(1), /^network\|0\|0\|authfetch engine: request number 1 is already in use$/);
});

test("the first 401 of the credential pauses the gate until the coordinator has seen it", async () => {
  const { submit, sent, reports, apply, settle } = setup();
  submit(1);
  submit(2);
  await settle();
  assert.equal(sent.length, 2);
  sent[0].answer(401);
  await settle();
  assert.deepEqual(reports, [["answered", 1, 0, false, true, 1]]);
  submit(3);
  await settle();
  assert.equal(sent.length, 2, "a request after the trip waits at the gate");
  apply(["gate", "open", 0, null, 0, null]); // an open that has not seen trip 1
  await settle();
  assert.equal(sent.length, 2, "an open that has not seen the trip keeps the gate shut");
  apply(["gate", "open", 0, null, 1, null]);
  await settle();
  assert.equal(sent.length, 3, "the open that has seen it lets the request go");
});

test("an open with a newer credential opens whatever trips were not seen, and sends it", async () => {
  const { submit, sent, apply, settle } = setup();
  submit(1);
  await settle();
  sent[0].answer(401);
  await settle();
  submit(2);
  apply(["verdict", 1, "replay", null], ["gate", "open", 1, "token-1", 0, null]);
  await settle();
  assert.deepEqual(sent.slice(1).map((c) => c.init.headers.get("authorization")), ["Bearer token-1", "Bearer token-1"]);
});

test("auto hands the browser twice its connections and refills once half came back", async () => {
  const { submit, sent, settle } = setup({ connections: 3 });
  for (let ident = 1; ident <= 10; ident++) submit(ident);
  await settle();
  assert.equal(sent.length, 6);
  sent[0].answer(200);
  sent[1].answer(200);
  await settle();
  assert.equal(sent.length, 6, "no refill while more than the connections are out");
  sent[2].answer(200);
  await settle();
  assert.equal(sent.length, 9, "refilled to six in the browser's hands at once");
  assert.equal(JSON.parse(setup({ connections: 3 }).engine.stats()).limit, 6);
});

test("recall takes back the safe requests of the stale generation; only unpaced ones are aborted", async () => {
  for (const [maxInFlight, aborted] of [["auto", false], [null, true]]) {
    const { submit, sent, apply, settle, engine } = setup({ connections: 6, maxInFlight });
    submit(1);
    submit(2);
    submit(3, CREDENTIALED | COORDINATED | PACED, { method: "POST", body: "x" });
    await settle();
    apply(["recall", 0]);
    await settle();
    assert.equal(JSON.parse(engine.stats()).recalls, 2, "the POST is never recalled");
    assert.equal(Boolean(sent[0].init.signal?.aborted), aborted, `maxInFlight ${maxInFlight}`);
    apply(["gate", "open", 1, null, 0, null]);
    await settle();
    assert.equal(sent.length, 5, "the two GETs go out again with the new credential");
  }
});

test("MicroPython's bytes decode into place from hex chunks", () => {
  const target = new Uint8Array(5);
  assert.equal(fromHexInto(target, 0, "00ff"), 2);
  assert.equal(fromHexInto(target, 2, "41Fe0a"), 3);
  assert.deepEqual([...target], [0, 255, 65, 254, 10]);
});

test("a replay re-reads the CSRF cookie and carries the same bytes", async () => {
  const { submit, sent, apply, settle, jar } = setup();
  submit(1, CREDENTIALED | COORDINATED, { method: "POST", body: new Uint8Array([0, 255, 65]) });
  await settle();
  assert.equal(sent[0].init.headers.get("x-csrf-token"), "c1");
  assert.deepEqual([...sent[0].init.body], [0, 255, 65]);
  sent[0].answer(401);
  await settle();
  jar.csrf = "c2"; // the refresh rotated it
  apply(["verdict", 1, "replay", null], ["gate", "open", 1, null, 1, null]);
  await settle();
  assert.equal(sent[1].init.headers.get("x-csrf-token"), "c2");
  assert.deepEqual([...sent[1].init.body], [0, 255, 65]);
});

test("answers cross to Python as numbers, failures as text with the last response", async () => {
  const { engine, submit, sent, apply, settle } = setup();
  const ok = submit(1);
  const refused = submit(2);
  await settle();
  sent[0].answer(200);
  const answer = await ok;
  assert.equal(answer % 1000, 200);
  const kept = Math.floor(answer / 1000);
  assert.deepEqual(await Promise.all([engine.text(kept), engine.hex(kept)]), ["{}", "7b7d"], "readers at once share one read");
  assert.equal(await engine.text(kept), undefined, "the body went to Python, which keeps it: not kept here");
  assert.deepEqual(JSON.parse(engine.headers(kept)), [["content-type", "text/plain;charset=UTF-8"]], "its headers stay");
  sent[1].answer(401);
  await settle();
  apply(["verdict", 2, "fail", "session-expired"]);
  assert.match(await refused, /^session-expired\|\d+\|401\|session-expired$/);
});

test("an ended gate fails what waits and what comes, without sending", async () => {
  const { submit, sent, apply, settle } = setup();
  submit(1);
  await settle();
  sent[0].answer(401);
  await settle();
  const waiting = submit(2);
  apply(["failWaiting", "session-expired"], ["gate", "ended", 0, null, 1, "session-expired"]);
  assert.match(await waiting, /^session-expired\|0\|0\|/);
  assert.match(await submit(3), /^session-expired\|0\|0\|/);
  assert.equal(sent.length, 1);
});

test("a request past the due time trips the renewal and reports it", async () => {
  const { submit, sent, reports, apply, settle } = setup();
  apply(["due", 0]);
  submit(1);
  await settle();
  assert.deepEqual(reports, [["due", 1]]);
  assert.equal(sent.length, 0, "held for the renewal");
});

test("a request waiting at the gate times out by its own timeout", async () => {
  const { submit, sent, apply, settle } = setup();
  apply(["gate", "paused", 0, null, 0, null]);
  const answer = await submit(1, GET_FLAGS, { timeoutMs: 20 });
  assert.match(answer, /^timeout\|/);
  await settle();
  assert.equal(sent.length, 0);
});

test("trace: each request's steps are reported only while asked for, in the order they happen", async () => {
  const { engine, submit, sent, reports, apply, settle } = setup();
  submit(1);
  await settle();
  sent[0].answer(200);
  await settle();
  assert.deepEqual(reports.filter((r) => r[0] === "trace"), [], "no steps reported unless asked");
  engine.trace(true);
  submit(2);
  submit(3);
  await settle();
  sent[1].answer(401); // trips the gate
  await settle();
  submit(4); // arrives while the gate is paused: held
  sent[2].answer(401); // a second stale answer
  await settle();
  apply(["verdict", 2, "replay", null], ["verdict", 3, "replay", null], ["gate", "open", 1, "token-1", 2, null]);
  await settle();
  for (const call of sent.slice(3)) call.answer(200);
  await settle();
  const steps = reports.filter((r) => r[0] === "trace").map(([, ident, phase, at, status, attempt]) => {
    assert.equal(typeof at, "number");
    return [ident, phase, status, attempt];
  });
  assert.deepEqual(steps.filter((s) => s[0] === 2), [[2, "queued", 0, 0], [2, "sent", 0, 1], [2, "first-401", 401, 1], [2, "held", 0, 1], [2, "sent", 0, 2], [2, "done", 200, 2]]);
  assert.deepEqual(steps.filter((s) => s[0] === 3), [[3, "queued", 0, 0], [3, "sent", 0, 1], [3, "stale", 401, 1], [3, "held", 0, 1], [3, "sent", 0, 2], [3, "done", 200, 2]]);
  assert.deepEqual(steps.filter((s) => s[0] === 4), [[4, "queued", 0, 0], [4, "held", 0, 0], [4, "sent", 0, 1], [4, "done", 200, 1]]);
  assert.equal(reports.find((r) => r[0] === "trace" && r[1] === 2 && r[2] === "queued")[6], "GET https://app.test/api/x");
  engine.trace(false);
  const before = reports.length;
  submit(5);
  await settle();
  sent.at(-1).answer(200);
  await settle();
  assert.equal(reports.length, before, "off again: nothing more reported");
});

test("trace: requests waiting for a connection when the gate pauses are reported held", async () => {
  const { engine, submit, sent, reports, settle } = setup({ connections: 1 });
  engine.trace(true);
  for (let ident = 1; ident <= 4; ident++) submit(ident);
  await settle();
  assert.equal(sent.length, 2, "two in the browser's hands, two waiting for a slot");
  sent[0].answer(401);
  await settle();
  const held = reports.filter((r) => r[0] === "trace" && r[2] === "held").map((r) => r[1]);
  assert.deepEqual(held, [3, 4]);
});

test("recalled requests go out again before the ones that waited behind them", async () => {
  const { submit, sent, apply, settle } = setup({ connections: 2 });
  for (let ident = 1; ident <= 7; ident++) submit(ident, GET_FLAGS, { url: `https://app.test/api/${ident}` });
  await settle();
  assert.equal(sent.length, 4);
  sent[0].answer(401); // trips; #2, #3 and #4 are still out with the stale credential
  await settle();
  apply(["recall", 0], ["verdict", 1, "replay", null], ["gate", "open", 1, "token-1", 1, null]);
  await settle();
  assert.deepEqual(sent.slice(4).map((c) => c.url.split("/").pop()), ["1", "2", "3", "4"], "the oldest first, in their order");
});

// -- nothing waits for ever, whatever fails -------------------------------------------------------

const state = (engine) => JSON.parse(engine.state());

test("a header the browser refuses fails that request, and the rest of the queue goes on", async () => {
  const { submit, sent, apply, settle, engine } = setup();
  apply(["gate", "paused", 0, null, 0, null]);
  const first = submit(1);
  const second = submit(2, CREDENTIALED | COORDINATED, { method: "POST", body: "x" });
  apply(["gate", "open", 1, "bad\ntoken", 0, null]); // a token Headers.set refuses, for the POST
  const outcomes = [await first, await second];
  await settle();
  // Both carry the bearer token (the profile is bearer), so both are refused; neither is sent.
  for (const outcome of outcomes) assert.match(outcome, /^network\|0\|0\|the browser refused its headers: TypeError/);
  assert.equal(sent.length, 0);
  apply(["gate", "open", 2, "good-token", 0, null]);
  const third = submit(3);
  await settle();
  sent[0].answer(200);
  assert.equal((await third) % 1000, 200);
  assert.equal(state(engine).entries, 0);
});

for (const [what, text] of [
  ["commands it cannot read", '[["due", inf]]'],
  ["a command that does not exist", '[["explode", 1]]'],
  ["a gate that is no gate", '[["gate", "ajar", 0, null, 0, null]]'],
  ["commands that are no list", '{"gate": "open"}'],
]) {
  test(`${what}: apply says why, fails what waits for a decision, and opens`, async () => {
    const { submit, sent, settle, engine } = setup();
    const first = submit(1);
    await settle();
    sent[0].answer(401); // held, reported: a decision is owed
    await settle();
    const queued = submit(2); // behind the trip
    let said;
    assert.doesNotThrow(() => { said = engine.apply(text); });
    assert.notEqual(said, "");
    assert.match(await first, /^refresh-failed\|\d+\|401\|authfetch could not carry out its decision: /);
    assert.match(await queued, /^refresh-failed\|0\|0\|/);
    const later = submit(3);
    await settle();
    assert.equal(sent.length, 2, "the gate opened: a later request is sent, its 401 would trip again");
    sent[1].answer(200);
    assert.equal((await later) % 1000, 200);
  });
}

for (const [what, listener] of [
  ["a listener that throws", () => { throw new Error("the interpreter is gone"); }],
  ["no listener", null],
]) {
  test(`${what}: the held answers of that batch fail, and the trip's pause is lifted`, async () => {
    const { engine, submit, sent, settle, apply } = setup();
    engine.listen(listener);
    const quiet = console.error;
    console.error = () => {};
    try {
      const first = submit(1);
      const second = submit(2);
      await settle();
      sent[0].answer(401);
      sent[1].answer(401);
      const outcomes = [await first, await second];
      for (const outcome of outcomes) assert.match(outcome, /^refresh-failed\|\d+\|401\|no decision on its 401: /);
      const later = submit(3);
      await settle();
      assert.equal(sent.length, 3, "not paused for a report nobody read");
      // A coordinator that comes back later, having seen none of those trips, can still open.
      apply(["gate", "paused", 0, null, 0, null], ["gate", "open", 0, null, 0, null]);
      sent[2].answer(200);
      assert.equal((await later) % 1000, 200);
    } finally {
      console.error = quiet;
    }
  });
}

test("a fail verdict and failWaiting carry the coordinator's message", async () => {
  const { submit, sent, apply, settle } = setup();
  const held = submit(1);
  await settle();
  sent[0].answer(401);
  await settle();
  const queued = submit(2);
  apply(["verdict", 1, "fail", "refresh-failed", "refresh answered 503"], ["failWaiting", "refresh-failed", "refresh answered 503"]);
  assert.match(await held, /^refresh-failed\|\d+\|401\|refresh answered 503$/);
  assert.match(await queued, /^refresh-failed\|0\|0\|refresh answered 503$/);
});

test("a due time that is not a finite number means none", async () => {
  const { submit, sent, reports, apply, settle } = setup();
  apply(["due", null]);
  submit(1);
  await settle();
  assert.equal(sent.length, 1);
  assert.deepEqual(reports, []);
});

// -- bounded memory ---------------------------------------------------------------------------------

test("kept answers are dropped by age, on a timer, not only when another comes", async () => {
  const time = virtualTime();
  const { engine, submit, sent, settle } = setup({ time });
  const answer = submit(1);
  await settle();
  sent[0].answer(200);
  const kept = Math.floor((await answer) / 1000);
  assert.equal(state(engine).kept, 1);
  time.advance(119_000);
  assert.equal(state(engine).kept, 1);
  time.advance(2_000);
  assert.equal(state(engine).kept, 0, "dropped with no other answer coming");
  assert.equal(time.pending(), 0, "and no sweep left armed");
  assert.equal(engine.headers(kept), undefined, "headers of a dropped answer: undefined, not a throw");
  assert.equal(engine.url(kept), undefined);
  assert.equal(await engine.text(kept), undefined, "and its body: undefined, Python says why");
});

test("10,000 requests leave the engine's maps bounded, read or not", async () => {
  const time = virtualTime();
  const { engine, submit, sent, settle } = setup({ time });
  for (let round = 0; round < 100; round++) {
    const answers = [];
    for (let i = 1; i <= 100; i++) answers.push(submit(round * 100 + i));
    await settle();
    for (const call of sent.splice(0)) call.answer(200);
    const numbers = await Promise.all(answers);
    for (const number of numbers.slice(0, 50)) await engine.text(Math.floor(number / 1000)); // half read
    time.advance(100);
  }
  const held = state(engine);
  assert.equal(held.entries, 0);
  assert.ok(held.kept <= 2048, `kept ${held.kept}`);
  time.advance(121_000);
  assert.equal(state(engine).kept, 0);
});

test("a closed client's profile is freed: its running requests settle, new ones are refused", async () => {
  const { engine, submit, sent, settle } = setup();
  const running = submit(1);
  await settle();
  engine.forget(7);
  assert.equal(state(engine).profiles, 0);
  sent[0].answer(200);
  assert.equal((await running) % 1000, 200);
  assert.match(await submit(2), /^closed\|0\|0\|no client has the number 7: closed$/);
});

test("a bounded read gives the text up to the limit, and stops reading beyond it", async () => {
  for (const [text, limit, expected] of [["{\"a\": 1}", 100, "{\"a\": 1}"], ["x".repeat(5000), 1024, undefined]]) {
    const { engine, submit, sent, settle } = setup();
    const answer = submit(1);
    await settle();
    sent[0].answer(200, text);
    const kept = Math.floor((await answer) / 1000);
    assert.equal(await engine.bounded(kept, limit, null), expected);
    if (expected === undefined) await assert.rejects(engine.text(kept), /over 1024 bytes/);
    else assert.equal(await engine.text(kept), undefined, "handed to Python: not kept here");
  }
});

test("a bounded read believes a Content-Length over the limit without reading", async () => {
  const { engine, submit, sent, settle } = setup();
  const answer = submit(1);
  await settle();
  let pulled = 0;
  const stream = new ReadableStream({ pull(controller) { pulled += 1; controller.enqueue(new Uint8Array(10)); } });
  sent[0].answer(200, stream, { "content-length": "5000000" });
  const kept = Math.floor((await answer) / 1000);
  assert.equal(await engine.bounded(kept, 65536, null), undefined);
  assert.ok(pulled <= 1, `pulled ${pulled}`);
});

test("a bounded read gives up when the body does not come in time", async () => {
  const { engine, submit, sent, settle } = setup();
  const answer = submit(1);
  await settle();
  sent[0].answer(200, new ReadableStream({ pull() { return new Promise(() => {}); } }));
  const kept = Math.floor((await answer) / 1000);
  await assert.rejects(engine.bounded(kept, 65536, 30), /did not come within 30 ms/);
});

test("a bounded read of a copy leaves the answer itself whole, for the page that takes it", async () => {
  const { engine, submit, sent, settle } = setup();
  const answer = submit(1);
  await settle();
  sent[0].answer(200, '{"user": "demo"}');
  const kept = Math.floor((await answer) / 1000);
  assert.equal(await engine.bounded(kept, 1024, null, true), '{"user": "demo"}');
  const taken = engine.take(kept);
  assert.deepEqual(await taken.json(), { user: "demo" }, "the sign-in answer the embed hands the page is readable");
  assert.equal(JSON.parse(engine.state()).kept, 0);
});

test("what Python reaches through the engine never throws: blocked storage, a closed channel, a sandboxed cookie", () => {
  const blocked = { get localStorage() { throw new DOMException("The operation is insecure.", "SecurityError"); } };
  assert.equal(storage(blocked, "get", "k"), undefined);
  assert.match(storage(blocked, "set", "k", "v"), /SecurityError/);
  const full = { localStorage: { getItem: () => null, setItem() { throw new DOMException("quota", "QuotaExceededError"); } } };
  assert.equal(storage(full, "get", "k"), undefined);
  assert.match(storage(full, "set", "k", "v"), /QuotaExceededError/);
  const kept = new Map();
  const fine = { localStorage: { getItem: (k) => kept.get(k) ?? null, setItem: (k, v) => kept.set(k, v) } };
  assert.equal(storage(fine, "set", "k", "v"), "");
  assert.equal(storage(fine, "get", "k"), "v");
  assert.match(post({ postMessage() { throw new DOMException("closed", "InvalidStateError"); } }, "x"), /InvalidStateError/);
  const saved = Object.getOwnPropertyDescriptor(globalThis, "document");
  Object.defineProperty(globalThis, "document", { configurable: true, get() { return { get cookie() { throw new DOMException("sandboxed", "SecurityError"); } }; } });
  try {
    assert.equal(cookie("csrf_token"), undefined);
  } finally {
    if (saved) Object.defineProperty(globalThis, "document", saved);
    else delete globalThis.document;
  }
});

test("expectListener: reports wait for a listener to come; a held answer wakes its caller, once", async () => {
  const sent = [];
  const fetch = (url, init) => new Promise((resolve) => sent.push({ answer: (status) => resolve(new Response("{}", { status })) }));
  const engine = createEngine({ maxInFlight: null, pacedOrigin: "https://app.test" }, { fetch, readCookie: () => null });
  assert.equal(engine.profile(0, JSON.stringify({ refreshOn: [401], headers: [], bearer: false })), "");
  let woken = 0;
  engine.expectListener(() => { woken += 1; });
  const flags = CREDENTIALED | COORDINATED | RECALLABLE;
  const ask = (ident) => engine.request(ident, 0, "https://app.test/api/x", "GET", null, null, flags, null);
  const ok = ask(-1);
  const first = ask(-2);
  ask(-3);
  const settle = () => new Promise((r) => setTimeout(r, 0));
  await settle();
  sent[0].answer(200);
  assert.equal((await ok).response.status, 200);
  await settle();
  assert.equal(woken, 0, "a 2xx (the session seen) is reported but needs nobody now");
  sent[1].answer(401);
  await settle();
  assert.equal(woken, 1, "the held 401 wakes the caller");
  sent[2].answer(401);
  await settle();
  assert.equal(woken, 1, "once only");
  assert.equal(JSON.parse(engine.state()).held, 2);
  const reports = [];
  engine.listen((text) => reports.push(...JSON.parse(text)));
  await settle();
  assert.deepEqual(reports.map((r) => r[0]), ["authenticated", "answered", "answered"], "what was kept reaches the listener that came");
  engine.apply(JSON.stringify([["verdict", -2, "fail", "refresh-failed", "test"]]));
  assert.equal((await first).error, "refresh-failed");
});

test("expectListener: a waker that throws costs a console line, not the held answer", async () => {
  const sent = [];
  const fetch = () => new Promise((resolve) => sent.push((status) => resolve(new Response("{}", { status }))));
  const engine = createEngine({ maxInFlight: null }, { fetch, readCookie: () => null });
  engine.profile(0, JSON.stringify({ refreshOn: [401], headers: [], bearer: false }));
  let tried = 0;
  engine.expectListener(() => { tried += 1; throw new Error("boom"); });
  const call = engine.request(-1, 0, "https://app.test/api/x", "GET", null, null, CREDENTIALED | COORDINATED, null);
  await new Promise((r) => setTimeout(r, 0));
  const error = console.error;
  const lines = [];
  console.error = (...args) => lines.push(args.join(" "));
  try {
    sent[0](401);
    await new Promise((r) => setTimeout(r, 0));
  } finally {
    console.error = error;
  }
  assert.equal(tried, 1);
  assert.match(lines.join("\n"), /waking the coordinator failed/);
  assert.equal(JSON.parse(engine.state()).held, 1, "the 401 is still held for the listener to come");
  const reports = [];
  engine.listen((text) => reports.push(...JSON.parse(text)));
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(reports[0][0], "answered");
  engine.apply(JSON.stringify([["verdict", -1, "deliver"]]));
  assert.equal((await call).response.status, 401);
});
