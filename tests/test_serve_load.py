"""The server under load (issue #26): what ``lyrebird bench serve`` sends, and the Gradio queue
settings that keep the app's throughput from falling as it serves."""

from __future__ import annotations

import pytest
from tone_model import ToneModel

import lyrebird.ui.app as ui_app
from lyrebird.bench.serve import format_report, run_load
from lyrebird.ui import LibraryService, Limits, ServeConfig, Server, make_app


@pytest.fixture()
def served(ui_service, monkeypatch):
    """A server on the tone library and the Gradio Blocks it mounts."""
    made = []
    build = ui_app.build_blocks

    def keep(*args, **kwargs):
        made.append(build(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(ui_app, "build_blocks", keep)
    svc = LibraryService(ui_service.path, model=ToneModel(), limits=Limits(2**20, 20.0))
    srv = Server(make_app(svc, ServeConfig()), port=0).start()
    yield srv, made[0]
    srv.stop()


def test_gradio_does_not_rebuild_its_event_summary_after_every_event(served):
    """Gradio's default recomputes a pandas summary of up to 10,000 past events after each event
    (for a monitoring page the app does not enable); the server turns that off."""
    srv, blocks = served
    assert blocks._queue.ANAYLTICS_CACHE_FREQUENCY >= 10**6
    before = blocks._queue.cached_event_analytics_summary
    rep = run_load(srv.url, clients=2, seconds=1.5, k=3)
    assert rep.errors == 0 and rep.requests >= 2
    assert blocks._queue.cached_event_analytics_summary is before  # not recomputed


@pytest.mark.parametrize("sessions, expected", [("client", 3), ("request", None)])
def test_load_clients_keep_one_session_each_or_open_one_per_request(served, sessions, expected):
    srv, blocks = served
    had = set(blocks.state_holder.session_data)
    rep = run_load(srv.url, clients=3, seconds=2.0, k=3, sessions=sessions)
    assert rep.errors == 0, rep.error_examples
    assert rep.requests >= 3 and rep.p50_ms <= rep.p99_ms <= rep.max_ms
    new = set(blocks.state_holder.session_data) - had
    assert len(new) == (expected if expected is not None else rep.requests)
    assert f"a session per {sessions}" in format_report(rep)


def test_load_refuses_unknown_session_modes(served):
    srv, _ = served
    with pytest.raises(ValueError, match="sessions must be one of"):
        run_load(srv.url, clients=1, seconds=1.0, sessions="tab")


def test_waiting_users_get_queue_updates_on_a_clock_not_at_every_dispatch(served):
    _, blocks = served
    assert blocks._queue.live_updates is False and blocks._queue.update_intervals == 1.0
    with pytest.raises(ValueError, match="queue_update_s=0"):
        ServeConfig(queue_update_s=0)
