"""Unit tests of proxyhub.config: units, the INI reader, the loader and the CLI."""
