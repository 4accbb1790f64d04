"""Unit tests of proxyhub.cache."""
