"""Which zero-shot tags a result card shows: synonyms merged, contradictions dropped, and only
tags above a calibrated threshold.

MTT's top-50 vocabulary says several things three ways ("no vocal", "no vocals", "no voice")
and holds opposites ("singing" / "no vocals", "fast" / "slow"). A card shows one chip per
:data:`SYNONYMS` group, never two groups of a :data:`CONTRADICTIONS` pair (the one further
above its threshold wins), and a tag only when its cosine score clears that tag's threshold.

Thresholds (:class:`TagCalibration`, stored as ``tag_calibration.json`` in the library folder):

- *Calibrated* (:func:`calibrate`, run by ``lyrebird demo`` on its corpus's *valid* split): a
  chip with at least :data:`MIN_SUPPORT` labelled tracks on each side (tagged and not) gets
  its own cosine threshold, the one that maximises its F1 on them (a chip true of none of
  them: just above its best score there); every other chip the labels use gets one global
  cosine threshold, the one that maximises micro-F1 over the labelled (track, chip) pairs.
  Chips the labelling scheme never uses get no threshold and are never shown: nothing says
  they are right.
- *Uncalibrated* (no file, or one made for another model or template): a tag is shown when a
  track scores :data:`DEFAULT_Z` standard deviations above the library's mean for that tag.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from lyrebird.core.atomic import replaced_on_success
from lyrebird.mulan.vocabulary import TAG_SYNONYMS as SYNONYMS

CALIBRATION_FILE = "tag_calibration.json"
DEFAULT_Z = 1.0
MAX_CHIPS = 5
MIN_SUPPORT = 3  # labelled tracks with and without a chip for it to get its own threshold

CONTRADICTIONS: tuple[tuple[str, str], ...] = (
    ("no vocals", "vocals"), ("no vocals", "male vocals"), ("no vocals", "female vocals"),
    ("no vocals", "choir"), ("no vocals", "opera"), ("fast", "slow"), ("loud", "quiet"),
    ("male vocals", "female vocals"),
)
_GROUP_OF = {t: g for g, members in SYNONYMS.items() for t in members}


def group_of(tag: str) -> str:
    """The chip a tag is shown as (itself unless it has synonyms)."""
    return _GROUP_OF.get(tag, tag)


@dataclass(frozen=True)
class TagCalibration:
    """Per-tag cosine thresholds for one model and prompt template (absent tag: never shown)."""

    fingerprint: str
    template: str
    thresholds: dict[str, float]
    method: str = f"uncalibrated: mean + {DEFAULT_Z:g} std of each tag over the library"
    report: dict = field(default_factory=dict)  # F1, labelled tracks, chips per kind

    def save(self, library: str | Path) -> Path:
        """Write ``tag_calibration.json`` into the library folder (atomically)."""
        path = Path(library) / CALIBRATION_FILE
        with replaced_on_success(path) as tmp:
            Path(tmp).write_text(json.dumps(asdict(self), indent=1, ensure_ascii=False))
        return path

    @classmethod
    def load(cls, library: str | Path, fingerprint: str, template: str) -> TagCalibration | None:
        """The stored calibration when it was made for this model and template, else None."""
        path = Path(library) / CALIBRATION_FILE
        try:
            cal = cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None
        return cal if (cal.fingerprint, cal.template) == (fingerprint, template) else None


def head_calibration(head, student=None) -> TagCalibration:
    """The thresholds a distilled tagger carries (probabilities, calibrated on the real
    corpus's valid split against the teachers' own top tags): the tag student's when it has
    its own (its tags are the ones libraries store and show), else the head's; a name given
    twice (a tag of both teachers) keeps the lower one."""
    src = student if student is not None and student.cfg.thresholds \
        and tuple(student.names) == tuple(head.names) else head
    thr: dict[str, float] = {}
    for name, t in zip(src.names, src.thresholds, strict=True):
        thr[name] = min(thr.get(name, 1.0), float(t))
    kind = "tag student" if src is student else "tag head"
    return TagCalibration(src.fingerprint(), f"distilled {kind}", thr,
                          method=f"{kind} thresholds calibrated on the real valid split")


def uncalibrated(tags: Sequence[str], scores: np.ndarray, fingerprint: str,
                 template: str) -> TagCalibration:
    """Thresholds ``mean + DEFAULT_Z * std`` of every tag over the library's ``(N, T)`` scores."""
    if len(scores) == 0:
        thr = np.full(len(tags), np.inf)
    else:
        thr = scores.mean(0) + DEFAULT_Z * np.maximum(scores.std(0), 1e-3)
    return TagCalibration(fingerprint, template,
                          {t: float(v) for t, v in zip(tags, thr, strict=True) if np.isfinite(v)})


def _best_cut(scores: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """The cosine cut (midpoint between sorted scores) with the best F1 → ``(cut, F1)``."""
    v = np.unique(scores)
    cuts = np.concatenate([(v[:-1] + v[1:]) / 2, [v[-1] + 1e-6]]) if len(v) else np.zeros(1)
    best = (float(cuts[-1]), -1.0)
    for c in cuts[::-1]:  # from the top: ties keep the stricter cut
        pred = scores >= c
        f1 = 2 * float((pred & truth).sum()) / max(1.0, float(pred.sum() + truth.sum()))
        if f1 > best[1] + 1e-9:
            best = (float(c), f1)
    return best


def calibrate(tags: Sequence[str], scores: np.ndarray, labels: Sequence[Iterable[str]],
              fingerprint: str, template: str,
              vocabulary: Iterable[str] | None = None) -> TagCalibration:
    """Thresholds from labelled tracks (see the module docstring).

    Args:
        tags: the ``T`` tags scored; ``scores``: ``(L, T)`` cosine scores of the labelled
            tracks; ``labels``: the true tags of each (synonyms count for their chip).
        vocabulary: every tag the labelling scheme can emit (default: those in ``labels``);
            chips outside it get no threshold.
    """
    known = {group_of(t) for t in (vocabulary if vocabulary is not None
                                   else (x for ls in labels for x in ls))}
    groups = sorted({group_of(t) for t in tags} & known)
    if not groups or len(scores) == 0:
        raise ValueError("no labelled tracks or no tag of the labels in the vocabulary")
    cols = [[i for i, t in enumerate(tags) if group_of(t) == g] for g in groups]
    best = np.stack([scores[:, c].max(1) for c in cols], 1)  # (L, G): best member per chip
    truth = np.array([[g in {group_of(t) for t in ls} for g in groups] for ls in labels])
    seen = truth.any(0)  # chips true of some labelled track set the global cut
    glob, f1_all = _best_cut(best[:, seen].ravel(), truth[:, seen].ravel())
    cut, own = {}, []
    for j, g in enumerate(groups):
        pos = int(truth[:, j].sum())
        if len(truth) - pos >= MIN_SUPPORT and (pos >= MIN_SUPPORT or pos == 0):
            cut[g] = _best_cut(best[:, j], truth[:, j])[0]
            own.append(g)
        else:
            cut[g] = glob
    pred = best >= np.array([cut[g] for g in groups])
    f1 = 2 * float((pred & truth).sum()) / max(1.0, float(pred.sum() + truth.sum()))
    thr = {t: cut[group_of(t)] for t in tags if group_of(t) in cut}
    return TagCalibration(fingerprint, template, thr,
                          f"calibrated: per-chip F1 cuts (>= {MIN_SUPPORT} tracks each side), "
                          "else a global micro-F1 cut",
                          {"f1": round(f1, 3), "labelled_tracks": len(scores),
                           "global_threshold": round(glob, 4), "global_f1": round(f1_all, 3),
                           "own_threshold": own,
                           "chips": len(groups), "positives": int(truth.sum())})


class ChipRule:
    """Turns ``(N, T)`` tag scores into chips with one calibration (vectorised over tracks)."""

    def __init__(self, tags: Sequence[str], calibration: TagCalibration):
        self.tags, self.calibration = list(tags), calibration
        thr = np.array([calibration.thresholds.get(t, np.inf) for t in self.tags])
        self.groups = sorted({group_of(t) for t, v in zip(self.tags, thr, strict=True)
                              if np.isfinite(v)})
        self._thr = thr
        self._cols = [[i for i, t in enumerate(self.tags) if group_of(t) == g] for g in self.groups]
        gi = {g: i for i, g in enumerate(self.groups)}
        self._pairs = [(gi[a], gi[b]) for a, b in CONTRADICTIONS if a in gi and b in gi]

    def margins(self, scores: np.ndarray) -> np.ndarray:
        """``(N, G)``: how far each chip's best member clears its threshold (cosine units)."""
        m = np.atleast_2d(scores) - self._thr
        if not self.groups:
            return np.zeros((len(m), 0))
        return np.stack([m[:, c].max(1) for c in self._cols], 1)

    def chips(self, scores: np.ndarray, top: int = MAX_CHIPS) -> list[list[str]]:
        """Chip labels per track, best first: above threshold, no contradictory pair."""
        m = self.margins(scores)
        for a, b in self._pairs:  # the weaker of a contradictory pair is dropped
            both = (m[:, a] > 0) & (m[:, b] > 0)
            weaker = np.where(m[:, a] >= m[:, b], b, a)
            m[both, weaker[both]] = -np.inf
        out = []
        for row in m:
            order = [int(i) for i in np.argsort(-row) if row[i] > 0][:top]
            out.append([self.groups[i] for i in order])
        return out

    def best(self, scores: np.ndarray) -> list[str | None]:
        """Each track's first chip, or None (the map's "top tag" colouring)."""
        return [c[0] if c else None for c in self.chips(scores, top=1)]
