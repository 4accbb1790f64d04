"""Twisted's stock proxies, the reference contenders of bench/ (run by bench/servers.py).

    python bench/stock_forward.py --port 8000                      # twisted.web.proxy.Proxy
    python bench/stock_forward.py --port 8000 --reverse HOST:PORT  # ReverseProxyResource
    python bench/stock_forward.py --port 8000 --relay HOST:PORT    # portforward byte relay

Nothing here is tuned: these are the stock classes as a user would wire them, with the
access log off (as proxyhub's is in the benchmark) so that logging is not what is measured.
"""

from __future__ import annotations

import argparse

from twisted.internet import endpoints, reactor
from twisted.protocols import portforward
from twisted.web import http, proxy, server


class QuietHTTPFactory(http.HTTPFactory):
    """An HTTPFactory that writes no access log."""

    def log(self, request: object) -> None:
        pass


class QuietSite(server.Site):
    def log(self, request: object) -> None:
        pass


def host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--reverse", metavar="HOST:PORT", type=host_port)
    mode.add_argument("--relay", metavar="HOST:PORT", type=host_port)
    args = parser.parse_args()

    factory: object
    if args.reverse:
        host, port = args.reverse
        factory = QuietSite(proxy.ReverseProxyResource(host, port, b""))
    elif args.relay:
        host, port = args.relay
        factory = portforward.ProxyFactory(host, port)
    else:
        factory = QuietHTTPFactory()
        factory.protocol = proxy.Proxy
    endpoint = endpoints.TCP4ServerEndpoint(reactor, args.port, backlog=1024, interface="127.0.0.1")
    endpoint.listen(factory)
    print(f"{type(reactor).__name__} listening on 127.0.0.1:{args.port}", flush=True)
    reactor.run()


if __name__ == "__main__":
    main()
