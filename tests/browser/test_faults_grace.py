"""A refresh whose response is lost after the server rotated (rotate_then_drop), with the
stub's reuse grace window on: the retry presents the predecessor and gets the same successor."""

STUB_ARGS = ["--grace", "5"]


def test_lost_rotation_within_the_grace_window_keeps_the_session(harness):
    harness.fresh()
    harness.stub.expire()
    harness.stub.faults({"rotate_then_drop": True})
    result = harness.run(
        """
async def main():
    api = client()
    ended = []
    api.on("session-expired", lambda event: ended.append(event.name))
    results = await many(10, lambda i: api.get("/users/profile"))
    out = outcomes(results)
    return {"outcomes": out, "ended": ended}
"""
    )
    stats = harness.stub.stats()
    figures = f"[{harness.runtime}] outcomes {set(result['outcomes'])}, stub {stats['refresh_calls']} refresh calls, {stats['rotations']} rotations, reuse {stats['reuse_detected']}"
    assert result["outcomes"] == [200] * 10 and result["ended"] == [], figures
    assert stats["refresh_calls"] == 2 and stats["rotations"] == 1 and stats["reuse_detected"] == 0, figures
