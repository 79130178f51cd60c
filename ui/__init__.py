"""Gradio views over ``lyrebird.index`` and ``lyrebird.mulan``. Populated by the UI issue."""
