"""Sans-I/O readers for non-HTTP wire formats: the SOCKS handshake and the TLS ClientHello.

:class:`SocksServer` negotiates SOCKS4, SOCKS4a and SOCKS5 for the SOCKS listener;
:func:`read_client_hello` finds the server name a tunnel's client asked TLS for.
No Twisted imports: bytes in, events and results out.
"""

from .client_hello import NEED_MORE, Hello, NeedMore, NotTLS, read_client_hello
from .socks import (
    ConnectRequest,
    Event,
    NeedAuth,
    Reject,
    ReplyCode,
    Send,
    SocksServer,
    SocksUsageError,
)

__all__ = [
    "NEED_MORE",
    "ConnectRequest",
    "Event",
    "Hello",
    "NeedAuth",
    "NeedMore",
    "NotTLS",
    "Reject",
    "ReplyCode",
    "Send",
    "SocksServer",
    "SocksUsageError",
    "read_client_hello",
]
