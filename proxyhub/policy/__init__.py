"""Pure policy: decisions over configuration and parsed heads, with no I/O.

Every module here is plain functions and small objects, cheap enough for the
hot path and unit-testable without sockets or a reactor.
"""
