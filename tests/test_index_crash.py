"""The library survives kill -9 at any point, and readers run while a writer commits."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from tone_model import ToneModel

from lyrebird.index import Library
from lyrebird.index.vectors import index_ids, load_index

TESTS = Path(__file__).parent
N = 16

WRITER = """
import os, signal, sys
sys.path.insert(0, {tests!r})
from tone_model import ToneModel
from lyrebird.index import Library
from lyrebird.index.writer import LibraryWriter
if sys.argv[1] == "crash-after-publish":  # die after FAISS files are renamed, before COMMIT
    orig = LibraryWriter.publish
    def publish(self, *a):
        orig(self, *a)
        os.kill(os.getpid(), signal.SIGKILL)
    LibraryWriter.publish = publish
lib = Library.open({lib!r}, model=ToneModel())
rep = lib.add([{music!r}], batch_size=1)
print(len(rep.added), len(rep.duplicates), len(rep.failed))
"""


@pytest.fixture
def setup(tmp_path):
    music = tmp_path / "music"
    music.mkdir()
    sr = 16000
    t = np.arange(sr * 12) / sr
    for i in range(N):
        f = 150.0 * 1.25**i
        sf.write(music / f"t{i:02d}.flac", (0.4 * np.sin(2 * np.pi * f * t)).astype(np.float32), sr)
    Library.create(tmp_path / "lib", ToneModel()).close()
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(tests=str(TESTS), lib=str(tmp_path / "lib"), music=str(music)))
    return tmp_path / "lib", script


def consistent(lib_dir: Path) -> int:
    """Open (which recovers), then check FAISS ids == committed SQLite ids; returns #tracks."""
    Library.open(lib_dir, model=ToneModel()).close()
    con = sqlite3.connect(lib_dir / "library.sqlite")
    tracks = {r[0] for r in con.execute("SELECT id FROM tracks")}
    segs = {r[0] for r in con.execute("SELECT id FROM segments")}
    orphan = con.execute("SELECT COUNT(*) FROM segments WHERE track_id NOT IN (SELECT id FROM tracks)").fetchone()[0]
    without = con.execute("SELECT COUNT(*) FROM tracks WHERE id NOT IN (SELECT track_id FROM segments)").fetchone()[0]
    hashes = con.execute("SELECT COUNT(*) - COUNT(DISTINCT content_hash) FROM tracks").fetchone()[0]
    assert orphan == 0 and without == 0 and hashes == 0
    assert set(index_ids(load_index(lib_dir / "tracks.faiss")).tolist()) == tracks
    assert set(index_ids(load_index(lib_dir / "segments.faiss")).tolist()) == segs
    return len(tracks)


def run(script: Path, mode: str = "normal") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(script), mode], capture_output=True, text=True,
                          timeout=300)


@pytest.mark.timeout(300)
def test_crash_between_faiss_rename_and_commit_is_recovered(setup):
    lib_dir, script = setup
    res = run(script, "crash-after-publish")
    assert res.returncode == -signal.SIGKILL
    # FAISS on disk is ahead of SQLite now; opening discards what was not committed
    assert len(index_ids(load_index(lib_dir / "tracks.faiss"))) == 1
    assert consistent(lib_dir) == 0
    res = run(script)
    assert res.returncode == 0 and res.stdout.split() == [str(N), "0", "0"]
    assert consistent(lib_dir) == N


@pytest.mark.timeout(300)
def test_kill_9_mid_add_then_rerun_completes_without_duplicates(setup):
    lib_dir, script = setup
    p = subprocess.Popen([sys.executable, str(script), "normal"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    db = lib_dir / "library.sqlite"
    deadline = time.time() + 120
    while time.time() < deadline:
        n = sqlite3.connect(db).execute("SELECT COUNT(*) FROM tracks").fetchone()[0]
        if n >= 3:
            break
        time.sleep(0.01)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    done = consistent(lib_dir)
    assert 3 <= done < N
    res = run(script)
    assert res.stdout.split() == [str(N - done), str(done), "0"]  # resumes, skips what is there
    assert consistent(lib_dir) == N


@pytest.mark.timeout(300)
def test_readers_never_see_a_half_written_library(setup):
    lib_dir, script = setup
    reader = Library.open(lib_dir, model=ToneModel(), readonly=True)
    p = subprocess.Popen([sys.executable, str(script), "normal"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    seen, queries = [], 0
    while p.poll() is None or queries == 0:
        hits = reader.search("tone at 300 Hz", k=N)
        info = reader.info()
        db = sqlite3.connect(lib_dir / "library.sqlite")
        committed = {r[0] for r in db.execute("SELECT id FROM tracks")}
        assert {h.track_id for h in hits} <= committed
        assert len(hits) <= info["tracks"]
        seen.append(info["tracks"])
        queries += 1
    assert p.returncode == 0, p.stderr.read()
    assert seen == sorted(seen)  # monotonic: a reader never goes back in time
    assert reader.info()["tracks"] == N and len(reader.search("tone at 300 Hz", k=N)) == N
    assert queries > 3


REEMBED = """
import os, signal, sys
sys.path.insert(0, {tests!r})
from tone_model import ToneModel
import lyrebird.index.store as store
from lyrebird.index import Library
orig = store.immediate
def immediate(con):  # the model switch: die just before, or just after, its COMMIT
    con.execute("BEGIN IMMEDIATE")
    yield
    if sys.argv[1] == "after-commit":
        con.execute("COMMIT")
    os.kill(os.getpid(), signal.SIGKILL)
lib = Library.open({lib!r}, model=ToneModel())
store.immediate = __import__("contextlib").contextmanager(immediate)
lib.reembed(ToneModel(salt=0.5))
"""


def faiss_matches_rows(lib_dir: Path, model) -> None:
    """Open with ``model`` (which recovers), then check every FAISS vector is its row's vector."""
    Library.open(lib_dir, model=model).close()
    con = sqlite3.connect(lib_dir / "library.sqlite")
    for name, table, dt in (("tracks", "tracks", np.float32), ("segments", "segments", np.float16)):
        index = load_index(lib_dir / f"{name}.faiss")
        rows = con.execute(f"SELECT id, vector FROM {table}").fetchall()
        assert set(index_ids(index).tolist()) == {i for i, _ in rows}
        for i, blob in rows:
            np.testing.assert_allclose(index.reconstruct(i), np.frombuffer(blob, dt), atol=1e-6)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("when", ["before-commit", "after-commit"])
def test_kill_9_during_a_model_switch_leaves_one_consistent_model(setup, when):
    lib_dir, script = setup
    assert run(script).returncode == 0
    reembed = script.with_name("reembed.py")
    reembed.write_text(REEMBED.format(tests=str(TESTS), lib=str(lib_dir)))
    assert run(reembed, when).returncode == -signal.SIGKILL
    model = ToneModel(salt=0.5) if when == "after-commit" else ToneModel()
    faiss_matches_rows(lib_dir, model)  # the FAISS files hold the vectors of the model in use
    assert Library.open(lib_dir, model=model).info()["tracks"] == N
