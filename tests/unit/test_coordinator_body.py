"""The coordinator where the refresh token travels in the body (Simple JWT, OAuth 2.0): it holds
the token, sends it in StartRefresh, takes a rotated one, never sends a spent one, and reads
the server's words (servers.py, through inputs.refresh_answer) into terminal / no-session.

Commands as tuples, as in test_coordinator.py; here StartRefresh shows the token it carries.
"""

import pytest

from authfetch import inputs
from authfetch.coordinator import ASK_WAIT, ENDED, FAIL, LIVE, MESSAGE_WAIT, NO_SESSION, RENEWING_WAIT, OPEN, PAUSED, REPLAY, SESSION_EXPIRED
from authfetch.servers import Server

from tests.unit import test_coordinator as by_hand


def make(**options):
    options.setdefault("requires_token", True)
    options.setdefault("carries_refresh", True)
    return by_hand.make(**options)


def described(commands):
    out = []
    for command in commands:
        kind = command.kind
        if kind == "gate":
            out.append(("gate", command.state, command.generation, command.token))
        elif kind == "start-refresh":
            out.append(("start-refresh", command.epoch, command.refresh_token))
        elif kind == "verdict":
            out.append(("verdict", command.ident, command.what, command.reason))
        elif kind == "emit":
            out.append(("emit", command.name))
        elif kind == "announce":
            out.append(("announce", command.what, command.token, command.refresh_token))
        elif kind == "keep":
            out.append(("keep", command.refresh_token))
        elif kind == "wait-for-tabs":
            out.append(("wait-for-tabs", command.delay))
        elif kind == "known":
            out.append(("known", command.marker))
        else:
            out.append((kind,))
    return out


def signed_in(c, token="a1", refresh="r1"):
    return described(c.signed_in(0.0, token=token, refresh_token=refresh))


def answer(status, body, server="simplejwt"):
    return inputs.refresh_answer(status, body, token_field=Server.preset(server).access_field if isinstance(server, str) else server.access_field,
                                 server=Server.preset(server) if isinstance(server, str) else server)


def test_a_sign_in_hands_over_the_refresh_token_and_the_refresh_sends_it():
    c = make()
    assert ("keep", "r1") in signed_in(c)
    commands = described(c.answered(1, 1, 1.0, replayed=False, replayable=True, seen=1))
    assert ("start-refresh", 1, "r1") in commands and commands[-1][:2] == ("gate", PAUSED)


def test_a_rotated_refresh_token_replaces_the_spent_one_and_is_the_next_one_sent():
    c = make()
    signed_in(c)
    c.answered(1, 1, 1.0, replayed=False, replayable=True, seen=1)
    commands = described(c.refresh_answered(2.0, answer(200, '{"access": "a2", "refresh": "r2"}'), epoch=1, call=1))
    assert ("keep", "r2") in commands and commands[-1] == ("gate", OPEN, 2, "a2")
    assert c.refresh_token == "r2"
    commands = described(c.answered(2, 2, 3.0, replayed=False, replayable=True, seen=2))
    assert ("start-refresh", 1, "r2") in commands  # never r1 again


def test_an_answer_without_a_rotated_token_keeps_the_one_sent():
    c = make()
    signed_in(c)
    c.answered(1, 1, 1.0, replayed=False, replayable=True, seen=1)
    commands = described(c.refresh_answered(2.0, answer(200, '{"access": "a2"}'), epoch=1, call=1))
    assert not [cmd for cmd in commands if cmd[0] == "keep"] and c.refresh_token == "r1"


def test_no_refresh_token_means_no_session_and_nothing_is_sent():
    c = make()
    commands = described(c.answered(1, 0, 1.0, replayed=False, replayable=True, seen=1))
    assert not [cmd for cmd in commands if cmd[0] == "start-refresh"]
    assert ("verdict", 1, FAIL, SESSION_EXPIRED) in commands and ("emit", NO_SESSION) in commands
    assert commands[-1][:2] == ("gate", ENDED) and c.stats.refreshes == 0


@pytest.mark.parametrize(
    "server, status, body, ended",
    [("simplejwt", 401, '{"detail": "Token is blacklisted", "code": "token_not_valid"}', SESSION_EXPIRED),
     ("simplejwt", 400, '{"refresh": ["This field may not be blank."]}', SESSION_EXPIRED),
     ("oauth2", 400, '{"error": "invalid_grant"}', SESSION_EXPIRED),
     ("oauth2", 409, '{"error": "invalid_grant"}', SESSION_EXPIRED)],  # the word ends it whatever the status
)
def test_the_servers_words_for_a_spent_token_end_the_session(server, status, body, ended):
    c = make()
    signed_in(c)
    c.answered(1, 1, 1.0, replayed=False, replayable=True, seen=1)
    commands = described(c.refresh_answered(2.0, answer(status, body, server), epoch=1, call=1))
    assert ("emit", ended) in commands and ("keep", None) in commands and commands[-1][:2] == ("gate", ENDED)
    assert c.refresh_token is None


def test_a_5xx_is_retried_with_the_same_token():
    c = make()
    signed_in(c)
    c.answered(1, 1, 1.0, replayed=False, replayable=True, seen=1)
    commands = described(c.refresh_answered(2.0, answer(503, '{"detail": "down"}'), epoch=1, call=1))
    assert commands[0] == ("retry-refresh",) and c.session == LIVE
    c.call_ended(2.0, 1)
    assert ("start-refresh", 1, "r1") in described(c.retry_refresh(3.0, epoch=1))


def test_dj_rest_auth_says_no_session_in_its_own_words_whatever_the_cookies_say():
    server = Server.preset("dj-rest-auth")
    c = by_hand.make()
    c.answered(1, 0, 1.0, replayed=False, replayable=True, seen=1)
    # as dj-rest-auth 7.2 answers it (its words, and Simple JWT's code beside them)
    none = inputs.refresh_answer(401, '{"detail": "No valid refresh token found.", "code": "token_not_valid"}', token_field="access", server=server)
    # seen=True: a csrftoken cookie is there (Django's outlives a sign-out): the words win
    assert ("emit", NO_SESSION) in described(c.refresh_answered(2.0, none, epoch=0, call=1, seen=True))
    c = by_hand.make()
    c.answered(1, 0, 1.0, replayed=False, replayable=True, seen=1)
    spent = inputs.refresh_answer(401, '{"detail": "Token is blacklisted", "code": "token_not_valid"}', token_field="access", server=server)
    assert ("emit", SESSION_EXPIRED) in described(c.refresh_answered(2.0, spent, epoch=0, call=1, seen=False))


# -- tabs sharing the one refresh token (share_token=True) --------------------------------------


def test_a_tab_without_a_token_asks_the_others_and_adopts_what_one_shares():
    c = make(cross_tab=True)
    commands = described(c.answered(1, 0, 1.0, replayed=False, replayable=True, seen=1))
    assert ("announce", "ask", None, None) in commands and ("wait-for-tabs", ASK_WAIT) in commands
    assert ("verdict", 1, REPLAY, None) in commands and commands[-1][:2] == ("gate", PAUSED)
    marker = {"n": 4, "lifetime": None, "tab": "t"}
    commands = described(c.remote(1.1, "share", token="a9", refresh_token="r9", fresh=True, marker=marker))
    assert ("keep", "r9") in commands and ("known", marker) in commands and commands[-1] == ("gate", OPEN, 1, "a9")
    assert described(c.tabs_silent(1.6, epoch=0, wait=1)) == [("gate", OPEN, 1, "a9")]  # the round is over: its wait ends nothing


def test_a_tab_asked_shares_only_tokens_that_are_not_about_to_rotate():
    c = make(cross_tab=True)
    signed_in(c)
    assert described(c.remote(1.0, "ask"))[0] == ("announce", "share", "a1", "r1")
    c.answered(1, 1, 1.0, replayed=False, replayable=True, seen=1)  # its refresh runs: r1 is being spent
    assert described(c.remote(1.1, "ask")) == [("announce", "renewing", None, None), ("gate", PAUSED, 1, "a1")]


def test_a_tab_asked_mid_renewal_says_so_and_the_asker_waits_for_the_renewals_tokens():
    asker = make(cross_tab=True)
    asker.answered(1, 0, 1.0, replayed=False, replayable=True, seen=1)
    holder = make(cross_tab=True)
    signed_in(holder)
    holder.answered(1, 1, 1.0, replayed=False, replayable=True, seen=1)
    assert described(holder.remote(1.1, "ask"))[0] == ("announce", "renewing", None, None)
    assert described(asker.remote(1.1, "renewing"))[0] == ("wait-for-tabs", RENEWING_WAIT)
    # the ask's own wait runs out first: superseded, it ends nothing
    assert described(asker.tabs_silent(1.5, epoch=0, wait=1)) == [("gate", PAUSED, 0, None)]
    assert ("keep", "r2") in described(asker.remote(1.4, "refreshed", token="a2", refresh_token="r2", fresh=True))
    assert asker.session == LIVE and asker.token == "a2"


def test_no_answer_to_an_ask_is_no_session():
    c = make(cross_tab=True)
    c.answered(1, 0, 1.0, replayed=False, replayable=True, seen=1)
    commands = described(c.tabs_silent(1.5, epoch=0))
    assert ("emit", NO_SESSION) in commands and commands[-1][:2] == ("gate", ENDED)


def test_a_tab_that_finds_another_renewed_waits_for_its_tokens_and_never_sends_the_spent_one():
    c = make(cross_tab=True)
    signed_in(c)
    c.answered(1, 1, 1.0, replayed=False, replayable=True, seen=1)
    commands = described(c.lock_acquired(1.2, epoch=1, renewed_elsewhere=True))
    assert commands == [("wait-for-tabs", MESSAGE_WAIT), ("gate", PAUSED, 1, "a1")]
    commands = described(c.remote(1.3, "refreshed", token="a2", refresh_token="r2", fresh=True))
    assert ("keep", "r2") in commands and commands[-1] == ("gate", OPEN, 2, "a2")
    assert not [cmd for cmd in commands if cmd[0] == "start-refresh"]


def test_if_the_renewals_tokens_never_come_the_spent_token_is_dropped_and_the_tabs_asked_once():
    c = make(cross_tab=True)
    signed_in(c)
    c.answered(1, 1, 1.0, replayed=False, replayable=True, seen=1)
    c.lock_acquired(1.2, epoch=1, renewed_elsewhere=True)
    commands = described(c.tabs_silent(3.2, epoch=1, wait=1))
    assert commands == [("keep", None), ("announce", "ask", None, None), ("wait-for-tabs", ASK_WAIT), ("gate", PAUSED, 1, "a1")]
    commands = described(c.tabs_silent(3.7, epoch=1, wait=2))  # nobody shares: over, and said once
    assert ("emit", SESSION_EXPIRED) in commands and commands[-1][:2] == ("gate", ENDED)
    assert c.refresh_token is None and c.stats.refreshes == 1  # the spent token never went out


def test_a_rotation_on_a_stale_call_is_still_taken_so_the_spent_token_is_not_sent_next():
    c = make()
    signed_in(c)
    c.answered(1, 1, 1.0, replayed=False, replayable=True, seen=1)  # call 1 carries r1
    c.faulted(1.1, error="injected", calls_out=[1])  # the round ends; call 1 is still on the wire
    assert ("start-refresh",) not in [cmd[:1] for cmd in described(c.answered(2, 1, 1.2, replayed=False, replayable=True, seen=2))]
    commands = described(c.refresh_answered(1.5, answer(200, '{"access": "a2", "refresh": "r2"}'), epoch=1, call=1))
    assert ("keep", "r2") in commands and ("start-refresh", 2, "r2") in commands  # the waiting round sends r2, not r1


def test_hostile_messages_cannot_hold_a_round_or_force_a_session_on_a_tab():
    c = make(cross_tab=True)
    c.answered(1, 0, 1.0, replayed=False, replayable=True, seen=1)  # asking
    assert described(c.remote(1.1, "renewing"))[0] == ("wait-for-tabs", RENEWING_WAIT)
    for at in (1.2, 1.3, 1.4):  # a stream of them re-arms nothing
        assert described(c.remote(at, "renewing")) == [("gate", PAUSED, 0, None)]
    assert ("emit", NO_SESSION) in described(c.tabs_silent(3.2, epoch=0, wait=2))
    # ended: a share (an answer to someone else's ask) or a renewal does not bring it back
    assert described(c.remote(4.0, "share", token="aX", refresh_token="rX", fresh=True))[-1][:2] == ("gate", ENDED)
    assert described(c.remote(4.1, "refreshed", token="aX", refresh_token="rX", fresh=True))[-1][:2] == ("gate", ENDED)
    assert c.refresh_token is None


def test_a_renewal_message_while_this_tabs_own_call_is_out_is_not_taken():
    c = make(cross_tab=True)
    signed_in(c)
    c.answered(1, 1, 1.0, replayed=False, replayable=True, seen=1)
    c.lock_acquired(1.1, epoch=1)  # call 1 with r1, under the lock
    assert described(c.remote(1.2, "refreshed", token="aX", refresh_token="rX", fresh=True)) == [("gate", PAUSED, 1, "a1")]
    commands = described(c.refresh_answered(1.5, answer(200, '{"access": "a2", "refresh": "r2"}'), epoch=1, call=1))
    assert c.refresh_token == "r2" and commands[-1] == ("gate", OPEN, 2, "a2")


def test_a_share_never_replaces_a_token_this_tab_has():
    c = make(cross_tab=True)
    signed_in(c, refresh="r5")
    assert described(c.remote(1.0, "share", token="a4", refresh_token="r4", fresh=True)) == [("gate", OPEN, 1, "a1")]
    assert c.refresh_token == "r5"


def test_a_sign_in_in_another_tab_brings_its_tokens():
    c = make(cross_tab=True)
    commands = described(c.remote(1.0, "signed-in", token="a1", refresh_token="r1", fresh=True))
    assert ("keep", "r1") in commands and commands[-1] == ("gate", OPEN, 1, "a1")


def test_a_renewal_is_announced_with_its_rotated_token():
    c = make(cross_tab=True)
    signed_in(c)
    c.answered(1, 1, 1.0, replayed=False, replayable=True, seen=1)
    c.lock_acquired(1.1, epoch=1)
    commands = described(c.refresh_answered(2.0, answer(200, '{"access": "a2", "refresh": "r2"}'), epoch=1, call=1))
    assert ("announce", "refreshed", "a2", "r2") in commands


def test_a_rotation_in_an_answer_without_a_usable_access_token_is_taken_and_told():
    c = make(cross_tab=True)
    signed_in(c)
    c.answered(1, 1, 1.0, replayed=False, replayable=True, seen=1)
    c.lock_acquired(1.1, epoch=1)
    commands = described(c.refresh_answered(2.0, answer(200, '{"access": "bad\\ntoken", "refresh": "r2"}'), epoch=1, call=1))
    assert commands[:2] == [("keep", "r2"), ("announce", "refreshed", "a1", "r2")]  # the tabs sharing r1 must not send it
    assert commands[2] == ("retry-refresh",)
    c.call_ended(2.0, 1)
    c.retry_refresh(3.0, epoch=1)
    assert ("start-refresh", 1, "r2") in described(c.lock_acquired(3.1, epoch=1))  # the retry sends r2, never r1


def test_a_tab_that_said_renewing_and_gives_up_shares_what_it_has():
    c = make(cross_tab=True, refresh_retries=0)
    signed_in(c)
    c.answered(1, 1, 1.0, replayed=False, replayable=True, seen=1)
    assert described(c.remote(1.05, "ask"))[0] == ("announce", "renewing", None, None)
    c.lock_acquired(1.1, epoch=1)
    commands = described(c.refresh_answered(2.0, answer(503, '{"detail": "down"}'), epoch=1, call=1))
    assert commands[0] == ("announce", "share", "a1", "r1") and ("emit", "refresh-failed") in commands


def test_a_tab_whose_stale_call_is_still_out_says_renewing_not_share():
    c = make(cross_tab=True)
    signed_in(c)
    c.answered(1, 1, 1.0, replayed=False, replayable=True, seen=1)
    assert ("start-refresh", 1, "r1") in described(c.lock_acquired(1.05, epoch=1))
    c.faulted(1.1, error="injected", calls_out=[1])  # the round is over; call 1 (with r1) is still out
    assert described(c.remote(1.2, "ask"))[0] == ("announce", "renewing", None, None)
    commands = described(c.refresh_answered(1.5, answer(200, '{"access": "a2", "refresh": "r2"}'), epoch=1, call=1))
    assert commands[:2] == [("keep", "r2"), ("announce", "refreshed", "a1", "r2")]
