"""``lyrebird eval real`` scores a model with a tag head the way a library serves it: the
evaluation's fused text scores and fused similarity rank the tracks as ``Library.search`` and
``Library.similar`` do (the library is the oracle)."""

from __future__ import annotations

import numpy as np
import pytest
from test_index_tagspace import FREQS, permuted_head
from tone_model import HeadToneModel
from ui_library import tone

from lyrebird.index import Library
from lyrebird.train.realeval.embed import Vectors
from lyrebird.train.realeval.fused import FusedEval


@pytest.mark.parametrize(("alpha", "beta"), [(0.3, 0.4), (0.0, 0.0), (0.7, 0.9)])
def test_evaluation_fusion_ranks_as_the_library(tmp_path, alpha, beta):
    head = permuted_head(alpha, beta)
    model = HeadToneModel(head)
    music = [tone(tmp_path / f"tone{f}.wav", f, 12.0) for f in FREQS]
    with Library.create(tmp_path / "lib", model) as lib:
        lib.add(music)
        rows = lib.tracks()
        embs = [lib.audio_embedded(r.path) for r in rows]
        v = Vectors(np.concatenate([e.seg_vectors for e in embs]),
                    np.concatenate([np.full(len(e.seg_vectors), i) for i, e in enumerate(embs)]),
                    np.stack([e.vector for e in embs]), np.stack([e.vector for e in embs]))
        ev = FusedEval(model, head, alpha, beta)
        prepared = ev.prepare_vectors(v)
        for q in ("tone at 220 Hz", "tone at 1760 Hz"):
            s = ev.text_scores(prepared.track, [q])[:, 0]
            assert [rows[j].id for j in np.argsort(-s)] == [h.track_id for h in lib.search(q, 4)]
        sim = prepared.track @ prepared.track[0]
        want = [rows[j].id for j in np.argsort(-sim) if j != 0]
        assert [h.track_id for h in lib.similar(rows[0].id, 3)] == want
