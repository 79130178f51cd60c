"""``Library.sync``: moves, renames, deletions, edits and new files in one run; moved files are
not re-embedded, unchanged files are not even read; a failure half-way leaves a consistent
library that the next sync finishes; ``watch`` picks up changes (watchdog and polling)."""

from __future__ import annotations

import shutil
import sqlite3
import threading
import time

import numpy as np
import pytest
import soundfile as sf
from tone_model import ToneModel

import lyrebird.index.sync as sync_mod
from lyrebird.index import Library, LibraryError
from lyrebird.index.vectors import index_ids, load_index
from lyrebird.index.watch import watch

SR = 16000


class CountingTone(ToneModel):
    """The tone model, counting the windows it embeds (and failing on request)."""

    def __init__(self):
        super().__init__()
        self.windows, self.fail_on = 0, None

    def embed_windows(self, audio, valid):
        self.windows += len(audio)
        out = super().embed_windows(audio, valid)
        if self.fail_on is not None and np.argmax(out[0]) == self._band(self.fail_on):
            raise KeyboardInterrupt("killed while embedding")
        return out


def tone(path, hz, seconds=12.0):
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * SR)) / SR
    sf.write(path, (0.4 * np.sin(2 * np.pi * hz * t)).astype(np.float32), SR)
    return path


def consistent(lib_dir) -> set[str]:
    """FAISS ids == committed rows (after the recovery an open does); returns the paths."""
    Library.open(lib_dir, model=ToneModel()).close()
    con = sqlite3.connect(lib_dir / "library.sqlite")
    tracks = {r[0] for r in con.execute("SELECT id FROM tracks")}
    segs = {r[0] for r in con.execute("SELECT id FROM segments")}
    assert set(index_ids(load_index(lib_dir / "tracks.faiss")).tolist()) == tracks
    assert set(index_ids(load_index(lib_dir / "segments.faiss")).tolist()) == segs
    return {r[0] for r in con.execute("SELECT path FROM tracks")}


@pytest.fixture
def setup(tmp_path):
    music = tmp_path / "music"
    for hz in (220, 330, 440, 660, 880, 1320):
        tone(music / f"t{hz}.flac", hz)
    model = CountingTone()
    lib = Library.create(tmp_path / "lib", model)
    rep = lib.sync([music])
    assert len(rep.added) == 6 and rep.counts()["removed"] == 0
    return lib, model, music


def test_moves_renames_deletions_edits_and_new_files_in_one_run(setup, monkeypatch):
    lib, model, music = setup
    ids = {r.path.rsplit("/", 1)[1]: r.id for r in lib.tracks()}
    (music / "sub").mkdir()
    shutil.move(music / "t220.flac", music / "sub" / "t220.flac")  # moved
    (music / "t330.flac").rename(music / "renamed.flac")  # renamed
    (music / "t440.flac").unlink()  # deleted
    tone(music / "t660.flac", 2640)  # edited in place
    tone(music / "new.flac", 5000)  # new
    model.windows = 0
    rep = lib.sync()  # the folder is remembered
    c = rep.counts()
    assert (c["moved"], c["removed"], c["updated"], c["added"], c["unchanged"]) == (2, 1, 1, 1, 2)
    assert model.windows == 2 * 2  # only the edited and the new file (2 windows each)
    moved = {new.rsplit("/", 1)[1]: tid for _, new, tid in rep.moved}
    assert moved == {"t220.flac": ids["t220.flac"], "renamed.flac": ids["t330.flac"]}
    assert rep.removed == [(str(music / "t440.flac"), ids["t440.flac"])]
    assert lib.search("tone at 2640 Hz", k=1)[0].path.endswith("t660.flac")
    assert lib.search("tone at 220 Hz", k=1)[0].path.endswith("sub/t220.flac")
    assert lib.similar(ids["t330.flac"], k=1)  # the renamed track keeps its id and vectors
    assert {p.rsplit("/", 1)[1] for p in consistent(lib.path)} == {
        "t220.flac", "renamed.flac", "t660.flac", "t880.flac", "t1320.flac", "new.flac"}
    hashed = []
    monkeypatch.setattr(sync_mod, "content_hash", lambda p: hashed.append(p) or "x")
    again = lib.sync()
    assert not again.changed() and again.unchanged == 6 and hashed == []  # nothing read


def test_copy_then_edit_keeps_the_old_content_as_a_move(setup):
    lib, _, music = setup
    old_id = lib.search("tone at 880 Hz", k=1)[0].track_id
    shutil.copy(music / "t880.flac", music / "copy.flac")
    tone(music / "t880.flac", 3520)
    rep = lib.sync()
    assert [(n.rsplit("/", 1)[1], t) for _, n, t in rep.moved] == [("copy.flac", old_id)]
    assert [p.rsplit("/", 1)[1] for p, _ in rep.updated] == ["t880.flac"]
    assert lib.search("tone at 880 Hz", k=1)[0].path.endswith("copy.flac")


def test_a_failure_half_way_is_finished_by_the_next_sync(setup):
    lib, model, music = setup
    (music / "t220.flac").unlink()
    tone(music / "a.flac", 2000)
    tone(music / "b.flac", 4000)
    model.fail_on = 4000
    with pytest.raises(KeyboardInterrupt):
        lib.sync()
    paths = consistent(lib.path)
    assert str(music / "t220.flac") not in paths  # the removal was committed before
    model.fail_on = None
    rep = lib.sync()
    assert {p.rsplit("/", 1)[1] for p, _ in rep.added} <= {"a.flac", "b.flac"}
    assert {p.rsplit("/", 1)[1] for p in consistent(lib.path)} == {
        "t330.flac", "t440.flac", "t660.flac", "t880.flac", "t1320.flac", "a.flac", "b.flac"}


def test_sync_needs_folders_once(tmp_path):
    lib = Library.create(tmp_path / "lib", ToneModel())
    with pytest.raises(LibraryError, match="no folders to sync"):
        lib.sync()


@pytest.mark.parametrize("use_watchdog", [True, False], ids=["watchdog", "polling"])
def test_watch_picks_up_changes(setup, use_watchdog):
    if use_watchdog:
        pytest.importorskip("watchdog")
    lib, _, music = setup
    reports, stop = [], threading.Event()
    th = threading.Thread(target=watch, args=(lib,), kwargs=dict(
        on_report=reports.append, stop=stop, interval_s=0.3, settle_s=0.5,
        use_watchdog=use_watchdog), daemon=True)
    th.start()
    try:
        deadline = time.monotonic() + 30
        while not reports and time.monotonic() < deadline:
            time.sleep(0.1)
        assert reports and not reports[0].changed()
        tone(music / "late.flac", 1500)
        (music / "t220.flac").unlink()
        while time.monotonic() < deadline and not any(r.removed for r in reports[1:]):
            time.sleep(0.1)
        got = {k: sum(r.counts()[k] for r in reports[1:]) for k in ("added", "removed")}
        assert got == {"added": 1, "removed": 1}
    finally:
        stop.set()
        th.join(timeout=10)
    assert not th.is_alive()
