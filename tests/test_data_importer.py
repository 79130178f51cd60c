"""``lyrebird data import`` on generated files, broken ones included."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from lyrebird.cli import main
from lyrebird.train.corpora.importer import ImportConfig, import_folder
from lyrebird.train.corpora.manifest import read_manifest, resolve_path, validate_manifest


def _tone(sr: int, seconds: float, f: float) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return (0.4 * np.sin(2 * np.pi * f * t)).astype(np.float32)


@pytest.fixture
def library(tmp_path):
    """A folder tree with good files, tags, a duplicate and every kind of broken file."""
    root = tmp_path / "lib"
    (root / "albumA" / "disc1").mkdir(parents=True)
    (root / "albumB").mkdir()
    sf.write(root / "albumA" / "disc1" / "one.flac", _tone(44100, 3.0, 440), 44100)
    sf.write(root / "albumA" / "two.ogg", _tone(22050, 2.5, 330), 22050, format="OGG",
             subtype="VORBIS")
    sf.write(root / "albumB" / "three.wav", _tone(16000, 4.0, 220), 16000)
    shutil.copy(root / "albumB" / "three.wav", root / "albumB" / "three_copy.wav")  # duplicate
    import mutagen.flac

    tagged = mutagen.flac.FLAC(root / "albumA" / "disc1" / "one.flac")
    tagged["title"], tagged["artist"], tagged["genre"] = "Tune One", "The Band", "Folk/Celtic"
    tagged.save()
    (root / "albumB" / "empty.wav").write_bytes(b"")
    good = (root / "albumB" / "three.wav").read_bytes()
    (root / "albumB" / "truncated.wav").write_bytes(good[: len(good) // 3])
    (root / "albumB" / "notaudio.mp3").write_text("this is not an mp3 file at all\n" * 50)
    (root / "albumB" / "short.wav").write_bytes(b"")
    sf.write(root / "albumB" / "short.wav", _tone(16000, 0.2, 500), 16000)
    (root / "albumB" / "cover.jpg").write_bytes(b"\xff\xd8\xff" + b"0" * 100)
    (root / "albumA" / "README.txt").write_text("liner notes")
    return root


def test_import_reports_every_bad_file_and_never_aborts(library, tmp_path):
    rep = import_folder(library, tmp_path / "out" / "m.parquet")
    assert rep.files_seen == 10 and rep.ignored == 2 and rep.audio_files == 8
    errors = {e["path"]: e["error"] for e in rep.errors}
    assert set(errors) == {"albumB/empty.wav", "albumB/truncated.wav", "albumB/notaudio.mp3",
                           "albumB/short.wav"}
    assert "empty" in errors["albumB/empty.wav"]
    assert "truncated" in errors["albumB/truncated.wav"]
    assert "not a decodable audio file" in errors["albumB/notaudio.mp3"]
    assert "too short" in errors["albumB/short.wav"]
    assert rep.duplicates == [{"path": "albumB/three_copy.wav", "duplicate_of": "albumB/three.wav"}]
    assert rep.imported == 3
    df = read_manifest(rep.manifest)
    assert len(df) == 3 and validate_manifest(rep.manifest, check_files=True) == []
    one = df[df["source_path"] == "albumA/disc1/one.flac"].iloc[0]
    assert (one["title"], one["artist"], one["genre"]) == ("Tune One", "The Band", "Folk/Celtic")
    assert one["tags"] == ["celtic", "folk"] and one["collection"] == "albumA"
    assert one["end_s"] == pytest.approx(3.0) and one["sample_rate"] == 44100
    three = df[df["source_path"] == "albumB/three.wav"].iloc[0]
    assert three["title"] == "three"  # no tags: the file name
    for p in df["path"]:
        assert resolve_path(rep.manifest, p).is_file()
    report = json.loads((tmp_path / "out" / "m.parquet.report.json").read_text())
    assert len(report["errors"]) == 4


def test_import_clips_duplicates_and_csv(library, tmp_path):
    rep = import_folder(library, tmp_path / "m.csv",
                        ImportConfig(clip_s=1.0, keep_duplicates=True, absolute_paths=True))
    df = read_manifest(rep.manifest)
    # 3 + 2 + 4 + 4 one-second clips (the duplicate keeps the original's work_id)
    assert len(df) == 13
    assert (df.groupby("work_id")["split"].nunique() == 1).all()
    dup = df[df["source_path"].str.startswith("albumB/three")]
    assert dup["work_id"].nunique() == 1
    assert validate_manifest(rep.manifest) == []
    assert all(p.startswith("/") for p in df["path"])


def test_cli_import_json(library, tmp_path):
    res = CliRunner().invoke(main, ["data", "import", str(library), "--out",
                                    str(tmp_path / "m.parquet"), "--json"])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    assert rep["imported"] == 3 and len(rep["errors"]) == 4 and len(rep["duplicates"]) == 1
    res = CliRunner().invoke(main, ["data", "import", str(library), "--out",
                                    str(tmp_path / "m2.parquet")])
    assert "albumB/truncated.wav" in res.output and "duplicate" in res.output
