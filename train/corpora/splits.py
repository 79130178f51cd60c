"""Deterministic allocation of clips to collections and of works to splits."""

from __future__ import annotations

import math

from lyrebird.core.fingerprint import stable_hash


def allocate(total: int, mix: tuple[tuple[str, float], ...]) -> dict[str, int]:
    """Split ``total`` clips over collections by share (largest remainder; sums to total)."""
    wsum = sum(w for _, w in mix)
    raw = [(name, total * w / wsum) for name, w in mix]
    out = {name: int(math.floor(x)) for name, x in raw}
    rest = total - sum(out.values())
    for name, _x in sorted(raw, key=lambda t: (-(t[1] - math.floor(t[1])), t[0]))[:rest]:
        out[name] += 1
    return out


def assign_splits(work_collections: dict[str, str], seed: int,
                  fractions: tuple[float, float, float]) -> dict[str, str]:
    """Split works (work_id → collection) into train/valid/test, stratified by collection.

    Works of each collection are shuffled by seed and dealt in a repeating pattern of 20
    slots drawn from ``fractions``; the pattern position carries over between collections, so
    even tiny corpora get valid and test works.
    """
    n_valid = round(20 * fractions[1])
    n_test = round(20 * fractions[2])
    counts = {"train": 20 - n_valid - n_test, "valid": n_valid, "test": n_test}
    # spread each split's slots evenly over the pattern (e.g. valid at 5, test at 15 of 20)
    slots = sorted(((i + 0.5) / k, s) for s, k in counts.items() for i in range(k))
    pattern = [s for _, s in slots]
    out: dict[str, str] = {}
    pos = stable_hash(seed, "offset") % len(pattern)
    for coll in sorted(set(work_collections.values())):
        works = sorted((w for w, c in work_collections.items() if c == coll),
                       key=lambda w: stable_hash(seed, "split", w))
        for w in works:
            out[w] = pattern[pos % len(pattern)]
            pos += 1
    return out


__all__ = ["allocate", "assign_splits"]
