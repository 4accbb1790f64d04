"""twistd plugin: ``twistd proxyhub --config etc/proxy.ini``.

Kept import-light on purpose: Twisted scans every plugin module whenever any
``twistd`` command runs, so nothing of proxyhub is imported until
``makeService`` is actually called.
"""

from __future__ import annotations

from typing import Any

from twisted.application.service import IServiceMaker
from twisted.plugin import IPlugin
from twisted.python import usage
from zope.interface import implementer


class Options(usage.Options):
    optParameters = [["config", "c", "etc/proxy.ini", "Path to the proxyhub INI file."]]


@implementer(IServiceMaker, IPlugin)
class ProxyhubServiceMaker:
    tapname = "proxyhub"
    description = "Forward proxy, CONNECT tunnels and reverse proxy from one INI file."
    options = Options

    def makeService(self, options: Any) -> Any:
        from proxyhub.service import make_service

        return make_service(options["config"])


serviceMaker = ProxyhubServiceMaker()
