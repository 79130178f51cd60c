"""Benchmarks behind ``lyrebird bench <what>``: speed ratios measured side by side in one run."""
