"""Refresh token rotation: reuse detection, family revocation, races, the grace window, lifetimes."""

import base64
import threading
import time

import pytest

from server_stub.tokens import TokenRejected

REFRESH = "/api/v1/users/refresh-token"


def _slow_mint(monkeypatch, store, seconds=0.02):
    """Widen the window between "is this token active?" and "mark it rotated" so a race shows."""
    mint = store._mint

    def slow(*args, **kwargs):
        time.sleep(seconds)
        return mint(*args, **kwargs)

    monkeypatch.setattr(store, "_mint", slow)


def _all_at_once(n, attempt):
    barrier = threading.Barrier(n)
    results = [None] * n

    def run(i):
        barrier.wait()
        results[i] = attempt()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert not any(thread.is_alive() for thread in threads)
    return results


# -- the token itself ----------------------------------------------------------------------------


def test_refresh_token_is_opaque_random_and_stored_only_hashed(stub):
    tokens = set()
    for _ in range(3):
        stub.login()
        tokens.add(stub.cookie("refreshToken"))
    assert len(tokens) == 3
    for token in tokens:
        assert token.count(".") == 0  # not a JWT: nothing in it for a reader to decode
        assert len(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))) >= 16  # >= 128 bits
        assert token not in repr(stub.state.refresh._tokens)


# -- reuse detection -----------------------------------------------------------------------------


def test_presenting_a_rotated_token_again_is_reuse_and_revokes_the_whole_family(stub, envelope):
    stub.login()
    first = stub.cookie("refreshToken")
    assert stub.refresh().status_code == 200
    second = stub.cookie("refreshToken")
    assert stub.refresh().status_code == 200
    current = stub.cookie("refreshToken")
    access = stub.cookie("accessToken")

    response = stub.refresh(token=first)

    envelope(response, 401, "refresh_token_reused")
    # The thief and the user are told apart by nothing: every token of the family dies.
    cleared = stub.set_cookies(response)
    assert cleared["refreshToken"][1]["max-age"] == "0"
    assert cleared["accessToken"][1]["max-age"] == "0"
    for token in (current, second):
        assert stub.refresh(token=token).status_code == 401
    assert stub.me(token=access).status_code == 401
    stats = stub.stats()
    assert stats["reuse_detected"] == 1
    assert stats["revocations"] == 1
    assert stats["rotations"] == 2


def test_replaying_the_previous_token_right_away_is_reuse_without_grace(stub, envelope):
    stub.login()
    first = stub.cookie("refreshToken")
    assert stub.refresh().status_code == 200
    envelope(stub.refresh(token=first), 401, "refresh_token_reused")
    assert stub.stats()["reuse_detected"] == 1


def test_reuse_in_one_family_leaves_other_sessions_alone(stub):
    other = stub.another_browser()
    other.login()
    stub.login()
    first = stub.cookie("refreshToken")
    stub.refresh()

    assert stub.refresh(token=first).status_code == 401

    assert other.me().status_code == 200
    assert other.refresh().status_code == 200
    assert stub.stats()["revocations"] == 1


def test_sequential_refreshes_with_the_same_token_succeed_once(stub):
    stub.login()
    token = stub.cookie("refreshToken")
    statuses = [stub.refresh(token=token).status_code for _ in range(3)]
    assert statuses == [200, 401, 401]
    stats = stub.stats()
    assert (stats["rotations"], stats["reuse_detected"], stats["revocations"]) == (1, 1, 1)


# -- races: N at once, then count ----------------------------------------------------------------


def test_concurrent_rotations_in_the_store_never_both_mint_a_successor(stub, monkeypatch):
    store = stub.state.refresh
    family, token = store.login("demo")
    _slow_mint(monkeypatch, store)

    def attempt():
        try:
            return ("ok", store.rotate(token).token)
        except TokenRejected as rejected:
            return ("rejected", rejected.reason)

    results = _all_at_once(8, attempt)

    assert [kind for kind, _ in results].count("ok") == 1
    assert {reason for kind, reason in results if kind == "rejected"} <= {"refresh_token_reused", "revoked"}
    stats = stub.stats()
    assert stats["rotations"] == 1
    assert stats["reuse_detected"] == 1
    assert not store.family_live(family)


def test_concurrent_refresh_requests_with_one_token_succeed_once(stub, monkeypatch):
    stub.login()
    cookies = {"refreshToken": stub.cookie("refreshToken"), "csrf_token": stub.csrf}
    _slow_mint(monkeypatch, stub.state.refresh)

    statuses = _all_at_once(6, lambda: stub.send("POST", REFRESH, cookies=cookies).status_code)

    assert sorted(statuses) == [200, 401, 401, 401, 401, 401]
    stats = stub.stats()
    assert (stats["refresh_calls"], stats["rotations"]) == (6, 1)


def test_concurrent_refreshes_inside_the_grace_window_all_get_the_same_successor(make_stub, monkeypatch):
    stub = make_stub(grace=5)
    stub.login()
    cookies = {"refreshToken": stub.cookie("refreshToken"), "csrf_token": stub.csrf}
    _slow_mint(monkeypatch, stub.state.refresh)

    responses = _all_at_once(6, lambda: stub.send("POST", REFRESH, cookies=cookies))

    assert [r.status_code for r in responses] == [200] * 6
    successors = {stub.set_cookies(r)["refreshToken"][0] for r in responses}
    assert len(successors) == 1
    assert stub.stats()["rotations"] == 1
    assert stub.refresh(token=successors.pop()).status_code == 200


# -- grace window --------------------------------------------------------------------------------


def test_grace_window_gives_the_immediate_predecessor_the_same_successor(make_stub, envelope):
    stub = make_stub(grace=5)
    stub.login()
    first = stub.cookie("refreshToken")
    assert stub.refresh().status_code == 200
    successor = stub.cookie("refreshToken")
    stub.set_clock(4)

    response = stub.refresh(token=first)

    envelope(response, 200)
    assert stub.set_cookies(response)["refreshToken"][0] == successor
    assert stub.me(token=response.json()["data"]["accessToken"]).status_code == 200
    stats = stub.stats()
    assert (stats["rotations"], stats["reuse_detected"], stats["revocations"]) == (1, 0, 0)
    # The successor handed out twice is still the live one.
    assert stub.refresh(token=successor).status_code == 200


def test_grace_window_does_not_cover_the_token_before_the_predecessor(make_stub, envelope):
    stub = make_stub(grace=5)
    stub.login()
    first = stub.cookie("refreshToken")
    stub.refresh()
    second = stub.cookie("refreshToken")
    stub.refresh()
    third = stub.cookie("refreshToken")

    envelope(stub.refresh(token=first), 401, "refresh_token_reused")

    assert stub.refresh(token=third).status_code == 401
    assert stub.refresh(token=second).status_code == 401
    stats = stub.stats()
    assert (stats["reuse_detected"], stats["revocations"]) == (1, 1)


def test_grace_window_ends_after_its_seconds(make_stub, envelope):
    stub = make_stub(grace=5)
    stub.login()
    first = stub.cookie("refreshToken")
    stub.refresh()
    current = stub.cookie("refreshToken")
    stub.set_clock(6)

    envelope(stub.refresh(token=first), 401, "refresh_token_reused")

    assert stub.refresh(token=current).status_code == 401
    assert stub.stats()["revocations"] == 1


def test_grace_window_ends_once_the_successor_was_used(make_stub, envelope):
    stub = make_stub(grace=5)
    stub.login()
    first = stub.cookie("refreshToken")
    stub.refresh()
    stub.refresh()  # the successor rotated: the first token is two steps back now
    stub.set_clock(1)
    envelope(stub.refresh(token=first), 401, "refresh_token_reused")


# -- lifetimes -----------------------------------------------------------------------------------


def test_idle_lifetime_rejects_a_token_unused_for_too_long(make_stub, envelope):
    stub = make_stub(refresh_idle=100, refresh_absolute=1000)
    stub.login()
    stub.set_clock(101)
    envelope(stub.refresh(), 401)
    assert stub.stats()["rotations"] == 0


def test_idle_lifetime_counts_from_each_rotation(make_stub):
    stub = make_stub(refresh_idle=100, refresh_absolute=1000)
    stub.login()
    for offset in (90, 180, 270, 360):
        stub.set_clock(offset)
        assert stub.refresh().status_code == 200, offset
    stub.set_clock(461)
    assert stub.refresh().status_code == 401


def test_rotation_never_extends_the_absolute_lifetime(make_stub, envelope):
    stub = make_stub(refresh_idle=100, refresh_absolute=250)
    stub.login()
    for offset in (90, 180, 240):
        stub.set_clock(offset)
        response = stub.refresh()
        assert response.status_code == 200, offset
        # The cookie may not outlive the family either.
        max_age = int(stub.set_cookies(response)["refreshToken"][1]["max-age"])
        assert 0 < max_age <= 250 - offset
    stub.set_clock(251)  # 11 s after the last rotation: idle-fresh, but the family is too old

    envelope(stub.refresh(), 401)

    assert stub.stats()["rotations"] == 3


def test_refresh_cookie_max_age_is_the_absolute_lifetime_at_login(make_stub):
    stub = make_stub(refresh_absolute=250)
    max_age = int(stub.set_cookies(stub.login())["refreshToken"][1]["max-age"])
    assert 249 <= max_age <= 250


@pytest.mark.parametrize("grace", [0, 5])
def test_a_revoked_family_stays_revoked(make_stub, grace):
    stub = make_stub(grace=grace)
    stub.login()
    current = stub.cookie("refreshToken")
    stub.logout()
    for _ in range(2):
        assert stub.refresh(token=current).status_code == 401
    stats = stub.stats()
    assert (stats["rotations"], stats["revocations"]) == (0, 1)
