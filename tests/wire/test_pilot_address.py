"""The pilot page's address, as the server prints it and the desktop app shows it."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from teleop.wire.pilot import pilot_url, pilot_url_for_server


def test_the_token_goes_in_the_fragment_which_no_browser_sends_to_a_server():
    url = pilot_url(tls=False, host="192.168.1.20", port=8765, token="abc-DEF_123")
    assert url == "http://192.168.1.20:8765/pilot#token=abc-DEF_123"
    assert "token" not in urlsplit(url).path + urlsplit(url).query


def test_without_a_token_the_address_opens_the_page_to_watch():
    assert pilot_url(tls=True, host="robot.local", port=8765, token=None) == "https://robot.local:8765/pilot"
    assert pilot_url(tls=True, host="robot.local", port=8765, token="") == "https://robot.local:8765/pilot"


@pytest.mark.parametrize("token", ["a+b c", "x#y&z=1", "päss/wörd%"])
def test_a_token_with_any_characters_reads_back_as_the_page_reads_it(token):
    url = pilot_url(tls=False, host="10.0.0.2", port=1, token=token)
    fragment = urlsplit(url).fragment
    assert parse_qs(fragment) == {"token": [token]} and " " not in url and "+" not in fragment


def test_an_ipv6_address_is_bracketed_once():
    assert pilot_url(tls=False, host="fe80::1", port=8765, token=None) == "http://[fe80::1]:8765/pilot"
    assert pilot_url(tls=False, host="[fe80::1]", port=8765, token=None) == "http://[fe80::1]:8765/pilot"


def test_the_app_finds_the_page_of_the_server_it_is_connected_to():
    assert pilot_url_for_server("ws://192.168.1.20:8765", "t0k") == "http://192.168.1.20:8765/pilot#token=t0k"
    assert pilot_url_for_server("wss://robot.local:9000/", None) == "https://robot.local:9000/pilot"
    assert pilot_url_for_server("ws://[fe80::1]:8765", None) == "http://[fe80::1]:8765/pilot"


@pytest.mark.parametrize("bad", ["", "robot", "http://robot:8765", "ws://:8765", "ws://robot:99999", "ws://robot"])
def test_an_address_that_is_not_a_server_url_gives_no_page(bad):
    assert pilot_url_for_server(bad, "t") is None
