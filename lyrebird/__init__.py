"""Lyrebird: an open music–text retrieval toolkit.

Subpackages: ``lyrebird.encoders`` (audio I/O, front-ends, self-supervised encoders),
``lyrebird.mulan`` (music–text model), ``lyrebird.index`` (FAISS library search),
``lyrebird.ui`` (Gradio app), ``lyrebird.train`` (training and probes), ``lyrebird.cli``.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lyrebird")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+unknown"
