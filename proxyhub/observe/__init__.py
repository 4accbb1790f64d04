"""Observability: access log records and formatters, fed by events from the protocols."""
