"""What the app's "Drive from a phone" code holds and what it tells the user beside it."""

from __future__ import annotations

import pytest

from teleop.desktop.models.pilot_link import TOKEN_NOTE, only_this_computer, pilot_link


def test_the_code_opens_the_connected_robots_pilot_page_with_the_token_and_says_so():
    link = pilot_link("ws://192.168.1.20:8765", "t0k3n")
    assert link.url == "http://192.168.1.20:8765/pilot#token=t0k3n"
    assert link.address == "http://192.168.1.20:8765/pilot" and link.has_token
    assert link.warnings == [TOKEN_NOTE] and "anyone who scans it can drive" in TOKEN_NOTE
    assert any("--tls auto" in note for note in link.hints), "plain http: what a phone cannot do there is said"


def test_over_tls_the_page_is_https_and_no_http_hint_is_given():
    link = pilot_link("wss://robot.local:8765", "t")
    assert link.url == "https://robot.local:8765/pilot#token=t"
    assert not any("--tls auto" in note for note in link.notes)


def test_without_a_token_the_code_only_watches_and_says_so():
    link = pilot_link("ws://10.0.0.5:8765", None)
    assert link.url == "http://10.0.0.5:8765/pilot" and not link.has_token
    assert link.warnings == [] and "watch only" in link.hints[0]


def test_not_connected_there_is_no_code_and_the_reason_is_given():
    link = pilot_link(None, "t")
    assert link.url is None and "Connect to a robot first" in link.problem


@pytest.mark.parametrize("server", ["ws://127.0.0.1:8765", "ws://localhost:8765", "ws://[::1]:8765"])
def test_a_loopback_address_is_warned_about_first_a_phone_cannot_open_it(server):
    link = pilot_link(server, "t")
    assert link.url is not None and "only this computer" in link.warnings[0] and link.warnings[1] == TOKEN_NOTE


def test_only_loopback_names_count_as_this_computer():
    assert only_this_computer("127.0.0.2") and only_this_computer("LOCALHOST") and only_this_computer("::1")
    assert not only_this_computer("192.168.1.20") and not only_this_computer("robot.local") and not only_this_computer("fe80::1")
