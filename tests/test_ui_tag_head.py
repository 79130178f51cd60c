"""The app with a distilled tag head (#25): the tagging tab's default vocabulary is the head's
tags (probabilities), and result chips come from the head's calibrated thresholds."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from tone_model import HeadToneModel, linear_head
from ui_library import tone

from lyrebird.index import Library
from lyrebird.mulan.tag_head_net import TagHeadNet
from lyrebird.ui import LibraryService

FREQS = (220, 440, 880, 1760)
NAMES = ("metal", "piano", "heavy metal", "rock")  # "heavy metal" is shown as the "metal" chip


def band_head() -> TagHeadNet:
    """Tag i fires on the band of FREQS[i] (a transparent head)."""
    return linear_head(NAMES, {n: [f] for n, f in zip(NAMES, FREQS, strict=True)},
                       thresholds=(0.5,) * 4)


@pytest.fixture
def service(tmp_path):
    music = [tone(tmp_path / f"tone{f}.wav", f, 12.0) for f in FREQS]
    model = HeadToneModel(band_head())
    with Library.create(tmp_path / "lib", model) as lib:
        lib.add(music)
    return LibraryService(tmp_path / "lib", model=model), tmp_path


def test_tagging_tab_defaults_to_the_distilled_tags(service):
    svc, tmp = service
    scores = svc.tag_audio(tone(tmp / "q.wav", 1760, 4.0))
    assert next(iter(scores)) == "rock" and set(scores) == set(NAMES)
    assert all(0.0 <= v <= 1.0 for v in scores.values())
    # explicit tags still get zero-shot cosines through the text tower
    cos = svc.tag_audio(tone(tmp / "q2.wav", 440, 4.0), ["tone at 440 Hz", "tone at 880 Hz"])
    assert list(cos) == ["tone at 440 Hz", "tone at 880 Hz"]


def test_chips_come_from_the_head_with_synonyms_merged(service):
    svc, _ = service
    hits = {h["path"].rsplit("/", 1)[-1]: h for h in svc.search("tone at 880 Hz", k=4)}
    assert hits["tone880.wav"]["chips"] == ["metal"]  # "heavy metal" → the metal chip
    assert hits["tone220.wav"]["chips"] == ["metal"]
    assert hits["tone440.wav"]["chips"] == ["piano"]
    assert hits["tone1760.wav"]["chips"] == ["rock"]


def test_a_higher_threshold_hides_a_chip(tmp_path):
    head = band_head()
    strict = TagHeadNet(replace(head.cfg, thresholds=(0.5, 0.999, 0.5, 0.5)))
    strict.load_state_dict(head.state_dict())
    model = HeadToneModel(strict.eval())
    with Library.create(tmp_path / "lib", model) as lib:
        lib.add([tone(tmp_path / "tone440.wav", 440, 12.0)])
    svc = LibraryService(tmp_path / "lib", model=model)
    p = svc.tag_audio(tone(tmp_path / "q.wav", 440, 4.0))["piano"]
    assert p < 0.999 and np.isfinite(p)
    assert svc.search("tone at 440 Hz", k=1)[0]["chips"] == []


class CalibratedStudent:
    """What the chips read of a tag student: its names, calibrated thresholds, fingerprint."""

    def __init__(self, names, thresholds):
        from lyrebird.mulan.tag_student import TagStudentConfig

        self.cfg = TagStudentConfig(names=tuple(names), thresholds=tuple(thresholds))
        self.names = self.cfg.names
        self.thresholds = np.asarray(thresholds, np.float32)

    def fingerprint(self) -> str:
        return "calibrated-stand-in"


@pytest.mark.parametrize(("student_thr", "piano_chip"), [((0.5, 0.999, 0.5, 0.5), False),
                                                          ((), True)])
def test_chips_use_the_students_own_calibration(tmp_path, student_thr, piano_chip):
    """The chips take the tag student's thresholds when it carries its own (its tags are the
    ones the library stores); a student without keeps the head's (0.5 for every tag)."""
    model = HeadToneModel(band_head())
    model.tag_student = CalibratedStudent(NAMES, student_thr)
    with Library.create(tmp_path / "lib", model) as lib:
        lib.add([tone(tmp_path / "tone440.wav", 440, 12.0)])
    svc = LibraryService(tmp_path / "lib", model=model)
    assert svc.search("tone at 440 Hz", k=1)[0]["chips"] == (["piano"] if piano_chip else [])
