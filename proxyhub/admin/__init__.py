"""The admin site: health, Prometheus metrics and a live status dashboard over twisted.web."""
