"""The /__stub__/ test controls the browser suites and benchmarks drive the stub with."""

import time

import pytest

from starlette.testclient import TestClient

from server_stub import Settings, build_app
from server_stub.http import DropConnection

REFRESH = "/api/v1/users/refresh-token"
COUNTERS = ("refresh_calls", "rotations", "reuse_detected", "revocations", "logins")
CONTROLS = [
    ("POST", "/__stub__/expire"),
    ("POST", "/__stub__/faults"),
    ("POST", "/__stub__/clock"),
    ("GET", "/__stub__/stats"),
    ("POST", "/__stub__/reset"),
]


@pytest.mark.parametrize("method, path", CONTROLS)
def test_controls_are_absent_without_test_controls(make_stub, envelope, method, path):
    stub = make_stub(test_controls=False)
    stub.login()
    stub.refresh()
    response = stub.client.request(method, path, json={"refresh": [{"status": 503}], "offset_s": 300})
    envelope(response, 404)
    # Nothing happened behind the 404 either.
    assert stub.state.clock.offset_s == 0
    assert not stub.state.faults.refresh
    assert stub.state.access.min_serial == 0
    assert stub.refresh().status_code == 200


@pytest.mark.parametrize("method, path", CONTROLS)
def test_controls_are_there_with_test_controls(stub, envelope, method, path):
    envelope(stub.client.request(method, path, json={"refresh": [], "offset_s": 0}), 200)


def test_test_controls_are_off_by_default():
    client = TestClient(build_app(Settings()), base_url="https://testserver")
    assert client.get("/__stub__/stats").status_code == 404
    assert client.post("/__stub__/reset").status_code == 404


# -- /__stub__/faults ----------------------------------------------------------------------------


def test_status_faults_apply_to_upcoming_refreshes_in_order(stub, envelope):
    stub.login()
    token = stub.cookie("refreshToken")
    queued = stub.client.post("/__stub__/faults", json={"refresh": [{"status": 503}, {"status": 500}]})
    assert envelope(queued, 200)["data"]["queued"] == 2

    envelope(stub.refresh(), 503)
    second = stub.refresh()
    envelope(second, 500)
    assert second.headers.get_list("set-cookie") == []
    # The faulted calls did not rotate: the third one still carries the token from login.
    assert stub.cookie("refreshToken") == token
    envelope(stub.refresh(), 200)
    stats = stub.stats()
    assert (stats["refresh_calls"], stats["rotations"], stats["reuse_detected"]) == (3, 1, 0)


def test_faults_touch_only_refresh_calls(stub):
    stub.login()
    stub.queue_faults({"status": 503})
    assert stub.me().status_code == 200
    assert stub.send("POST", "/api/v1/echo").status_code == 200
    assert stub.refresh().status_code == 503


def test_delay_fault_delays_then_answers_normally(stub, envelope):
    stub.login()
    stub.queue_faults({"delay_ms": 150})

    started = time.monotonic()
    response = stub.refresh()
    elapsed = time.monotonic() - started

    envelope(response, 200)
    assert elapsed >= 0.15
    assert stub.stats()["rotations"] == 1
    # One fault, one call: the queue is empty after it (asked of the stub's state, not of a
    # second call's wall time, which a loaded 2-core machine stretched past 150 ms in CI).
    assert not stub.state.faults.refresh
    envelope(stub.refresh(), 200)
    assert stub.stats()["rotations"] == 2


def test_drop_fault_closes_without_a_response_and_without_rotating(stub):
    stub.login()
    token = stub.cookie("refreshToken")
    stub.queue_faults({"drop": True})

    with pytest.raises(DropConnection):
        stub.refresh()

    stats = stub.stats()
    assert (stats["refresh_calls"], stats["rotations"]) == (1, 0)
    # Nothing was committed: the same token still refreshes, and is not taken for reuse.
    assert stub.refresh(token=token).status_code == 200
    assert stub.stats()["reuse_detected"] == 0


def test_body_fault_answers_that_text_verbatim(stub):
    stub.login()
    stub.queue_faults({"status": 200, "body": "not json"})

    response = stub.refresh()

    assert response.status_code == 200
    assert response.text == "not json"
    assert response.headers.get_list("set-cookie") == []
    assert stub.stats()["rotations"] == 0
    assert stub.refresh().status_code == 200


def test_rotate_then_drop_commits_the_rotation_before_hanging_up(stub, envelope):
    stub.login()
    token = stub.cookie("refreshToken")
    stub.queue_faults({"rotate_then_drop": True})

    with pytest.raises(DropConnection):
        stub.refresh()

    assert stub.stats()["rotations"] == 1
    # The client never saw the successor, so its retry is reuse (without a grace window).
    envelope(stub.refresh(token=token), 401, "refresh_token_reused")


def test_rotate_then_drop_is_recovered_by_the_grace_window(make_stub, envelope):
    stub = make_stub(grace=5)
    stub.login()
    token = stub.cookie("refreshToken")
    stub.queue_faults({"rotate_then_drop": True})
    with pytest.raises(DropConnection):
        stub.refresh()

    retry = stub.refresh(token=token)

    envelope(retry, 200)
    successor = stub.set_cookies(retry)["refreshToken"][0]
    assert successor != token
    assert stub.stats()["rotations"] == 1
    assert stub.refresh(token=successor).status_code == 200


@pytest.mark.parametrize(
    "payload",
    [
        {"refresh": {"status": 503}},
        {"refresh": "drop"},
        {"refresh": [5]},
        {"refresh": [{}]},
        {"refresh": [{"explode": True}]},
        {"refresh": [{"status": 99}]},
        {"refresh": [{"status": 600}]},
        {"refresh": [{"status": "503"}]},
        {"refresh": [{"status": True}]},
        {"refresh": [{"delay_ms": -1}]},
        {"refresh": [{"delay_ms": "100"}]},
        {"refresh": [{"delay_ms": True}]},
        {"refresh": [{"body": 5}]},
        {"refresh": [{"body": {"a": 1}}]},
        {"refresh": [{"drop": "yes"}]},
        {"refresh": [{"rotate_then_drop": 1}]},
        {"refresh": [{"status": 503}, {"nope": 1}]},
    ],
)
def test_bad_fault_input_is_400_and_queues_nothing(stub, envelope, payload):
    stub.login()

    envelope(stub.client.post("/__stub__/faults", json=payload), 400)

    assert stub.refresh().status_code == 200


def test_fault_control_checks_its_body_like_the_api(stub, envelope):
    envelope(stub.client.post("/__stub__/faults", content=b"{", headers={"Content-Type": "application/json"}), 400)
    envelope(stub.client.post("/__stub__/faults", content=b"{}", headers={"Content-Type": "text/plain"}), 415)


# -- /__stub__/clock -----------------------------------------------------------------------------


def test_clock_shifts_the_server_time_to_the_given_offset(stub, envelope):
    token = stub.login().json()["data"]["accessToken"]
    before = stub.state.clock()

    assert envelope(stub.client.post("/__stub__/clock", json={"offset_s": 300}), 200)["data"]["offset_s"] == 300

    assert 299 <= stub.state.clock() - before <= 302
    assert stub.me(token=token).status_code == 401
    # An offset, not a step: setting a smaller one moves time back.
    stub.set_clock(30)
    assert stub.state.clock.offset_s == 30
    assert stub.me(token=token).status_code == 200


def test_clock_accepts_fractions_and_negative_offsets(stub):
    stub.set_clock(-12.5)
    assert stub.state.clock.offset_s == -12.5


@pytest.mark.parametrize(
    "content",
    [
        b"{}",
        b'{"offset_s": "300"}',
        b'{"offset_s": true}',
        b'{"offset_s": null}',
        b'{"offset_s": NaN}',
        b'{"offset_s": Infinity}',
        b'{"offset_s": -1e999}',
    ],
)
def test_bad_clock_input_is_400_and_leaves_the_clock(stub, envelope, content):
    stub.set_clock(7)
    envelope(stub.client.post("/__stub__/clock", content=content, headers={"Content-Type": "application/json"}), 400)
    assert stub.state.clock.offset_s == 7


# -- /__stub__/stats -----------------------------------------------------------------------------


def test_stats_count_what_happened(stub, envelope):
    stub.login()
    first = stub.cookie("refreshToken")
    stub.refresh()
    stub.send("POST", "/api/v1/echo", headers={"X-Request-Id": "r1"})
    stub.send("POST", "/api/v1/echo", headers={"X-Request-Id": "r1"})
    stub.client.get("/api/v1/users/current-user")
    stub.refresh(token=first)  # reuse: revokes the family
    stub.client.post("/api/v1/users/login", json={"username": "demo", "password": "bad"})

    data = envelope(stub.client.get("/__stub__/stats"), 200)["data"]

    assert set(COUNTERS) | {"requests", "request_ids"} <= set(data)
    assert data["refresh_calls"] == 2
    assert data["rotations"] == 1
    assert data["reuse_detected"] == 1
    assert data["revocations"] == 1
    assert data["logins"] == 1
    assert data["requests"] == {
        "POST /api/v1/users/login": 2,
        "POST /api/v1/users/refresh-token": 2,
        "POST /api/v1/echo": 2,
        "GET /api/v1/users/current-user": 1,
    }
    assert data["request_ids"] == {"r1": 2}


def test_stats_count_refused_requests_too(stub):
    stub.login()
    stub.send("POST", REFRESH, csrf=False)  # 403
    stub.client.get("/api/v1/nope")  # 404
    requests = stub.stats()["requests"]
    assert requests[f"POST {REFRESH}"] == 1
    assert requests["GET /api/v1/nope"] == 1
    assert stub.stats()["refresh_calls"] == 0  # refused before the route ran


def test_stats_do_not_count_control_calls(stub):
    stub.set_clock(1)
    stub.queue_faults()
    stub.stats()
    assert stub.stats()["requests"] == {}


# -- /__stub__/expire ----------------------------------------------------------------------------


def test_expire_answers_and_is_idempotent_for_new_tokens(stub, envelope):
    stub.login()
    envelope(stub.client.post("/__stub__/expire"), 200)
    assert stub.me().status_code == 401
    assert stub.refresh().status_code == 200
    assert stub.me().status_code == 200
    envelope(stub.client.post("/__stub__/expire"), 200)
    assert stub.me().status_code == 401


# -- /__stub__/reset -----------------------------------------------------------------------------


def test_reset_clears_stats_faults_and_clock(stub, envelope):
    stub.login()
    stub.refresh()
    stub.send("POST", "/api/v1/echo", headers={"X-Request-Id": "r"})
    stub.queue_faults({"status": 503}, {"status": 503})
    stub.set_clock(3600)

    envelope(stub.client.post("/__stub__/reset"), 200)

    stats = stub.stats()
    assert {name: stats[name] for name in COUNTERS} == dict.fromkeys(COUNTERS, 0)
    assert stats["requests"] == {} and stats["request_ids"] == {}
    assert stub.state.clock.offset_s == 0
    # No fault left and the clock is back: the access token from the last refresh is live again.
    assert stub.me().status_code == 200
    assert stub.refresh().status_code == 200
    assert stub.stats()["rotations"] == 1


# -- faults that bend a genuine answer --------------------------------------------------------------


def test_a_body_fault_can_say_its_content_type(stub):
    stub.login()
    stub.queue_faults({"status": 200, "body": "<!doctype html><title>app</title>", "content_type": "text/html"})

    response = stub.refresh()

    assert response.headers["content-type"].startswith("text/html")
    assert response.text.startswith("<!doctype html>")


def test_shaping_faults_bend_a_genuine_rotation(stub):
    stub.login()
    stub.queue_faults({"pad_bytes": 1000, "expires_in_raw": "1e400", "access_token": "bad\ntoken"})

    response = stub.refresh()

    assert response.status_code == 200 and stub.stats()["rotations"] == 1
    assert '"expiresIn": 1e400' in response.text
    data = response.json()["data"]
    assert data["accessToken"] == "bad\ntoken" and len(data["padding"]) == 1000
    # The cookies carry the genuine rotation: the next refresh is no reuse.
    assert stub.refresh().status_code == 200 and stub.stats()["reuse_detected"] == 0


@pytest.mark.parametrize(
    "fault",
    [
        {"pad_bytes": -1},
        {"pad_bytes": "5"},
        {"pad_bytes": 1 << 40},
        {"expires_in_raw": "Infinity"},
        {"expires_in_raw": 5},
        {"access_token": None},
        {"content_type": "text/html"},
        {"status": 200, "pad_bytes": 10},
    ],
)
def test_bad_shaping_faults_are_400(stub, envelope, fault):
    envelope(stub.client.post("/__stub__/faults", json={"refresh": [fault]}), 400)
