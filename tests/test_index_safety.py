"""Data safety of a library (issue #29): an offline folder never loses its tracks, ids are
never reused (old libraries migrated), ``add`` remembers its folders for ``sync``, the music
map's key follows every content change."""

from __future__ import annotations

import shutil
import sqlite3
import threading
import time

import numpy as np
import pytest
import soundfile as sf
from tone_model import ToneModel

from lyrebird.index import Library
from lyrebird.index import store as store_mod
from lyrebird.index.vectors import index_ids, load_index
from lyrebird.index.watch import watch

SR = 16000


def tone(path, hz, seconds=12.0):
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * SR)) / SR
    sf.write(path, (0.4 * np.sin(2 * np.pi * hz * t)).astype(np.float32), SR)
    return path


def faiss_ids(lib_dir, name="tracks.faiss") -> set[int]:
    return set(index_ids(load_index(lib_dir / name)).tolist())


@pytest.fixture
def synced(tmp_path):
    music = tmp_path / "music"
    for hz in (220, 440, 880):
        tone(music / f"t{hz}.flac", hz)
    lib = Library.create(tmp_path / "lib", ToneModel())
    assert len(lib.sync([music]).added) == 3
    return lib, music


# ---------------------------------------------------------------- 1. offline folders
def test_a_moved_away_root_is_offline_and_keeps_its_tracks(synced, tmp_path):
    lib, music = synced
    before = {r.id for r in lib.tracks()}
    shutil.move(music, tmp_path / "elsewhere")  # the drive is unplugged
    rep = lib.sync()
    assert rep.removed == [] and rep.failed == []
    assert rep.offline == [(str(music), rep.offline[0][1], 3)]
    assert "missing" in rep.offline[0][1]
    assert rep.to_dict()["offline"][0]["tracks_kept"] == 3
    assert {r.id for r in lib.tracks()} == before
    assert faiss_ids(lib.path) == before
    assert lib.search("tone at 440 Hz", k=1)[0].path.endswith("t440.flac")  # still searchable
    shutil.move(tmp_path / "elsewhere", music)  # plugged in again
    rep = lib.sync()
    assert rep.offline == [] and rep.unchanged == 3 and not rep.changed()


def test_a_root_replaced_by_a_file_or_emptied_is_offline(synced):
    lib, music = synced
    shutil.rmtree(music)
    music.mkdir()  # an empty mount point
    rep = lib.sync()
    assert rep.removed == [] and "empty" in rep.offline[0][1] and len(lib.tracks()) == 3
    music.rmdir()
    music.write_text("not a folder")
    rep = lib.sync()
    assert rep.removed == [] and rep.offline[0][1] == "not a folder" and len(lib.tracks()) == 3


def test_a_root_given_on_the_command_line_that_is_missing_is_offline(synced, tmp_path):
    lib, music = synced
    shutil.move(music, tmp_path / "elsewhere")
    rep = lib.sync([music])
    assert rep.removed == [] and [r for r, _, _ in rep.offline] == [str(music)]


def test_an_offline_root_is_kept_while_another_root_is_synced(synced, tmp_path):
    lib, music = synced
    other = tmp_path / "other"
    tone(other / "new.flac", 1320)
    shutil.move(music, tmp_path / "elsewhere")
    rep = lib.sync([other])
    assert len(rep.added) == 1 and rep.removed == [] and len(lib.tracks()) == 4
    assert [r for r, _, _ in rep.offline] == [str(music)]


def test_files_deleted_under_a_root_that_is_there_are_still_removed(synced):
    lib, music = synced
    (music / "t220.flac").unlink()
    (music / "sub").mkdir()
    rep = lib.sync()
    assert [p for p, _ in rep.removed] == [str(music / "t220.flac")] and rep.offline == []
    assert len(lib.tracks()) == 2


def test_a_track_outside_every_root_whose_folder_vanished_is_kept(tmp_path):
    lib = Library.create(tmp_path / "lib", ToneModel())
    usb = tmp_path / "usb"
    lib.add([tone(usb / "a.flac", 440)])  # a file, not a folder: no root remembered
    tone(tmp_path / "music" / "b.flac", 880)
    shutil.move(usb, tmp_path / "gone")
    rep = lib.sync([tmp_path / "music"])
    assert rep.removed == [] and len(lib.tracks()) == 2
    assert [(r, n) for r, _, n in rep.offline] == [(str(usb), 1)]


@pytest.mark.parametrize("use_watchdog", [False, True], ids=["polling", "watchdog"])
def test_watch_reports_a_vanished_root_and_picks_it_up_when_back(synced, tmp_path,
                                                                 use_watchdog):
    if use_watchdog:
        pytest.importorskip("watchdog")
    lib, music = synced
    reports, stop = [], threading.Event()
    t = threading.Thread(target=watch, args=(lib,), daemon=True,
                         kwargs=dict(on_report=reports.append, stop=stop, interval_s=0.1,
                                     settle_s=0.2, use_watchdog=use_watchdog))

    def wait_for(cond, timeout=30.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if any(cond(r) for r in list(reports)):
                return
            time.sleep(0.05)
        raise AssertionError(f"not seen in {timeout} s: {reports}")

    t.start()
    try:
        wait_for(lambda r: r.unchanged == 3)
        shutil.move(music, tmp_path / "elsewhere")
        wait_for(lambda r: [x for x, _, _ in r.offline] == [str(music)])
        shutil.move(tmp_path / "elsewhere", music)
        tone(music / "new.flac", 1320)
        wait_for(lambda r: len(r.added) == 1)
    finally:
        stop.set()
        t.join(timeout=10)
    assert not t.is_alive()
    assert all(r.removed == [] for r in reports)


# ---------------------------------------------------------------- 2. ids never reused
OLD_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE tracks (id INTEGER PRIMARY KEY, path TEXT NOT NULL, content_hash TEXT NOT NULL UNIQUE,
    duration_s REAL NOT NULL, title TEXT, artist TEXT, genre TEXT,
    file_tags TEXT NOT NULL DEFAULT '{}', zs_tags TEXT NOT NULL DEFAULT '{}',
    added_at REAL NOT NULL, vector BLOB NOT NULL);
CREATE TABLE segments (id INTEGER PRIMARY KEY,
    track_id INTEGER NOT NULL REFERENCES tracks(id) ON DELETE CASCADE,
    start_s REAL NOT NULL, end_s REAL NOT NULL, vector BLOB NOT NULL);
CREATE INDEX segments_track ON segments(track_id);
"""


def test_a_removed_track_id_is_never_given_again(tmp_path):
    lib = Library.create(tmp_path / "lib", ToneModel())
    rep = lib.add([tone(tmp_path / f"t{hz}.flac", hz) for hz in (220, 440)])
    top = max(i for _, i in rep.added)
    segs = store_mod.row_ids(lib.con, "segments")
    lib.remove(top)
    (new_id,) = [i for _, i in lib.add([tone(tmp_path / "new.flac", 1320)]).added]
    assert new_id == top + 1
    assert min(store_mod.row_ids(lib.con, "segments")) > 0
    assert not (store_mod.row_ids(lib.con, "segments") - segs) & segs


def test_an_old_library_is_migrated_and_its_removed_max_id_not_reused(tmp_path):
    """A library written by the previous schema (plain INTEGER PRIMARY KEY, no counters)."""
    folder = tmp_path / "old"
    lib = Library.create(folder, ToneModel())
    meta = store_mod.get_meta(lib.con)
    lib.close()
    (folder / "library.sqlite").unlink()
    for name in ("tracks.faiss", "segments.faiss"):
        (folder / name).unlink(missing_ok=True)
    con = sqlite3.connect(folder / "library.sqlite")
    con.executescript(OLD_SCHEMA)
    meta = {k: v for k, v in meta.items() if k not in ("last_track_id", "last_segment_id",
                                                       "generation", "index_info")}
    con.executemany("INSERT INTO meta VALUES (?, ?)", list(meta.items()))
    model = ToneModel()
    for tid, hz in ((1, 220), (2, 440), (3, 880)):
        f = tone(tmp_path / f"old{hz}.flac", hz)
        t = np.arange(int(10 * SR)) / SR
        v = model.embed_windows((0.4 * np.sin(2 * np.pi * hz * t))[None].astype(np.float32),
                                np.array([10 * SR]))[0]
        con.execute("INSERT INTO tracks(id, path, content_hash, duration_s, added_at, vector) "
                    "VALUES (?,?,?,?,?,?)", (tid, str(f), f"h{tid}", 12.0, 0.0, v.tobytes()))
        con.execute("INSERT INTO segments(id, track_id, start_s, end_s, vector) "
                    "VALUES (?,?,?,?,?)", (10 * tid, tid, 0.0, 10.0,
                                           v.astype(np.float16).tobytes()))
    con.commit()
    con.close()

    lib = Library.open(folder, model=ToneModel())
    assert [r.id for r in lib.tracks()] == [1, 2, 3]
    assert faiss_ids(folder) == {1, 2, 3} and faiss_ids(folder, "segments.faiss") == {10, 20, 30}
    assert lib.search("tone at 880 Hz", k=1)[0].track_id == 3
    lib.remove(3)
    (new_id,) = [i for _, i in lib.add([tone(tmp_path / "new.flac", 1320)]).added]
    assert new_id == 4
    assert min(store_mod.segment_ids(lib.con, 4)) > 30
    assert faiss_ids(folder) == {1, 2, 4}
    assert lib.search("tone at 1320 Hz", k=1)[0].track_id == 4


# ---------------------------------------------------------------- 8. add remembers folders
def test_add_remembers_its_folders_for_a_bare_sync(tmp_path):
    music = tmp_path / "music"
    tone(music / "a.flac", 440)
    single = tone(tmp_path / "loose" / "b.flac", 880)
    lib = Library.create(tmp_path / "lib", ToneModel())
    lib.add([music, single])
    tone(music / "c.flac", 1320)
    rep = lib.sync()  # no PATH: the folder given to add
    assert [p for p, _ in rep.added] == [str((music / "c.flac").resolve())]
    from lyrebird.index.sync import roots

    assert roots(lib) == [str(music.resolve())]  # a file's folder is not remembered
