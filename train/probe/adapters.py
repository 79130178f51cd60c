"""Real-benchmark adapters (filled in below)."""
ADAPTERS: dict = {}
