"""Tests for proxyhub."""
