"""Splits of the real-recording corpus by artist and package, so test artists are unseen.

**Groups.** Tracks are nodes of a graph joined through their names:

* every artist and composer name of a track (split on ``&``, ``,``, `` and ``, ``feat.``,
  ``aka``, ``/``; parenthesised or quoted parts are aliases, so "Chris Leutwyler (Krobonil)"
  names ``chris leutwyler`` and ``krobonil``; case, accents, URLs and e-mail addresses
  ignored) joins the track to ``artist:<name>``;
* when any track of a package has no artist or composer, its author is unknown and may be
  any of the package's artists, so every track of that package joins ``package:<package>``
  and the package moves as a whole (package-level holdout); packages whose tracks all name
  their artists are split by artist;
* a known name (at least 6 letters) that appears in a track's own text (module messages and
  sample names, e.g. "written and tracked by joseph toscano") joins it to that artist too.

A connected component is one group, the ``work_id``. No artist can be in two groups, so no
artist is in two splits.

**Assignment.** Groups are ordered by a seeded hash and each goes to the split that would be
least full relative to its share of the hours (80/10/10 by default) after taking it; ``holdout_packages`` put every group touching
those packages into test first.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping

from lyrebird.core.fingerprint import stable_hash

_SPLIT_NAMES = re.compile(r"\s*(?:&|,|;|/|\+|\band\b|\bfeat\.?|\bft\.|\baka\b|\bvs\.?|"
                          r"\bwith\b)\s*", re.IGNORECASE)
_ALIAS = re.compile(r"\(([^)]*)\)|\[([^\]]*)\]|\"([^\"]*)\"")
_NOISE = re.compile(r"(?i)(https?://\S+|www\.\S+|\S+@\S+|<[^>]*>|\bcopyright\b|\(c\)|©|"
                    r"\b(composed|performed|written|arranged|tracked|produced|remixed|music|"
                    r"by|from)\b|\b\d{4}\b)")


def _fold(text: str) -> str:
    t = unicodedata.normalize("NFKD", text)
    t = "".join(c for c in t if not unicodedata.combining(c)).lower()
    t = re.sub(r"(?<=[a-z])0|0(?=[a-z])", "o", t)  # "0zone0ne" = "ozoneone"
    return re.sub(r"[^a-z0-9]+", " ", t).strip()


def name_keys(text: str | None) -> list[str]:
    """Normalised person/band names in an artist or composer field (empty when none)."""
    if not text:
        return []
    text = _NOISE.sub(" ", text)
    aliases = [a for m in _ALIAS.findall(text) for a in m if a]
    keys = []
    for part in _SPLIT_NAMES.split(_ALIAS.sub(" ", text)) + [
            p for a in aliases for p in _SPLIT_NAMES.split(a)]:
        k = _fold(part)
        if k and len(k) >= 2 and not k.isdigit() and k not in keys:
            keys.append(k)
    return keys


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            lo, hi = sorted((ra, rb))
            self.parent[hi] = lo


def artist_groups(tracks: Mapping[str, Mapping[str, object]]) -> dict[str, str]:
    """Track id → group id (``work_id``) for tracks with ``package``, ``artist``,
    ``composer`` and optional ``text`` (a track's own free text, e.g. module sample names).

    The group id is the smallest node name of the component, e.g. ``artist:muldjord`` or
    ``package:ironseed-data``.
    """
    uf = _UnionFind()
    names = {tid: name_keys(str(t.get("artist") or "")) + name_keys(str(t.get("composer") or ""))
             for tid, t in tracks.items()}
    anonymous = {t["package"] for tid, t in tracks.items() if not names[tid]}
    for tid, t in tracks.items():
        node = f"track:{tid}"
        uf.find(node)
        for k in names[tid]:
            uf.union(node, f"artist:{k}")
        if t["package"] in anonymous:  # an unknown author may be any of the package's
            uf.union(node, f"package:{t['package']}")
    known = sorted({k for ks in names.values() for k in ks if len(k.replace(" ", "")) >= 6})
    for tid, t in tracks.items():
        text = _fold(str(t.get("text") or ""))
        if not text:
            continue
        padded = f" {text} "
        for k in known:
            if f" {k} " in padded:
                uf.union(f"track:{tid}", f"artist:{k}")
    comp_min: dict[str, str] = {}
    for node in list(uf.parent):
        if node.startswith(("artist:", "package:")):
            r = uf.find(node)
            comp_min[r] = min(comp_min.get(r, node), node)
    out = {}
    for tid in tracks:
        r = uf.find(f"track:{tid}")
        out[tid] = comp_min.get(r, f"track:{tid}")
    return out


def assign_group_splits(group_hours: Mapping[str, float], seed: int = 0,
                        fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
                        forced_test: Iterable[str] = ()) -> dict[str, str]:
    """Group → split: each group (in seeded-hash order) goes to the split that is least full
    (hours after adding it / target hours, targets = ``fractions`` of the total);
    ``forced_test`` groups go to test first."""
    total = float(sum(group_hours.values())) or 1.0
    names = ("train", "valid", "test")
    target = dict(zip(names, (f * total for f in fractions), strict=True))
    have = dict.fromkeys(names, 0.0)
    out: dict[str, str] = {}
    forced = sorted(set(forced_test) & set(group_hours))
    for g in forced:
        out[g] = "test"
        have["test"] += group_hours[g]
    rest = sorted((g for g in group_hours if g not in out),
                  key=lambda g: stable_hash(seed, "debian-split", g))
    for g in rest:
        h = group_hours[g]
        split = min(names, key=lambda s: (have[s] + h) / max(target[s], 1e-9))
        out[g] = split
        have[split] += group_hours[g]
    return out


def outside_test(tracks: Iterable[Mapping[str, object]], packages: Iterable[str]
                 ) -> dict[str, list[str]]:
    """Package → the splits other than test that its tracks were given, for each of
    ``packages`` that has such a track (``tracks``: dicts with ``package`` and ``split``).
    Empty when every track of those packages is in test."""
    wanted = set(packages)
    out: dict[str, set[str]] = {}
    for t in tracks:
        if t["package"] in wanted and t["split"] != "test":
            out.setdefault(str(t["package"]), set()).add(str(t["split"]))
    return {p: sorted(s) for p, s in sorted(out.items())}


__all__ = ["artist_groups", "assign_group_splits", "name_keys", "outside_test"]
