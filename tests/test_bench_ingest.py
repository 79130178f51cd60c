"""``lyrebird bench index --files``: the stage table of a serial add times each stage through
the functions it patches, and puts every one of them back."""

from __future__ import annotations

from tone_model import ToneModel, write_chords

from lyrebird.bench.ingest import STAGES, _timers, format_stages, stage_table


def test_the_stage_table_times_a_serial_add(tmp_path):
    files = [write_chords(tmp_path / f"t{i}.wav", [(220 * (i + 1),), (330,)]) for i in range(3)]
    rep = stage_table(files, ToneModel(), hop_s=5.0)
    assert rep["tracks"] == 3 and rep["audio_s"] == 60.0 and rep["wall_s"] > 0
    st = rep["stages"]
    assert list(st) == [*STAGES, "other"] and all(v >= 0 for v in st.values())
    assert st["decode"] > 0 and st["SQLite"] > 0 and st["FAISS"] > 0  # each hook was reached
    assert sum(st.values()) >= rep["wall_s"] * 0.999
    text = format_stages(rep)
    assert "stages of a serial add: 3 files" in text and "SQLite" in text and "FAISS" in text


def test_the_timers_put_every_function_back():
    from lyrebird.index.indexes import LibraryIndexes
    from lyrebird.index.writer import LibraryWriter

    before = (LibraryWriter.commit, LibraryIndexes.publish)
    with _timers():
        assert LibraryWriter.commit is not before[0]
    assert (LibraryWriter.commit, LibraryIndexes.publish) == before
