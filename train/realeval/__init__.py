"""The real-music evaluation (``lyrebird eval real``): genuine-genre zero-shot, genre text
queries in four languages, similar tracks, excerpt identification and teacher agreement on a
manifest split, each beside its baselines with paired-bootstrap intervals.

Modules: :mod:`.queries` (the genre queries and their targets), :mod:`.degrade` (the excerpt
query pipeline), :mod:`.metrics` (array metrics), :mod:`.models` (model specs and baselines),
:mod:`.embed` (cached embedding), :mod:`.tasks` (the tasks), :mod:`.run` (the entry point and
the report).
"""

from lyrebird.train.realeval.run import format_markdown, format_table, run_real_eval

__all__ = ["format_markdown", "format_table", "run_real_eval"]
