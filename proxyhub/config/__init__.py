"""The validated configuration: ``load_config(path)`` reads the INI file into frozen records.

Every problem of the file is reported at once in one :class:`ConfigError`; see
:mod:`proxyhub.config.loader` for the message format and :mod:`proxyhub.config.schema` for
the sections, keys and defaults.
"""

from proxyhub.config.loader import ConfigError, load_config, parse_config_text
from proxyhub.config.model import (
    Backend,
    Config,
    ForwardSettings,
    HostRoute,
    Network,
    ParentProxy,
    ProxyhubSettings,
    ReverseSettings,
)

__all__ = [
    "Backend",
    "Config",
    "ConfigError",
    "ForwardSettings",
    "HostRoute",
    "Network",
    "ParentProxy",
    "ProxyhubSettings",
    "ReverseSettings",
    "load_config",
    "parse_config_text",
]
