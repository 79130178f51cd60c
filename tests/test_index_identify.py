"""Excerpt identification: an audio query searches the segment index too, so a 10 s excerpt
finds its source track (and the matching moment) where the track's mean vector would not, also
resampled, noisy and re-encoded; synthetic distractors go in through the documented helper."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import soxr
from tone_model import ToneModel, write_chords

from lyrebird.bench.identify import add_distractors
from lyrebird.index import Library
from lyrebird.index.vectors import index_ids, load_index

SR = 16000


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    root = tmp_path_factory.mktemp("ident")
    music = root / "music"
    music.mkdir()
    # the excerpt (source 0-10 s) is a chord no other track plays; two other tracks are each
    # closer to it on average, since they hold one of its tones throughout
    write_chords(music / "source.flac", [(300, 2400), (600,), (1200,), (4800,)])
    write_chords(music / "low.flac", [(300,)] * 4)
    write_chords(music / "high.flac", [(2400,)] * 4)
    write_chords(music / "other.flac", [(800,), (1600,), (3200,), (150,)])
    lib = Library.create(root / "lib", ToneModel(), hop_s=5.0)  # moments every 5 s
    lib.add([music])
    yield lib
    lib.close()


def excerpt(lib, tmp_path, resample=False, noise=0.0, fmt="WAV"):
    path = next(r.path for r in lib.tracks() if r.path.endswith("source.flac"))
    x, sr = sf.read(path, frames=10 * SR, dtype="float32")
    if resample:
        x, sr = soxr.resample(x, SR, 22050), 22050
    x = x + noise * np.random.default_rng(0).standard_normal(len(x)).astype(np.float32)
    out = tmp_path / f"q.{fmt.lower()}"
    sf.write(out, x, sr, format=fmt, subtype="VORBIS" if fmt == "OGG" else None)
    return out


def test_an_excerpt_finds_its_source_and_moment(lib, tmp_path):
    q = excerpt(lib, tmp_path)
    emb = lib.audio_embedded(q)
    by_mean = lib.search_audio(emb, 1, weight=0.0)[0]
    assert not by_mean.path.endswith("source.flac")  # the old behaviour: a track vector closer
    hit = lib.similar(q, k=1)[0]
    assert hit.path.endswith("source.flac") and (hit.start_s, hit.end_s) == (0.0, 10.0)
    assert lib.search_audio(emb, 1, weight=1.0)[0].path.endswith("source.flac")


@pytest.mark.parametrize("kind", ["resampled 22.05 kHz", "noisy", "ogg"])
def test_degraded_excerpts_still_find_their_source(lib, tmp_path, kind):
    q = excerpt(lib, tmp_path, resample=kind != "noisy", noise=0.02 if kind == "noisy" else 0.0,
                fmt="OGG" if kind == "ogg" else "WAV")
    hit = lib.similar(q, k=1)[0]
    assert hit.path.endswith("source.flac") and hit.start_s == 0.0


def test_arrays_track_ids_and_bad_weights(lib):
    t = np.arange(5 * 22050) / 22050
    hits = lib.similar((0.3 * np.sin(2 * np.pi * 4800 * t)).astype(np.float32), k=2, sr=22050)
    assert hits[0].path.endswith("source.flac") and hits[0].start_s >= 25.0
    src = next(r.id for r in lib.tracks() if r.path.endswith("source.flac"))
    assert src not in [h.track_id for h in lib.similar(src, k=3)]  # a track id: by track vector
    with pytest.raises(ValueError, match="weight"):
        lib.search_audio(lib.audio_embedded(np.zeros(SR, np.float32) + 0.1, sr=SR), weight=2)


def test_distractors_go_straight_into_sqlite_and_faiss(lib, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(lib.path, copy)
    big = Library.open(copy, model=ToneModel())
    add_distractors(big, 300, segments_per_track=3)
    info = big.info()
    assert info["tracks"] == 4 + 300 and info["segments"] == 4 * 7 + 900
    assert all(r.path.startswith("synthetic://") for r in big.tracks(offset=4))
    big.close()
    again = Library.open(copy, model=ToneModel())  # FAISS ids agree with the rows: no rebuild
    assert set(index_ids(load_index(copy / "segments.faiss")).tolist()) == set(
        again.reader.indexes.index("segments").id_map.at(i) for i in range(4 * 7 + 900))
    assert again.similar(excerpt(lib, tmp_path), k=1)  # searchable (how hard they are: the bench)


def test_the_bench_reads_through_the_public_api(lib, tmp_path):
    from lyrebird.bench.identify import _closest, stored_embedded

    src = next(r.id for r in lib.tracks() if r.path.endswith("source.flac"))
    times, vecs = lib.track_segments(src)
    emb = stored_embedded(lib, src)  # a library track as a query, from its stored vectors
    assert np.array_equal(emb.vector, lib.track_vector(src)) and len(emb.segments) == len(times)
    assert emb.duration_s == float(times[-1, 1])
    assert lib.search_audio(emb, 1)[0].track_id == src
    close = _closest(lib, [(src, lib.audio_embedded(excerpt(lib, tmp_path)))])
    assert close["own track"] > close["other real track"] and np.isnan(close["distractor"])
    assert lib.reader.best_segment(src, vecs[3]) == tuple(times[3])  # a moment of one track
    assert lib.reader.best_segment(10**6, vecs[3]) == (0.0, 0.0)
    lib.reader.warm_up()  # a model without a tag vocabulary: loaded, no prompts to embed
