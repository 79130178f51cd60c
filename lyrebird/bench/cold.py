"""``lyrebird bench cold``: a new user's first query from the command line, in fresh processes.

Each candidate is a whole ``lyrebird search`` / ``lyrebird similar`` process (interpreter start,
imports, model load, query, printing), run round-robin so machine noise hits them alike:

* ``search``: the text query as shipped (NumPy query tower and tag head: no torch import)
  against the previous path (``LYREBIRD_NUMPY_TEXT=0``: torch, the memory-mapped backbone);
* ``similar FILE`` for a file the library holds (its stored vectors: no audio model) against
  the same audio copied to a new file name and content (a file the library does not hold: the
  audio tower embeds it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from lyrebird.bench.timing import interleaved_medians

TARGETS = {"search": 2.0, "similar": 3.0}  # seconds (issue #26)


def _cli(*args: str, env: dict[str, str] | None = None) -> None:
    cmd = [sys.executable, "-c", "from lyrebird.cli import main; main()", *args]
    res = subprocess.run(cmd, env={**os.environ, **(env or {})}, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"lyrebird {' '.join(args)} failed: {res.stderr.strip()[-500:]}")


def bench_cold(library: str | os.PathLike, query: str = "calm piano",
               file: str | os.PathLike | None = None, repeats: int = 5) -> dict:
    """Median seconds of each cold command over ``repeats`` alternated rounds (one warm-up
    round fills the OS file cache, as any second run of a user's would). ``file``: a file the
    library holds (default: its first track). Returns ``{"search": {...}, "similar": {...}}``
    with the candidates' seconds, the ratio and the target."""
    from lyrebird.index import Library

    lib = str(library)
    if file is None:
        with Library.open(lib, readonly=True) as opened:
            tracks = opened.tracks()
        if not tracks:
            raise ValueError(f"'{lib}' holds no tracks; add some first")
        file = tracks[0].path
    with tempfile.TemporaryDirectory() as tmp:
        other = Path(tmp) / ("new-" + Path(file).name)
        shutil.copyfile(file, other)
        with open(other, "ab") as f:  # another content hash, the same audio
            f.write(b"\0" * 16)
        if other.suffix.lower() not in (".wav", ".flac", ".ogg", ".mp3", ".opus", ".m4a"):
            raise ValueError(f"'{file}': expected an audio file the library holds")
        t = interleaved_medians({
            "search": lambda: _cli("search", lib, query, "-k", "10"),
            "search, torch text path": lambda: _cli("search", lib, query, "-k", "10",
                                                   env={"LYREBIRD_NUMPY_TEXT": "0"}),
            "similar, held file": lambda: _cli("similar", lib, str(file), "-k", "10"),
            "similar, new file": lambda: _cli("similar", lib, str(other), "-k", "10"),
        }, repeats=repeats)
    return {"search": {"now": t["search"], "before": t["search, torch text path"],
                       "target": TARGETS["search"]},
            "similar": {"held": t["similar, held file"], "new": t["similar, new file"],
                        "target": TARGETS["similar"]},
            "repeats": repeats, "load": os.getloadavg()[0]}


def format_cold(rep: dict) -> str:
    """The report as a small table."""
    s, m = rep["search"], rep["similar"]
    return "\n".join([
        f"cold CLI, median of {rep['repeats']} alternated rounds (load {rep['load']:.1f})",
        f"  search:  {s['now']:.2f} s  (torch text path {s['before']:.2f} s, "
        f"{s['before'] / s['now']:.1f}× faster; target ≤ {s['target']:g} s: "
        f"{'met' if s['now'] <= s['target'] else 'NOT met'})",
        f"  similar: {m['held']:.2f} s for a file the library holds, {m['new']:.2f} s for a new "
        f"file (target ≤ {m['target']:g} s: held {'met' if m['held'] <= m['target'] else 'NOT met'}"
        f", new {'met' if m['new'] <= m['target'] else 'NOT met'})"])
