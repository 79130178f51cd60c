"""Issue #29 from the command line: hostile numbers, a corrupt database, a full disk, errors as
JSON, ``index check [--repair]``, the offline report of ``index sync``, and the music map key."""

from __future__ import annotations

import errno
import json
import shutil
import sqlite3

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner
from tone_model import ToneModel

from lyrebird.cli import main
from lyrebird.index import Library, LibraryError
from lyrebird.index import indexes as indexes_mod

SR = 16000
MODEL = "py:tone_model:ToneModel"


def tone(path, hz, seconds=12.0):
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * SR)) / SR
    sf.write(path, (0.4 * np.sin(2 * np.pi * hz * t)).astype(np.float32), SR)
    return path


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def lib_dir(tmp_path):
    music = tmp_path / "music"
    for hz in (220, 440):
        tone(music / f"t{hz}.flac", hz)
    lib = tmp_path / "lib"
    assert invoke("index", "create", lib, "--model", MODEL).exit_code == 0
    assert invoke("index", "add", lib, music).exit_code == 0
    return lib


# ---------------------------------------------------------------- 3. hostile numbers
@pytest.mark.parametrize("bad", ["99999999999999999999999", "0", "-3"])
def test_remove_with_an_impossible_id_is_a_clear_error(lib_dir, bad):
    res = invoke("index", "remove", lib_dir, "--", bad)
    assert res.exit_code == 2 and "between 1 and 2^63-1" in res.output
    assert "Traceback" not in res.output and "OverflowError" not in res.output


def test_similar_with_a_huge_id_and_search_with_a_huge_k(lib_dir):
    res = invoke("similar", lib_dir, "99999999999999999999999")
    assert res.exit_code == 2 and "between 1 and 2^63-1" in res.output
    res = invoke("search", lib_dir, "tone", "-k", "99999999999999999999999")
    assert res.exit_code == 2 and "range" in res.output
    lib = Library.open(lib_dir, model=ToneModel())
    with pytest.raises(LibraryError, match="2\\^63-1"):
        lib.remove(2**70)
    with pytest.raises(LibraryError, match="no track"):
        lib.similar(2**70)


def test_create_refuses_nan_and_negative_windows(tmp_path):
    res = invoke("index", "create", tmp_path / "x", "--model", MODEL, "--segment-s", "nan")
    assert res.exit_code == 1 and "segment_s" in res.output
    res = invoke("index", "create", tmp_path / "y", "--model", MODEL, "--hop-s", "-1")
    assert res.exit_code == 1 and "hop_s" in res.output


# ---------------------------------------------------------------- 4. clear messages
def test_a_corrupt_database_names_the_file_and_what_to_do(lib_dir):
    (lib_dir / "library.sqlite").write_bytes(b"this is not a database at all" * 100)
    for f in lib_dir.glob("library.sqlite-*"):
        f.unlink()
    for args in (("index", "info", lib_dir), ("search", lib_dir, "tone")):
        res = invoke(*args)
        assert res.exit_code == 1 and "Traceback" not in res.output
        assert str(lib_dir / "library.sqlite") in res.output and "backup" in res.output
    res = invoke("index", "sync", lib_dir, "--json")
    assert res.exit_code == 1
    err = json.loads(res.stdout)["error"]
    assert "not a readable SQLite database" in err and "index check" in err
    res = invoke("index", "check", lib_dir, "--json")
    assert res.exit_code == 1 and not json.loads(res.stdout)["ok"]


def test_the_writer_lock_error_is_json_with_json(lib_dir):
    from filelock import FileLock

    with FileLock(str(lib_dir / "LOCK")):
        import lyrebird.index.locking as locking

        held = locking.held

        def quick(folder, timeout_s=10.0):
            return held(folder, 0.1)

        locking.held = quick
        try:
            res = invoke("index", "remove", lib_dir, "1", "--json")
        finally:
            locking.held = held
    assert res.exit_code == 1
    assert "another process is writing" in json.loads(res.stdout)["error"]


@pytest.mark.parametrize("failure", ["sqlite", "enospc"])
def test_a_full_disk_during_add_names_the_folder(lib_dir, tmp_path, monkeypatch, failure):
    def full(*a, **k):
        if failure == "sqlite":
            raise sqlite3.OperationalError("database or disk is full")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(indexes_mod, "save_index", full)
    tone(tmp_path / "more" / "t880.flac", 880)
    res = invoke("index", "add", lib_dir, tmp_path / "more", "--json")
    assert res.exit_code == 1
    err = json.loads(res.stdout)["error"]
    assert "disk holding the library is full" in err and str(lib_dir) in err
    assert "free" in err
    monkeypatch.undo()
    lib = Library.open(lib_dir, model=ToneModel())
    assert len(lib.tracks()) == 2  # the failed batch rolled back; the library is consistent
    assert Library.check(lib_dir).ok


# ---------------------------------------------------------------- 5. index check
def test_check_finds_and_repairs_stale_faiss_files_and_a_missing_lock(lib_dir, tmp_path):
    res = invoke("index", "check", lib_dir, "--json")
    rep = json.loads(res.stdout)
    assert res.exit_code == 0 and rep["ok"] and rep["counts"]["tracks"] == 2
    assert rep["counts"]["tracks_faiss"] == 2
    shutil.copy(lib_dir / "tracks.faiss", tmp_path / "old.faiss")
    lib = Library.open(lib_dir, model=ToneModel())
    lib.add([tone(tmp_path / "t880.flac", 880)])
    lib.close()
    shutil.copy(tmp_path / "old.faiss", lib_dir / "tracks.faiss")  # stale: one vector short
    (lib_dir / "segments.faiss").write_bytes(b"garbage")
    (lib_dir / "LOCK").unlink()
    (tmp_path / "music" / "t220.flac").unlink()
    res = invoke("index", "check", lib_dir, "--json")
    rep = json.loads(res.stdout)
    assert res.exit_code == 1 and not rep["ok"]
    text = "\n".join(rep["problems"])
    assert "tracks.faiss': 2 vectors for 3 rows" in text and "segments.faiss': unreadable" in text
    assert "LOCK': missing" in text
    assert [m["path"] for m in rep["missing_files"]] == [str(tmp_path / "music" / "t220.flac")]
    res = invoke("index", "check", lib_dir, "--repair")
    assert res.exit_code == 0, res.output
    assert "repaired" in res.output and "missing file" in res.output
    rep = Library.check(lib_dir)
    assert rep.ok and rep.counts["tracks_faiss"] == 3 and len(rep.missing_files) == 1
    assert len(Library.open(lib_dir, model=ToneModel()).tracks()) == 3  # nothing removed


# ---------------------------------------------------------------- 1. offline from the CLI
def test_sync_of_a_moved_away_folder_reports_it_offline_and_removes_nothing(lib_dir, tmp_path):
    shutil.move(tmp_path / "music", tmp_path / "elsewhere")
    res = invoke("index", "sync", lib_dir, "--json")  # the folder given to add is remembered
    rep = json.loads(res.stdout)
    assert res.exit_code == 0 and rep["removed"] == [] and rep["failed"] == []
    assert rep["offline"][0]["path"] == str(tmp_path / "music")
    assert rep["offline"][0]["tracks_kept"] == 2 and rep["counts"]["offline"] == 1
    res = invoke("index", "sync", lib_dir)
    assert "offline: " in res.output and "2 tracks kept" in res.output


# ---------------------------------------------------------------- 7. the music map key
def test_the_map_key_changes_when_a_file_is_replaced_by_one_of_the_same_length(lib_dir,
                                                                              tmp_path):
    from lyrebird.ui.snapshot import library_key

    reader = Library.open(lib_dir, model=ToneModel(), readonly=True)
    before = library_key(reader)
    tone(tmp_path / "music" / "t440.flac", 1320)  # same length, other content
    writer = Library.open(lib_dir, model=ToneModel())
    rep = writer.sync()
    assert len(rep.updated) == 1 and len(writer.tracks()) == 2
    after = library_key(reader)
    assert after != before
    assert library_key(reader) == after  # stable while nothing changes
    assert not writer.sync().changed() and library_key(reader) == after  # a no-op sync too
