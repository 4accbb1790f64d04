"""proxyhub: a Twisted multi-protocol proxy server.

Layers, from the inside out: ``proxyhub.http`` (sans-I/O HTTP/1.1 wire layer),
``proxyhub.config`` (validated INI model), ``proxyhub.policy`` (pure decisions),
``proxyhub.net`` (the Twisted protocols), ``proxyhub.observe`` (access log) and
``proxyhub.service`` (wiring for twistd).
"""

__version__ = "0.1.0"
