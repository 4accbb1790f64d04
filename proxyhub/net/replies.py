"""What the proxy answers by itself: refusals, and the reply that stands in for an exchange."""

from __future__ import annotations

from dataclasses import dataclass

from ..policy.pages import Fields


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a request is answered by the proxy instead of being forwarded."""

    status: int
    reason: str
    location: bytes | None = None
    fields: Fields = ()


class LocalReply:
    """A request answered by the proxy itself (refusals and errors)."""

    def __init__(self, status: int) -> None:
        self.status = status
        self.finished = False

    def request_body(self, data: bytes) -> None:
        pass

    def client_lost(self) -> None:
        self.finished = True
