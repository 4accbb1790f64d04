"""Tests for the sans-I/O SOCKS and TLS ClientHello readers."""
