"""The stub as ``python -m server_stub`` really runs it: uvicorn, a socket, a real hang-up."""

import http.cookies
import pathlib
import re
import socket
import subprocess
import sys
import time

import httpx
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
URL_LINE = re.compile(r"listening on (http://(\S+):(\d+)/)")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    logs = tmp_path_factory.mktemp("stub")
    out_path, err_path = logs / "stdout", logs / "stderr"
    with open(out_path, "w") as out, open(err_path, "w") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "server_stub", "--port", "0", "--test-controls"],
            cwd=ROOT,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + 20
        while True:
            printed = out_path.read_text()
            if URL_LINE.search(printed) and "demo account" in printed:
                break
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"stub did not start (exit {process.poll()}):\n{printed}\n{err_path.read_text()}")
            time.sleep(0.05)
        url, host, port = URL_LINE.search(printed).groups()
        yield {"printed": printed, "url": url, "host": host, "port": int(port), "stderr": err_path}
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _session(client):
    """Log in over plain http; httpx keeps Secure cookies off http, so carry them by hand."""
    response = client.post("/api/v1/users/login", json={"username": "demo", "password": "demo"})
    assert response.status_code == 200, response.text
    jar = http.cookies.SimpleCookie()
    for line in response.headers.get_list("set-cookie"):
        jar.load(line)
    cookies = {name: morsel.value for name, morsel in jar.items()}
    return {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()), "X-CSRF-Token": cookies["csrf_token"]}


def test_it_prints_its_url_and_the_demo_account(server):
    assert "demo account: demo / demo" in server["printed"]
    assert server["port"] > 0


def test_it_binds_127_0_0_1_by_default(server):
    assert server["host"] == "127.0.0.1"
    with socket.create_connection(("127.0.0.1", server["port"]), timeout=5):
        pass
    if sys.platform.startswith("linux"):
        # All of 127/8 is loopback on Linux: a wildcard bind would answer on 127.0.0.2 too.
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.2", server["port"]), timeout=5).close()


def test_a_drop_fault_closes_the_connection_with_no_response(server):
    with httpx.Client(base_url=server["url"], timeout=10) as client:
        headers = _session(client)
        assert client.post("/__stub__/faults", json={"refresh": [{"drop": True}]}).status_code == 200

        with pytest.raises(httpx.RemoteProtocolError):
            client.post("/api/v1/users/refresh-token", headers=headers)

        # The server lives on, nothing was rotated, and the same token still refreshes.
        response = client.post("/api/v1/users/refresh-token", headers=headers)
        assert response.status_code == 200, response.text
        stats = client.get("/__stub__/stats").json()["data"]
    assert stats["refresh_calls"] == 2
    assert stats["rotations"] == 1
    assert stats["reuse_detected"] == 0
    # uvicorn did not log an error or try to answer a 500 for the hung-up request.
    assert server["stderr"].read_text() == ""
