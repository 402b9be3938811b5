"""avad: audio-visual video anomaly detection (AVadCLIP / VadCLIP) on a frozen CLIP.

The same engine as the ``avad`` command line, over numpy arrays:

- :class:`Encoders` — CLIP + Wav2CLIP features of a video, identical to ``avad extract``'s files;
- :class:`Model` — a checkpoint or bundle; :meth:`Model.predict` is ``avad predict`` for one video;
- :func:`detect` — ``avad detect --json`` as a dict;
- :mod:`avad.metrics` — AP, ROC-AUC, PR-AUC and XD-Violence mAP@IoU, identical to ``avad eval``;
- :func:`list_videos`, :func:`verify_done`, :func:`write_lists` — the pieces of ``avad extract`` that distributed
  extraction needs (``examples/ray_extract.py``).

Errors are :class:`AvadError` (a ``RuntimeError``) with the command line's message, naming the file. Every
computation releases the GIL, so Python threads run in parallel. See ``docs/python.md``.
"""

from . import metrics
from ._avad import (
    AvadError,
    Encoders,
    Model,
    __version__,
    detect,
    list_videos,
    set_threads,
    verify_done,
    video_name,
    write_lists,
)

__all__ = [
    "AvadError",
    "Encoders",
    "Model",
    "__version__",
    "detect",
    "list_videos",
    "metrics",
    "set_threads",
    "verify_done",
    "video_name",
    "write_lists",
]
