"""Each server's shape: the refresh call's body, what its answers' fields are, its words."""

import json
import pathlib
import urllib.parse

import pytest

from authfetch import AuthClient, UsageError, inputs
from authfetch.servers import PRESETS, Server
from authfetch.testing import FakeTransport


def test_simplejwt_sends_json_and_reads_its_rotated_token():
    server = Server.preset("simplejwt")
    body, content_type = server.refresh_body("r1")
    assert (json.loads(body), content_type) == ({"refresh": "r1"}, "application/json")
    answer = inputs.refresh_answer(200, '{"access": "a.b.c", "refresh": "r2"}', token_field="access", server=server)
    assert (answer.token, answer.refresh_token) == ("a.b.c", "r2")
    assert json.loads(server.logout_body("r2")[0]) == {"refresh": "r2"}


def test_oauth2_sends_rfc6749_form_with_its_client_and_scope():
    server = Server.preset("oauth2", client_id="spa app", scope="read write")
    body, content_type = server.refresh_body("r/1+=")
    assert content_type == "application/x-www-form-urlencoded"
    assert dict(urllib.parse.parse_qsl(body)) == {
        "grant_type": "refresh_token", "refresh_token": "r/1+=", "client_id": "spa app", "scope": "read write",
    }
    logout = dict(urllib.parse.parse_qsl(server.logout_body("r2")[0]))
    assert logout == {"token": "r2", "token_type_hint": "refresh_token", "client_id": "spa app"}
    answer = inputs.refresh_answer(200, '{"access_token": "a", "expires_in": 300, "refresh_token": "r2"}',
                                   token_field="access_token", server=server)
    assert (answer.token, answer.lifetime, answer.refresh_token) == ("a", 300.0, "r2")
    assert inputs.refresh_answer(400, '{"error": "invalid_grant"}', token_field="access_token", server=server).ended


def test_the_tutorial_shape_is_the_default_and_knows_its_reuse_word():
    answer = inputs.refresh_answer(409, '{"message": "refresh_token_reused"}')
    assert answer.ended and answer.no_session is None and answer.refresh_token is None


def test_a_rotated_token_of_the_wrong_shape_is_dropped_with_a_note_and_any_text_is_one():
    server = Server.preset("simplejwt")
    for body in ('{"access": "a", "refresh": ["r2"]}', '{"access": "a", "refresh": ""}', '{"access": "a", "refresh": "%s"}' % ("r" * 20000)):
        answer = inputs.refresh_answer(200, body, token_field="access", server=server)
        assert answer.refresh_token is None and answer.ignored, body
    # it travels in a body, not a header: a character no header takes is no reason to keep the spent one
    answer = inputs.refresh_answer(200, '{"access": "a", "refresh": "r\\n2 \\u20ac"}', token_field="access", server=server)
    assert answer.refresh_token == "r\n2 \u20ac"


def test_a_server_is_described_without_subclassing():
    server = Server(refresh_token="body", encoding="form", refresh_field="rt", access_field="jwt", ended_words=("expired",),
                    extra={"app": "x"})
    assert dict(urllib.parse.parse_qsl(server.refresh_body("r1")[0])) == {"rt": "r1", "app": "x"}
    assert inputs.refresh_answer(418, '{"error": "expired"}', token_field="jwt", server=server).ended
    assert server.mode == "bearer"


@pytest.mark.parametrize(
    "options, named",
    [({"server": "keycloak"}, "unknown server preset"), ({"server": 5}, "server must be"),
     ({"server": "simplejwt", "mode": "cookie"}, "mode='bearer'"),
     ({"refresh_token_storage": "sessionStorage"}, "HttpOnly cookie"),
     ({"server": "simplejwt", "refresh_token_storage": "localStorage"}, "refresh_token_storage must be")],
)
def test_settings_that_cannot_work_are_refused_by_name(options, named):
    with pytest.raises(UsageError) as caught:
        AuthClient("/api", refresh_url="/api/token/refresh/", transport=FakeTransport(lambda sent: None), **options)
    assert named in str(caught.value)


def test_a_preset_sets_the_defaults_and_an_explicit_option_wins():
    api = AuthClient("/api", refresh_url="/api/r/", server="dj-rest-auth", transport=FakeTransport(lambda sent: None))
    assert (api.options.mode, api.options.csrf_cookie, api.options.csrf_header, api.options.token_field) == (
        "cookie", "csrftoken", "X-CSRFToken", "access")
    api = AuthClient("/api", refresh_url="/api/r2/", server="simplejwt", csrf_cookie="c", transport=FakeTransport(lambda sent: None))
    assert (api.options.mode, api.options.csrf_cookie, api.options.token_field) == ("bearer", "c", "access")


def test_every_preset_the_docs_name_exists_and_client_id_is_oauth2s_alone():
    root = pathlib.Path(__file__).resolve().parents[2]
    readme, guide = (root / "README.md").read_text(), (root / "docs/guides/servers.md").read_text()
    for name in PRESETS:
        assert f'"{name}"' in readme and f'"{name}"' in guide, name
    for name in ("simplejwt", "dj-rest-auth", "oauth2"):
        assert f'data-preset="{name}"' in guide, name  # the recipe for the one tag
    with pytest.raises(UsageError):
        Server.preset("simplejwt", client_id="x")


def test_two_clients_of_one_refresh_url_must_speak_to_the_same_server():
    transport = FakeTransport(lambda sent: None)
    AuthClient("/api", refresh_url="/api/r/", server="simplejwt", transport=transport)
    with pytest.raises(UsageError) as caught:
        AuthClient("/api", refresh_url="/api/r/", server="oauth2", mode="bearer", transport=transport)
    assert "conflicts" in str(caught.value)
