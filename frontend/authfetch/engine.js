// authfetch engine: the transport's JavaScript half. It carries requests, never decides.
//
// Every request of a page goes through here, so the common case costs no interpreter work:
// Python (or the embed's JavaScript) submits a request with a few flags and gets one answer
// back. The engine owns what must happen per request at browser speed:
//
//   - the held queue and the connection slots (max_in_flight over the refresh URL's origin);
//   - sending with the credential it was last told to use (cookies, the bearer token, the
//     CSRF header read from its cookie at each send);
//   - keeping Responses on this side, so Python sees numbers and strings only.
//
// Decisions stay with the Python coordinator. The engine asks by *reporting*, in batches:
// an answer that wants a refresh (a 401 of a coordinated request) is held, not delivered, and
// reported; a coordinated request started after the renewal falls due is reported too; so is
// the first 2xx answer of each credential (the page has a session). It then
// carries out the coordinator's commands (apply): open, pause or end the gate, replay or
// deliver or fail a held request, recall the safe requests still out with a stale credential,
// fail what waits, set the due time.
//
// The one thing it does on its own is the *trip*: the first refresh-wanted answer of the
// current credential (or a request past the due time) pauses the gate, so nothing more goes
// out with a credential known to be stale while the report is on its way. Each trip has a
// number; the coordinator's "open" says which trips it has seen, and the gate stays shut until
// it has seen them all (or opens with a newer credential). So a pause always ends in one of
// two ways: the coordinator runs a refresh round, which ends by opening or ending the gate, or
// it has read the report and opens the gate itself.
//
// Nothing may wait for ever, whatever fails. Python calls in here synchronously, and on
// MicroPython a JavaScript exception thrown back into Python cannot be caught: so no function
// Python calls throws. Where the engine itself cannot go on as told (a request the browser will
// not send, commands it cannot read, a report nobody could read), it settles what that leaves
// waiting, with an error that names the cause, and reopens the gate it can no longer trust.
//
// What crosses to Python, built here only (forPython) and read only by session.py's outcome():
//   a response   kept * 1000 + status        (a number; kept: the keeper's number for it)
//   a failure    "code|kept|status|message"  (kept and status of the last response, 0 if none)
// code: network, timeout, cancelled, closed, session-expired, refresh-failed, non-replayable,
// unsendable (a body this browser cannot send: a ReadableStream in Firefox).

const CREDENTIALED = 1; // cookies ("include"), the bearer token, the CSRF header on unsafe methods
const COORDINATED = 2; // through the gate: held during a refresh, its refresh-wanted answer reported
const RECALLABLE = 4; // a safe method with a replayable body: may be aborted and sent again
const PACED = 8; // goes to the origin max_in_flight is for
const ONCE = 16; // its body may be sent only once (a generator handed to requests): never replayed

import { bodyKind, connectionsFor, cookie, createKeeper, describe, fromHexInto, pageCookie, protocolOf, storage, post, streamUploads } from "./wire.js";

export { bodyKind, cookie, fromHexInto, storage, post };

const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);
const AUTO_CHECKS = 3; // answers after which an unknown protocol stays unknown (no limit)
const GATES = new Set(["open", "paused", "ended"]);

// max_in_flight="auto" hands the browser twice its connections: one request on each, and the
// next one queued beside it, so a freed connection never waits for this page's JavaScript. The
// engine refills once half of that has come back, a batch of sends per task: refilling after
// every answer cost the renderer a task per request (about 250 us each on a 2-core machine).
// A stale credential thus reaches the server at most twice per connection in a burst after
// expiry, and everything behind waits here, where the first 401 holds it.
function autoLimit(connections) {
  return connections == null ? { limit: null, refillAt: null } : { limit: 2 * connections, refillAt: connections };
}

export function createEngine(settings, environment = {}) {
  // settings (JSON text or an object): maxInFlight ("auto", null or a number), pacedOrigin.
  // environment, for tests outside a browser: fetch, readCookie(name), now() in ms,
  // setTimer(fn, ms) / clearTimer(handle), and connections (what "auto" would read).
  const { maxInFlight = "auto", pacedOrigin = "" } = typeof settings === "string" ? JSON.parse(settings) : settings || {};
  const connections = () => environment.connections ?? connectionsFor(protocolOf(pacedOrigin));
  const send = environment.fetch || globalThis.fetch.bind(globalThis);
  const readCookie = environment.readCookie || pageCookie;
  const clock = environment.now || (() => performance.now());
  const setTimer = environment.setTimer || ((fn, ms) => setTimeout(fn, ms));
  const clearTimer = environment.clearTimer || ((handle) => clearTimeout(handle));
  const profiles = new Map(); // the caller's number -> refreshOn, CSRF names, default headers, bearer
  const entries = new Map(); // ident -> entry, for every request not yet settled (the callers
  // number them apart: Python counts up from 1, the embed's JavaScript down from -1)
  const queues = { paced: [], free: [] }; // waiting to be sent (the gate is shut, or no slot)
  const keeper = createKeeper({ clock, setTimer: environment.setTimer, clearTimer: environment.clearTimer }); // answers Python reads, by number
  const stats = { replays: 0, recalls: 0, maxHeld: 0 };
  let generation = 0;
  let token = null; // bearer mode only, in memory only
  let gate = "open"; // "open" | "paused" | "ended"
  let endReason = "session-expired";
  let tripSeq = 0; // trips so far; the coordinator says how many it has seen
  let forgiven = 0; // trips whose report no coordinator will read (see orphaned)
  let pausedByTrip = false; // the gate is paused by a trip, not by the coordinator
  let authenticated = -1; // the last generation a 2xx answer was reported for
  let trippedGeneration = -1;
  let dueAt = null; // clock() ms after which a coordinated request trips the renewal
  // limit: most paced requests in the browser's hands; refillAt: send more once this few are.
  let { limit, refillAt } = maxInFlight === "auto" ? autoLimit(connections()) : { limit: maxInFlight, refillAt: maxInFlight };
  let autoChecks = maxInFlight === "auto" && limit === null ? AUTO_CHECKS : 0;
  let pacedFlying = 0;
  let filling = true; // sending up to the limit (else waiting for refillAt)
  let listener = null;
  let backlog = null; // reports kept for a listener still to come (expectListener), else null
  let onKept = null; // called once when the backlog gets a held answer (expectListener)
  let reports = [];
  let tracing = false; // per-request reports for a watcher (the demo's timeline); off: no cost

  function trace(entry, phase, status, detail) {
    report(["trace", entry.ident, phase, clock(), status, entry.attempt, detail]);
  }

  function report(item) {
    if (!reports.length) queueMicrotask(flush);
    reports.push(item);
  }

  function flush() {
    const batch = reports;
    reports = [];
    if (!batch.length) return;
    if (!listener && backlog) {
      backlog.push(...batch);
      if (onKept && batch.some((item) => item[0] === "answered")) {
        const wake = onKept;
        onKept = null;
        try { wake(); } catch (error) { console.error("authfetch: waking the coordinator failed:", error); }
      }
      return;
    }
    if (!listener) return orphaned(batch, "nobody listens for the engine's reports");
    try {
      listener(JSON.stringify(batch));
    } catch (error) {
      console.error("authfetch: the coordinator failed on a report:", error);
      orphaned(batch, describe(error));
    }
  }

  function orphaned(batch, why) {
    // No coordinator read this batch, so nothing will decide on it: what it held fails here,
    // and a pause its trips made is lifted (a later trip reports again).
    for (const item of batch) {
      const entry = item[0] === "answered" ? entries.get(item[1]) : null;
      if (entry && entry.state === "held") {
        finish(entry, { error: "refresh-failed", message: `no decision on its ${entry.response.status}: ${why}`, response: entry.response });
      }
    }
    forgiven = tripSeq;
    if (gate === "paused" && pausedByTrip) gate = "open";
    pump();
  }

  function broken(why) {
    // The coordinator's commands could not be carried out, so the gate's state is unknown:
    // fail everything that waits for a decision, and open, so nothing waits for one more.
    console.error("authfetch engine: " + why);
    const message = "authfetch could not carry out its decision: " + why;
    for (const entry of [...entries.values()]) {
      if (entry.state === "held" || (entry.state === "queued" && entry.flags & COORDINATED)) {
        unqueue(entry);
        finish(entry, { error: "refresh-failed", message, response: entry.response });
      }
    }
    forgiven = tripSeq;
    if (gate === "paused") gate = "open";
    pump();
    return why;
  }

  function trip() {
    tripSeq += 1;
    trippedGeneration = generation;
    if (gate === "open") {
      gate = "paused";
      pausedByTrip = true;
      if (tracing) for (const entry of [...queues.paced, ...queues.free]) if (entry.flags & COORDINATED) trace(entry, "held", 0, "");
    }
    return tripSeq;
  }

  function queued() {
    return queues.paced.length + queues.free.length;
  }

  function enqueue(entry, front) {
    entry.state = "queued";
    const queue = entry.flags & PACED ? queues.paced : queues.free;
    if (front) queue.unshift(entry);
    else queue.push(entry);
    if (entry.flags & COORDINATED) stats.maxHeld = Math.max(stats.maxHeld, queued());
    if (tracing && gate !== "open" && entry.flags & COORDINATED) trace(entry, "held", 0, "");
  }

  function unqueue(entry) {
    if (entry.state !== "queued") return;
    const queue = entry.flags & PACED ? queues.paced : queues.free;
    const at = queue.indexOf(entry);
    if (at >= 0) queue.splice(at, 1);
  }

  function pump() {
    if (gate !== "open") return;
    while (queues.free.length) transmit(queues.free.shift());
    if (limit === null) {
      while (queues.paced.length) transmit(queues.paced.shift());
      return;
    }
    // Fill up to the limit, then wait until no more than refillAt are out before filling again.
    if (pacedFlying <= refillAt) filling = true;
    while (filling && queues.paced.length && pacedFlying < limit) transmit(queues.paced.shift());
    if (pacedFlying >= limit) filling = false;
  }

  function finish(entry, outcome) {
    if (entry.state === "done") return;
    entry.state = "done";
    entries.delete(entry.ident);
    if (entry.timer) clearTimer(entry.timer);
    if (tracing) trace(entry, "done", outcome.response ? outcome.response.status : 0, outcome.error || "");
    entry.resolve(outcome);
  }

  function outgoing(entry) {
    const profile = entry.profile;
    const plain = !profile.headers.length && !entry.headers && !entry.contentType;
    if (plain && (!(entry.flags & CREDENTIALED) || (!(profile.bearer && token) && SAFE.has(entry.method)))) {
      return null; // nothing to add: fetch() is cheaper without a headers object
    }
    const headers = new Headers(profile.headers);
    if (entry.headers) for (const [name, value] of entry.headers) headers.set(name, value);
    if (entry.contentType && !headers.has("content-type")) headers.set("content-type", entry.contentType);
    if (entry.flags & CREDENTIALED) {
      if (profile.bearer && token) headers.set("authorization", "Bearer " + token);
      if (profile.csrfCookie && profile.csrfHeader && !SAFE.has(entry.method)) {
        // Read at every send: a replay must carry the value the refresh rotated in.
        const value = readCookie(profile.csrfCookie);
        if (value) headers.set(profile.csrfHeader, value);
      }
    }
    return headers;
  }

  function transmit(entry) {
    const init = { credentials: entry.flags & CREDENTIALED ? "include" : "same-origin" };
    if (entry.method !== "GET") init.method = entry.method;
    try {
      const headers = outgoing(entry);
      if (headers) init.headers = headers;
    } catch (error) {
      // A header the browser refuses (a token with a line break, a character above U+00FF):
      // this request fails, the rest of the queue goes on.
      return finish(entry, { error: "network", message: "the browser refused its headers: " + describe(error), response: entry.response });
    }
    if (entry.body != null) init.body = entry.body;
    if (entry.stream) init.duplex = "half"; // Chromium needs it to send a stream
    // An abort signal makes fetch() dearer, so only where aborting can help: a timeout, or a
    // recallable request that may wait in the browser's own queue (no limit, or another origin);
    // under the limit one sits on a connection or right behind it, already on its way.
    if (entry.timer || (entry.flags & RECALLABLE && (limit === null || !(entry.flags & PACED)))) {
      entry.abort = new AbortController();
      init.signal = entry.abort.signal;
    }
    entry.state = "flying";
    entry.generation = generation;
    entry.response = null;
    const attempt = (entry.attempt += 1);
    if (entry.flags & PACED) pacedFlying += 1;
    if (tracing) trace(entry, "sent", 0, entry.method + " " + entry.url);
    if (entry.replayed && entry.flags & COORDINATED) {
      stats.replays += 1;
      report(["replay", entry.ident, entry.method, entry.url]);
    }
    let promise;
    try {
      promise = send(entry.url, init);
    } catch (error) {
      promise = Promise.reject(error);
    }
    promise.then(
      (response) => answered(entry, attempt, response),
      (error) => failed(entry, attempt, error),
    );
  }

  function withdraw(entry) {
    // A send in flight no longer counts: whatever it brings is ignored (aborted, where it can be).
    entry.attempt += 1;
    if (entry.flags & PACED) pacedFlying -= 1;
    entry.abort?.abort();
  }

  function landed(entry, attempt) {
    // Whether this answer is still the entry's: a recalled or settled send is not.
    if (entry.attempt !== attempt || entry.state !== "flying") return false;
    if (entry.flags & PACED) pacedFlying -= 1;
    return true;
  }

  function answered(entry, attempt, response) {
    if (!landed(entry, attempt)) {
      response.body?.cancel().catch(() => {}); // a recalled request's late answer: free it now
      return;
    }
    if (autoChecks && entry.flags & PACED) {
      autoChecks -= 1; // the answer may have brought a timing entry that names the protocol
      ({ limit, refillAt } = autoLimit(connections()));
      if (limit !== null) autoChecks = 0;
    }
    if (entry.flags & COORDINATED && refreshWanted(entry.profile, response)) {
      let seq = tripSeq;
      const trips = !entry.replayed && entry.generation === generation;
      if (tracing) trace(entry, trips && gate === "open" ? "first-401" : "stale", response.status, "");
      if (trips) seq = trip();
      entry.state = "held";
      entry.response = response;
      report(["answered", entry.ident, entry.generation, entry.replayed, !entry.stream && !(entry.flags & ONCE), seq]);
    } else {
      if (entry.flags & COORDINATED && response.ok && entry.generation !== authenticated) {
        authenticated = entry.generation; // once per credential: the coordinator knows a session exists
        report(["authenticated", entry.generation]);
      }
      finish(entry, { response });
    }
    pump();
  }

  function failed(entry, attempt, error) {
    if (!landed(entry, attempt)) return;
    const message = describe(error);
    finish(entry, { error: entry.timedOut ? "timeout" : "network", message: entry.stream ? message + " (browsers send a ReadableStream body only over HTTP/2 or later)" : message });
    pump();
  }

  function refreshWanted(profile, response) {
    if (!profile.refreshOn.includes(response.status)) return false;
    const challenge = response.headers.get("www-authenticate") || "";
    return !challenge.includes("insufficient_scope");
  }

  function timeOut(entry) {
    entry.timedOut = true;
    if (entry.state === "flying") {
      entry.abort.abort(); // its rejection settles it as a timeout
      return;
    }
    unqueue(entry);
    finish(entry, { error: "timeout", message: "timed out", response: entry.response });
  }

  async function prepare(entry, body) {
    // Bodies become what the browser sends, once: a replay carries the same bytes.
    if (body == null) return;
    if (typeof body === "string") {
      entry.body = body;
      return;
    }
    const kind = bodyKind(body);
    if (kind === "stream") {
      if (!streamUploads) {
        const error = new Error("this browser cannot upload a ReadableStream body (it has no streaming upload; " +
          "Firefox would send the text \"[object ReadableStream]\" in its place): send a string, bytes, a Blob or FormData instead");
        error.unsendable = true;
        throw error;
      }
      entry.body = body;
      entry.stream = true;
      return;
    }
    if (body instanceof Uint8Array) {
      entry.body = body;
      return;
    }
    const wrapped = new Response(body); // FormData, Blob, URLSearchParams: serialised once
    entry.contentType = wrapped.headers.get("content-type");
    entry.body = new Uint8Array(await wrapped.arrayBuffer());
  }

  function start(ident, profileNumber, url, method, headers, body, flags, timeoutMs, resolve) {
    const profile = profiles.get(profileNumber);
    if (!profile) return resolve({ error: "closed", message: `no client has the number ${profileNumber}: closed` });
    if (entries.has(ident)) return resolve({ error: "network", message: `authfetch engine: request number ${ident} is already in use` });
    const entry = {
      ident, profile, url, method, flags, resolve,
      headers: null, body: null, stream: false, contentType: null,
      state: "new", attempt: 0, generation: null, replayed: false, timedOut: false,
      abort: null, timer: null, response: null,
    };
    try {
      entry.headers = typeof headers === "string" ? JSON.parse(headers) : headers || null;
    } catch (error) {
      return resolve({ error: "network", message: "authfetch engine: its headers could not be read: " + describe(error) });
    }
    entries.set(ident, entry);
    if (tracing) trace(entry, "queued", 0, method + " " + url);
    if (timeoutMs != null) entry.timer = setTimer(() => timeOut(entry), timeoutMs);
    const go = () => {
      if (entry.state === "done") return; // timed out or cancelled while its body was read
      if (!(flags & COORDINATED)) return transmit(entry);
      if (gate === "ended") return finish(entry, { error: endReason, message: "the session has ended" });
      if (dueAt !== null && gate === "open" && clock() >= dueAt) {
        dueAt = null;
        report(["due", trip()]);
      }
      enqueue(entry, false);
      pump();
    };
    if (body == null || typeof body === "string" || body instanceof Uint8Array) {
      prepare(entry, body); // no await inside for these: done before go()
      go();
    } else {
      prepare(entry, body).then(go, (error) => finish(entry, error && error.unsendable
        ? { error: "unsendable", message: error.message }
        : { error: "network", message: "its body could not be read: " + describe(error) }));
    }
  }

  function forPython(outcome) {
    const response = outcome.response;
    if (response && !outcome.error) return keeper.keep(response) * 1000 + response.status;
    return `${outcome.error}|${response ? keeper.keep(response) : 0}|${response ? response.status : 0}|${outcome.message || ""}`;
  }

  const commands = {
    gate(state, gen, newToken, seen, reason) {
      if (!GATES.has(state) || !Number.isInteger(gen) || !Number.isInteger(seen)) {
        throw new Error(`not a gate: ${JSON.stringify([state, gen, seen])}`);
      }
      generation = gen;
      token = typeof newToken === "string" ? newToken : null;
      pausedByTrip = false;
      if (state === "open") {
        // Stay shut while a trip the coordinator has not seen stands for this credential.
        if (Math.max(seen, forgiven) >= tripSeq || gen > trippedGeneration) gate = "open";
        else if (gate === "ended") gate = "paused";
      } else {
        gate = state;
        if (state === "ended") endReason = reason || "session-expired";
      }
      pump();
    },
    verdict(ident, what, reason, message) {
      const entry = entries.get(ident);
      if (!entry || entry.state !== "held") return; // settled meanwhile (timed out, cancelled)
      if (what === "replay") {
        entry.replayed = true; // its 401 stays its last response until the replay goes out
        enqueue(entry, true);
        pump();
      } else if (what === "deliver") {
        finish(entry, { response: entry.response });
      } else {
        finish(entry, { error: reason, message: message || reason, response: entry.response });
      }
    },
    recall(gen) {
      const recalled = [];
      for (const entry of entries.values()) {
        if (entry.state === "flying" && entry.flags & RECALLABLE && !entry.replayed && entry.generation === gen) {
          withdraw(entry);
          entry.replayed = true;
          stats.recalls += 1;
          recalled.push(entry);
        }
      }
      // At the front, in the order they were asked for: they were sent before anything that
      // waits, so they go out again first (at the back they waited for the whole queue).
      for (let at = recalled.length - 1; at >= 0; at--) enqueue(recalled[at], true);
      pump();
    },
    failWaiting(reason, message) {
      for (const queue of [queues.free, queues.paced]) {
        for (const entry of queue.splice(0)) {
          finish(entry, { error: reason, message: message || reason, response: entry.response });
        }
      }
    },
    due(delayMs) {
      dueAt = typeof delayMs === "number" && Number.isFinite(delayMs) ? clock() + delayMs : null;
    },
  };

  return {
    // -- Python's side: numbers and strings across; none of these throws ---------------------
    submit(ident, profile, url, method, headers, body, flags, timeoutMs) {
      return new Promise((resolve) => {
        start(ident, profile, url, method, headers, body, flags, timeoutMs, (outcome) => resolve(forPython(outcome)));
      });
    },
    ...keeper.readers, // text, bytes, hex, bounded, headers, url, take, drop: by kept number
    // -- the embed's side: the browser's own Response ----------------------------------------
    request(ident, profile, url, method, headers, body, flags, timeoutMs) {
      return new Promise((resolve) => start(ident, profile, url, method, headers, body, flags, timeoutMs, resolve));
    },
    // -- the coordinator's side ---------------------------------------------------------------
    apply(text) {
      // "" once every command is carried out, else what went wrong (after settling, see broken).
      let batch;
      try {
        batch = JSON.parse(text);
        if (!Array.isArray(batch)) throw new Error("not a list of commands");
      } catch (error) {
        return broken("its commands could not be read: " + describe(error));
      }
      for (const command of batch) {
        try {
          const [name, ...args] = command;
          if (!Object.hasOwn(commands, name)) throw new Error("no such command");
          commands[name](...args);
        } catch (error) {
          return broken(`the command ${JSON.stringify(command).slice(0, 120)} failed: ${describe(error)}`);
        }
      }
      return "";
    },
    listen(callback) {
      // A listener that comes after expectListener() is handed what was kept, a turn later (its
      // caller is still setting up); none (null) instead: what was kept is orphaned, settled.
      listener = callback || null;
      const kept = backlog;
      backlog = null;
      onKept = null;
      if (kept && kept.length) {
        if (!reports.length) queueMicrotask(flush);
        reports.unshift(...kept);
      }
    },
    expectListener(wake) {
      // The one tag sends before its interpreter is up: reports wait for the coordinator
      // (its trips keep the gate shut meanwhile) instead of being settled as undecidable.
      // wake(), if given, is called once, when an answer is held for the coordinator (a 401):
      // it is wanted now (the tag starts its interpreter then, if it has not yet). Other
      // reports (a session seen) can wait for it.
      if (listener) return;
      backlog = backlog || [];
      onKept = typeof wake === "function" ? wake : null;
    },
    trace(on) {
      tracing = !!on; // "trace" reports: [ident, phase, ms, status, attempt, detail]
    },
    profile(number, text) {
      // The caller numbers its clients; "" once kept, else why not.
      try {
        const { refreshOn, csrfCookie, csrfHeader, headers, bearer } = JSON.parse(text);
        profiles.set(number, { refreshOn: refreshOn || [], csrfCookie, csrfHeader, headers: headers || [], bearer: !!bearer });
        return "";
      } catch (error) {
        return describe(error);
      }
    },
    forget(number) {
      // The client closed: its requests still running keep what they need; new ones are refused.
      profiles.delete(number);
    },
    cancel(ident) {
      const entry = entries.get(ident);
      if (!entry) return;
      unqueue(entry);
      if (entry.state === "flying") withdraw(entry);
      finish(entry, { error: "cancelled", message: "cancelled" });
      pump();
    },
    pending() {
      let count = 0;
      for (const entry of entries.values()) if (entry.flags & COORDINATED) count += 1;
      return count;
    },
    stats: () => JSON.stringify({ ...stats, limit }),
    state() {
      // What the engine holds, for tests and for a page that asks (JSON text).
      const byState = { new: 0, queued: 0, flying: 0, held: 0 };
      for (const entry of entries.values()) byState[entry.state] += 1;
      return JSON.stringify({
        gate, generation, trips: tripSeq, entries: entries.size, ...byState,
        kept: keeper.size(), profiles: profiles.size, reports: reports.length,
      });
    },
    requests() {
      // Each unsettled request as [ident, state, generation, replayed] (JSON text), for tests.
      return JSON.stringify([...entries.values()].map((e) => [e.ident, e.state, e.generation, e.replayed]));
    },
  };
}

export const FLAGS = { CREDENTIALED, COORDINATED, RECALLABLE, PACED, ONCE };

// Importing the module is enough for Python to find it (PyScript js_modules, the embed).
globalThis.authfetchEngine = { createEngine, bodyKind, cookie, fromHexInto, storage, post, FLAGS };
