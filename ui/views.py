"""HTML fragments for the app: result cards with players, tag bars, stats and add reports.

Everything taken from a library or a user is escaped. Players point at the app's own route
``/lyrebird/audio/<track id>``, which serves library files by id only, with a media fragment
(``#t=<seconds>``) so that playback starts at the matched segment.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

AUDIO_ROUTE = "/lyrebird/audio"
CSS = """
.lb-card {display:flex; flex-direction:column; gap:4px; padding:8px 10px;
          border:1px solid var(--border-color-primary); border-radius:8px}
.lb-title {font-weight:600}
.lb-meta {font-size:0.85em; opacity:0.8}
.lb-tag {display:inline-block; font-size:0.8em; padding:1px 6px; margin:1px 2px;
         border-radius:10px; background:var(--background-fill-secondary)}
.lb-card audio {width:100%; height:36px}
.lb-bars {display:flex; flex-direction:column; gap:3px}
.lb-bar-row, .lb-bar-head {display:grid; grid-template-columns:12em 1fr 7em; align-items:center;
                           gap:8px}
.lb-bar-head {font-size:0.8em; opacity:0.7}
.lb-bar-track {background:var(--background-fill-secondary); border-radius:4px; height:14px}
.lb-bar {background:var(--color-accent); border-radius:4px; height:14px}
.lb-error {color:var(--error-text-color, #b91c1c)}
.lb-playlist li {display:grid; grid-template-columns:1fr 18em; gap:8px; align-items:center}
.lb-playlist audio {width:100%; height:30px}
"""


def _fmt_time(s: float) -> str:
    m, sec = divmod(max(0.0, float(s)), 60.0)
    return f"{int(m)}:{sec:04.1f}"


def _clock(s: float) -> str:
    """A length in whole seconds: ``30.0`` → ``"0:30"``."""
    m, sec = divmod(max(0, round(float(s))), 60)
    return f"{m}:{sec:02d}"


def number(v: float, digits: int = 3) -> str:
    """``v`` rounded to ``digits`` decimals, never a negative zero (``-0.0001`` → ``"0.000"``)."""
    text = f"{float(v):.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def hit_card(hit: dict, rank: int) -> str:
    """One result: rank, title or file name, score, matched segment, licence, tag chips and
    a player.

    ``hit`` is a service result: ``Hit.to_dict()`` (track_id, path, score, start_s/end_s in
    seconds, title, artist) with ``chips`` (merged, calibrated tags; see
    :mod:`lyrebird.ui.tag_chips`), ``more_of_work`` (results of the same work left out) and
    ``licence`` (from the file's tags, when it has one).
    """
    name = hit.get("title") or Path(hit["path"]).name
    artist = f" — {escape(hit['artist'])}" if hit.get("artist") else ""
    chips = "".join(f'<span class="lb-tag">{escape(str(t))}</span>'
                    for t in hit.get("chips") or [])
    more = int(hit.get("more_of_work") or 0)
    more_note = (f' · <span class="lb-more-work">+{more} more from this work</span>'
                 if more else "")
    licence = (f' · <span class="lb-licence">licence {escape(str(hit["licence"]))}</span>'
               if hit.get("licence") else "")
    start, end = float(hit.get("start_s", 0.0)), float(hit.get("end_s", 0.0))
    tid = int(hit["track_id"])
    return (f'<div class="lb-card" data-track-id="{tid}" data-start="{start:.2f}">'
            f'<div class="lb-title">{rank}. {escape(str(name))}{artist}</div>'
            f'<div class="lb-meta">score {float(hit["score"]):.3f} · best segment '
            f'{_fmt_time(start)}–{_fmt_time(end)} · {escape(Path(hit["path"]).name)}'
            f'{licence} · #{tid}{more_note}</div>'
            f'<div class="lb-chips">{chips}</div>'
            f'<audio controls preload="metadata" src="{AUDIO_ROUTE}/{tid}#t={start:.2f}">'
            f'</audio></div>')


def playlist_list(items: list[dict]) -> str:
    """A playlist as a numbered list with a small player per track (nothing preloaded)."""
    if not items:
        return "<p>No tracks.</p>"
    rows = []
    for it in items:
        name = it.get("title") or Path(it["path"]).name
        artist = f" — {escape(it['artist'])}" if it.get("artist") else ""
        tid = int(it["track_id"])
        rows.append(f'<li class="lb-pl-item" data-track-id="{tid}"><span>{escape(str(name))}'
                    f'{artist} <small>length {_clock(it.get("duration_s", 0.0))} · '
                    f'match {number(it["score"], 2)}</small></span>'
                    f'<audio controls preload="none" src="{AUDIO_ROUTE}/{tid}"></audio></li>')
    return f'<ol class="lb-playlist">{"".join(rows)}</ol>'


def map_frame(height_px: int = 640) -> str:
    """The music map (``/lyrebird/map``, :mod:`lyrebird.ui.music_map`) in an iframe."""
    return (f'<iframe id="lb-map-frame" src="/lyrebird/map" title="Music map" loading="lazy" '
            f'style="width:100%;height:{height_px}px;border:1px solid '
            f'var(--border-color-primary);border-radius:8px"></iframe>')


def tag_bars(scores: dict[str, float], top: int = 50) -> str:
    """Horizontal bars of zero-shot scores (cosine similarity), best first, scaled to the
    range, under a header naming the columns; each number labelled ``match`` (no ``-0.000``)."""
    items = list(scores.items())[:top]
    if not items:
        return "<p>No tags.</p>"
    vals = [v for _, v in items]
    lo, hi = min(vals), max(vals)
    span = hi - lo if hi > lo else 1.0
    rows = ['<div class="lb-bar-head"><span>tag</span><span>relative to the best tag</span>'
            '<span>match (cosine)</span></div>']
    for tag, v in items:
        width = 5 + 95 * (v - lo) / span
        rows.append(f'<div class="lb-bar-row" data-tag="{escape(tag)}" data-score="{v:.4f}">'
                    f'<span>{escape(tag)}</span><div class="lb-bar-track">'
                    f'<div class="lb-bar" style="width:{width:.1f}%"></div></div>'
                    f'<span title="cosine similarity of the clip and the tag\'s prompt">'
                    f'match {number(v)}</span></div>')
    return f'<div class="lb-bars">{"".join(rows)}</div>'


def stats_table(info: dict) -> str:
    """Library stats as a small table: tracks, hours, segments, index kinds, model, memory."""
    idx = info.get("index", {})
    rows = [("Tracks", f"{info.get('tracks', 0):,}"),
            ("Hours", f"{info.get('hours', 0.0):.2f}"),
            ("Segments", f"{info.get('segments', 0):,}"),
            ("Index", f"tracks: {idx.get('tracks', '?')}, segments: {idx.get('segments', '?')}"),
            ("Model", str(info.get("model"))),
            ("Fingerprint", str(info.get("fingerprint", ""))[:16]),
            ("Memory per track", f"{info.get('memory_per_track_bytes', 0) / 1024:.1f} KiB"),
            ("Path", str(info.get("path")))]
    body = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)
    return f'<table class="lb-stats">{body}</table>'


def add_report(rep: dict) -> str:
    """The outcome of "add folder": counts, then one line per failed file with its reason."""
    fails = rep.get("failed", [])
    head = (f"<p>Added {len(rep.get('added', []))} · duplicates skipped "
            f"{len(rep.get('duplicates', []))} · failed {len(fails)}</p>")
    if not fails:
        return head
    items = "".join(f'<li class="lb-error"><code>{escape(f["path"])}</code>: '
                    f'{escape(f["reason"])}</li>' for f in fails)
    return head + f"<ul>{items}</ul>"


def message(text: str, error: bool = False) -> str:
    """A one-line note (escaped)."""
    return f'<p class="{"lb-error" if error else ""}">{escape(text)}</p>'
