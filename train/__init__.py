"""Training (Lightning lives here and only here) and probe reports.

Nothing imports ``lyrebird.train`` except the CLI.
"""
