"""The resume invariant in a real browser: whatever the refresh does, the engine's gate opens again.

The engine pauses a credential's sends at its first 401 and reopens only on the coordinator's
word (coordinator.py, "The gate"). Each test drives one outcome of the refresh with the stub's
fault controls (success, transient failure, terminal failure, timeout, close, another tab's
renewal, sign-out) with requests held behind the gate, then checks that they all settled and
that a request sent after the outcome goes out and is answered. Every request carries its own
``timeout``, so a gate left shut fails as RequestTimeout instead of hanging the suite.
"""

HELD_THEN_NEXT = """
async def settled(task):
    try:
        return (await task).status
    except Exception as error:
        return type(error).__name__

async def main():
    api = client(%(options)s)
    started = asyncio.Event()
    api.on("refresh-start", lambda event: started.set())
    first = asyncio.create_task(api.get("/users/profile", timeout=8))
    await started.wait()  # the refresh is out: what starts now waits behind the gate
    held = [asyncio.create_task(api.get("/users/current-user", timeout=8)) for _ in range(5)]
    %(during)s
    out = []
    for task in [first] + held:
        out.append(await settled(task))
    %(after)s
    return {"first": out[0], "held": out[1:], "after": (await %(next)s.get("/users/profile", timeout=4)).status}
"""
SIGN_IN = 'await api.login(json={"username": "demo", "password": "demo"})'


def held_then_next(harness, options="", during="pass", after="pass", next_client="api"):
    """The refresh is out (delayed by a fault), 5 requests wait behind the gate, ``during``
    happens; all of them settle, ``after`` happens, and one more request goes out."""
    code = HELD_THEN_NEXT % {"options": options, "during": during, "after": after, "next": next_client}
    return harness.run(code)


def test_success_sends_what_waited_and_what_comes_next(harness):
    harness.fresh()
    harness.stub.expire()
    harness.stub.faults({"delay_ms": 300})
    result = held_then_next(harness)
    assert result == {"first": 200, "held": [200] * 5, "after": 200}, f"[{harness.runtime}] {result}"
    assert harness.stub.stats()["refresh_calls"] == 1


def test_a_transient_failure_that_gives_up_reopens_the_gate_for_the_next_request(harness):
    harness.fresh()
    harness.stub.expire()
    harness.stub.faults({"status": 503, "delay_ms": 300}, {"status": 503})
    result = held_then_next(harness, options="refresh_retries=1")
    figures = f"[{harness.runtime}] {result}, refresh calls at the stub {harness.stub.stats()['refresh_calls']}"
    assert result["first"] == "RefreshFailed" and result["held"] == ["RefreshFailed"] * 5, figures
    assert result["after"] == 200, figures  # the next 401 refreshed (the stub answers again)
    assert harness.stub.stats()["refresh_calls"] == 3, figures


def test_a_refresh_timeout_reopens_the_gate(harness):
    harness.fresh()
    harness.stub.expire()
    harness.stub.faults({"delay_ms": 2000})
    result = held_then_next(harness, options="refresh_timeout=0.3, refresh_retries=0")
    figures = f"[{harness.runtime}] {result}"
    assert result["first"] == "RefreshFailed" and result["held"] == ["RefreshFailed"] * 5, figures
    assert result["after"] == 200, figures


def test_a_terminal_failure_ends_the_session_and_a_sign_in_reopens_it(harness):
    harness.fresh()
    harness.stub.expire()
    harness.stub.faults({"status": 401, "delay_ms": 300})
    result = held_then_next(harness, after=SIGN_IN)
    figures = f"[{harness.runtime}] {result}"
    assert result["first"] == "SessionExpired" and result["held"] == ["SessionExpired"] * 5, figures
    assert result["after"] == 200, figures


def test_a_sign_out_during_the_refresh_settles_what_waited(harness):
    harness.fresh()
    harness.stub.expire()
    harness.stub.faults({"delay_ms": 800})
    result = held_then_next(harness, during="await api.logout()", after=SIGN_IN)
    figures = f"[{harness.runtime}] {result}"
    assert result["held"] == ["SessionExpired"] * 5, figures
    assert result["first"] in (200, "SessionExpired"), figures  # its refresh may still land first
    assert result["after"] == 200, figures


def test_a_client_closed_during_the_refresh_still_settles_what_waited(harness):
    harness.fresh()
    harness.stub.expire()
    harness.stub.faults({"delay_ms": 500})
    result = held_then_next(harness, during="api.close()", next_client="client()")
    assert result == {"first": 200, "held": [200] * 5, "after": 200}, f"[{harness.runtime}] {result}"


def test_another_tabs_renewal_reopens_this_tabs_gate(harness):
    harness.fresh()
    harness.stub.expire()
    harness.stub.faults({"delay_ms": 600})
    result = harness.run(
        """
async def main():
    # Two clients with their own transports: two tabs of one browser (one lock, one channel).
    first, second = client(), client()
    started = asyncio.Event()
    first.on("refresh-start", lambda event: started.set())
    renewed = []
    second.on("refresh", lambda event: renewed.append(event.fields.get("source")))
    out_first = asyncio.create_task(first.get("/users/profile", timeout=8))
    await started.wait()
    # The second tab's 401 pauses its own gate; its refresh waits for the first tab's lock and
    # then adopts that renewal instead of calling the endpoint.
    waiting = await many(4, lambda i: second.get("/users/current-user", timeout=8))
    after = await second.get("/users/profile", timeout=4)
    return {"first": outcome(await out_first), "waiting": outcomes(waiting), "after": after.status,
            "second_renewed_by": renewed}
"""
    )
    figures = f"[{harness.runtime}] {result}, refresh calls {harness.stub.stats()['refresh_calls']}"
    assert result["first"] == 200 and result["waiting"] == [200] * 4 and result["after"] == 200, figures
    assert harness.stub.stats()["refresh_calls"] == 1, figures
    assert result["second_renewed_by"] == ["remote"], figures
