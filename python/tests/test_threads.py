"""The GIL is released while avad computes: four threads calling `predict` (and `extract`) at once give the
results one thread gives."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

import avad
from conftest import MAX_SNIPPETS


def test_four_threads_predict_like_one(models):
    model = avad.Model.load(models["model"])
    rng = np.random.default_rng(1)
    inputs = [
        (rng.normal(size=(t, 24)).astype(np.float32), rng.normal(size=(t, 512)).astype(np.float32))
        for t in (7, 40, 300, 600)
    ]
    alone = [model.predict(v, a) for v, a in inputs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        for _ in range(3):
            together = list(pool.map(lambda va: model.predict(*va), inputs))
            for a, b in zip(alone, together):
                assert a["probs"].tobytes() == b["probs"].tobytes()
                assert a["anomaly_score"].tobytes() == b["anomaly_score"].tobytes()


def test_threads_extract_like_one(encoders, clips):
    alone = [encoders.extract(c, max_snippets=MAX_SNIPPETS) for c in clips]
    with ThreadPoolExecutor(max_workers=len(clips)) as pool:
        together = list(pool.map(lambda c: encoders.extract(c, max_snippets=MAX_SNIPPETS), clips))
    for a, b in zip(alone, together):
        assert a["visual"].tobytes() == b["visual"].tobytes()
        assert (a["audio"] is None) == (b["audio"] is None)
        if a["audio"] is not None:
            assert a["audio"].tobytes() == b["audio"].tobytes()


def test_predict_releases_the_gil(models):
    """A pure-Python thread keeps running while predict computes on another."""
    import threading

    model = avad.Model.load(models["model"])
    v = np.random.default_rng(2).normal(size=(2048, 24)).astype(np.float32)
    a = np.random.default_rng(3).normal(size=(2048, 512)).astype(np.float32)
    ticks = []
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            ticks.append(1)

    t = threading.Thread(target=spin)
    t.start()
    try:
        before = len(ticks)
        for _ in range(5):
            model.predict(v, a)
        during = len(ticks) - before
    finally:
        stop.set()
        t.join()
    assert during > 0
