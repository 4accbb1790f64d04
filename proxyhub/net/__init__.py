"""The Twisted layer: listeners, downstream and upstream protocols, pool, tunnels.

Everything that owns a socket or a timer lives here; the reactor and clock are
passed in, never imported, so each piece runs under ``MemoryReactorClock``.
"""
