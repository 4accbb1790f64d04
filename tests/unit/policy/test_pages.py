"""Tests of proxyhub.policy.pages: the proxy's own error and redirect responses."""

from __future__ import annotations

from proxyhub.policy.pages import error_page


def _split(response: bytes) -> tuple[bytes, bytes]:
    head, _, body = response.partition(b"\r\n\r\n")
    return head, body


def test_error_page_is_a_complete_framed_response() -> None:
    """Status line, Content-Length of exactly the body, and the detail HTML-escaped."""
    page = error_page(502, "Cannot connect to <b>.", "proxyhub", close=False)
    head, body = _split(page)
    assert head.startswith(b"HTTP/1.1 502 Bad Gateway\r\n")
    assert b"Content-Length: %d\r\n" % len(body) in head + b"\r\n"
    assert b"Cannot connect to &lt;b&gt;." in body


def test_head_only_page_keeps_its_length_and_drops_its_body() -> None:
    """The answer to a HEAD ends at its head but announces the length a GET would get."""
    full = error_page(308, "Moved.", "proxyhub", close=True, location=b"https://a.test/")
    bare = error_page(
        308, "Moved.", "proxyhub", close=True, location=b"https://a.test/", head_only=True
    )
    head, body = _split(full)
    assert bare == head + b"\r\n\r\n"
    assert b"Location: https://a.test/" in head and b"Connection: close" in head
    assert body
