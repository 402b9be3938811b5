"""The package's outputs equal the CLI's on the shared fixtures: extract (values and files, 1 and 10 crops),
predict, detect (JSON and CSV) and eval (folder and in-memory scores)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest

import avad
from conftest import MAX_SNIPPETS, run_cli


def _files(d: Path):
    return sorted(p.relative_to(d) for p in d.rglob("*.npy"))


def test_extract_values_equal_the_cli_files(encoders, clips, cli_extract):
    for clip in clips:
        name = avad.video_name(clip)
        f = encoders.extract(clip, max_snippets=MAX_SNIPPETS)
        visual = np.load(cli_extract / "visual" / f"{name}__0.npy")
        assert f["visual"].dtype == np.float32 and f["visual"].shape == visual.shape
        assert f["visual"].tobytes() == visual.tobytes(), name
        assert f["visual_crops"][0] is f["visual"]
        marker = json.loads((cli_extract / "done" / f"{name}.json").read_text())
        assert f["t"] == marker["t"] and f["width"] == marker["width"] == 24
        assert f["audio_state"] == marker["audio"]
        audio_file = cli_extract / "audio" / f"{name}.npy"
        if marker["audio"] == "none":
            assert f["audio"] is None and not audio_file.exists()
        else:
            audio = np.load(audio_file)
            assert f["audio"].shape == (f["t"], 512)
            assert f["audio"].tobytes() == audio.tobytes(), name
        assert f["start_s"].shape == f["end_s"].shape == (f["t"],)
        assert np.all(f["end_s"] > f["start_s"])


def test_extract_to_writes_the_cli_files_and_lists(encoders, clips, cli_extract, tmp_path):
    out = tmp_path / "out"
    for clip in clips:
        r = encoders.extract_to(clip, out, max_snippets=MAX_SNIPPETS)
        assert r["outcome"] == "done" and r["video"] == avad.video_name(clip)
    assert _files(out) == _files(cli_extract)
    for rel in _files(out):
        assert (out / rel).read_bytes() == (cli_extract / rel).read_bytes(), rel
    # A second call skips, as a rerun of `avad extract` does; other settings redo.
    assert encoders.extract_to(clips[0], out, max_snippets=MAX_SNIPPETS)["outcome"] == "skipped"
    assert avad.verify_done(out, clips[1], max_snippets=MAX_SNIPPETS)["t"] == MAX_SNIPPETS
    assert avad.verify_done(out, clips[1], max_snippets=MAX_SNIPPETS + 1) is None
    lists = avad.write_lists(out, clips, max_snippets=MAX_SNIPPETS)
    assert lists["missing"] == []
    for key, name in [("list", "list.csv"), ("visual_only_list", "list_visual_only.csv")]:
        ours = Path(lists[key]).read_text().replace(str(out.resolve()), "OUT")
        theirs = (cli_extract / name).read_text().replace(str(cli_extract.resolve()), "OUT")
        assert ours == theirs, name


def test_ten_crops_equal_the_cli(avad_bin, models, encoders, clips, tmp_path):
    clip = clips[0]
    lst = tmp_path / "one.txt"
    lst.write_text(f"{clip}\n")
    out = tmp_path / "out10"
    run_cli(avad_bin, ["extract", "--videos", lst, "--out", out, "--clip-model", models["clip"], "--wav2clip",
                       models["wav2clip"], "--max-snippets", 3, "--crops", 10])
    f = encoders.extract(clip, crops=10, max_snippets=3)
    assert len(f["visual_crops"]) == 10
    name = avad.video_name(clip)
    for c, arr in enumerate(f["visual_crops"]):
        assert arr.tobytes() == np.load(out / "visual" / f"{name}__{c}.npy").tobytes(), c


def test_predict_equals_the_cli(avad_bin, models, clips, cli_extract, tmp_path):
    scores = tmp_path / "scores"
    run_cli(avad_bin, ["predict", "--model", models["model"], "--list", cli_extract / "list.csv", "--out", scores,
                       "--c-branch"])
    model = avad.Model.load(models["model"])
    assert model.members == ["teacher"] and not model.is_bundle
    scored_by = {r["video"]: r for r in csv.DictReader(io.StringIO((scores / "scored_by.csv").read_text()))}
    assert scored_by, "the list has videos with audio"
    for name, row in scored_by.items():
        visual = np.load(cli_extract / "visual" / f"{name}__0.npy")
        audio = np.load(cli_extract / "audio" / f"{name}.npy")
        r = model.predict(visual, audio)
        probs = np.load(scores / f"{name}.npy")
        assert r["probs"].dtype == np.float32 and r["probs"].tobytes() == probs.tobytes(), name
        assert r["anomaly_score"].tobytes() == np.load(scores / "c_branch" / f"{name}.npy").tobytes()
        assert (r["model"], r["reason"]) == (row["model"], row["reason"])
        assert r["class_names"] == model.class_names and probs.shape[1] == len(model.class_names)
        # float64 and non-contiguous inputs are converted, with the same result.
        again = model.predict(np.asfortranarray(visual.astype(np.float64)), audio.astype(np.float64))
        assert np.array_equal(again["probs"], r["probs"])


def test_detect_equals_the_cli(avad_bin, models, encoders, clips, tmp_path):
    clip = clips[0]
    cli_csv = tmp_path / "cli.csv"
    p = run_cli(avad_bin, ["detect", clip, "--model", models["model"], "--clip-model", models["clip"], "--wav2clip",
                           models["wav2clip"], "--max-snippets", MAX_SNIPPETS, "--json", "--csv", cli_csv])
    want = json.loads(p.stdout)
    py_csv = tmp_path / "py.csv"
    html = tmp_path / "report.html"
    got = avad.detect(clip, model=models["model"], clip_model=models["clip"], wav2clip=models["wav2clip"],
                      max_snippets=MAX_SNIPPETS, csv=py_csv, html=html)
    assert got == want
    assert py_csv.read_bytes() == cli_csv.read_bytes()
    assert html.read_text().startswith("<!DOCTYPE html>") or "<html" in html.read_text()[:200]
    # Loaded objects give the same report.
    model = avad.Model.load(models["model"])
    assert avad.detect(clip, model, encoders=encoders, max_snippets=MAX_SNIPPETS) == want


@pytest.fixture(scope="module")
def synth(avad_bin, tmp_path_factory):
    d = tmp_path_factory.mktemp("synth")
    run_cli(avad_bin, ["synth", "--out", d, "--seed", "11", "--train", "2", "--test", "16", "--max-len", "120"])
    rows = list(csv.DictReader(io.StringIO((d / "test.csv").read_text())))
    rng = np.random.default_rng(5)
    scores = {}
    for r in rows:
        name = avad.video_name(r["path"]).rsplit("__", 1)[0]
        if name in scores:
            continue
        t = np.load(d / r["path"]).shape[0]
        logits = rng.normal(size=(t, 7)).astype(np.float32)
        p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        scores[name] = p.astype(np.float32)
    sdir = d / "scores"
    sdir.mkdir()
    for name, p in scores.items():
        np.save(sdir / f"{name}.npy", p)
    return d, sdir, scores


@pytest.mark.parametrize("extra", [[], ["--skip-empty-classes"], ["--snippet-frames", "8"]])
def test_eval_equals_the_cli(avad_bin, synth, extra):
    d, sdir, scores = synth
    args = ["eval", "--scores", sdir, "--list", d / "test.csv", "--annotations", d / "annotations_multiclasses.txt",
            "--json", *extra]
    want = json.loads(run_cli(avad_bin, args).stdout)
    kw = {"skip_empty_classes": "--skip-empty-classes" in extra,
          "snippet_frames": 8 if "--snippet-frames" in extra else 16}
    lst, ann = d / "test.csv", d / "annotations_multiclasses.txt"
    assert avad.metrics.evaluate(sdir, lst, ann, **kw) == want
    assert avad.metrics.evaluate(scores, lst, ann, **kw) == want
    assert want["map"] is not None and 0.0 <= want["ap"] <= 1.0


def test_eval_of_anomaly_scores_and_frame_metrics(avad_bin, synth, tmp_path):
    d, _, scores = synth
    one_d = {k: avad.metrics.anomaly_scores(v) for k, v in scores.items()}
    sdir = tmp_path / "one_d"
    sdir.mkdir()
    for k, v in one_d.items():
        np.save(sdir / f"{k}.npy", v)
    args = ["eval", "--scores", sdir, "--list", d / "test.csv", "--annotations", d / "annotations.txt", "--json"]
    want = json.loads(run_cli(avad_bin, args).stdout)
    assert avad.metrics.evaluate(one_d, d / "test.csv", d / "annotations.txt") == want
    assert want["map"] is None and want["notes"]
    # The frame metrics on flat arrays.
    labels = np.array([0, 0, 1, 1, 0, 1])
    perfect = np.array([0.1, 0.2, 0.9, 0.8, 0.3, 0.7])
    assert avad.metrics.average_precision(labels, perfect) == pytest.approx(1.0)
    assert avad.metrics.roc_auc(labels, perfect) == pytest.approx(1.0)
    assert avad.metrics.roc_auc(labels, 1 - perfect) == pytest.approx(0.0)
    assert 0.0 < avad.metrics.pr_auc(labels, 1 - perfect) < 1.0
    assert avad.metrics.frame_scores(np.array([[0.25, 0.75]], np.float32), 4).tolist() == [0.75] * 4


def test_encode_images_and_audio(models, encoders):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(3, 40, 60, 3), dtype=np.uint8)
    emb = encoders.encode_images(images)
    assert emb.shape == (3, 24) and emb.dtype == np.float32
    assert np.array_equal(encoders.encode_images(images[1]), emb[1:2])
    ref = avad.Encoders(models["clip"], models["wav2clip"], engine="reference")
    assert ref.engine == "reference"
    assert np.abs(ref.encode_images(images) - emb).max() < 1e-4
    audio = rng.normal(scale=0.1, size=(4, 16000)).astype(np.float32)
    a = encoders.encode_audio(audio, 16000)
    assert a.shape == (4, 512)
    assert np.abs(ref.encode_audio(audio, 16000) - a).max() < 1e-4
    # Resampling to 16 kHz first.
    assert encoders.encode_audio(rng.normal(size=44100).astype(np.float32), 44100).shape == (1, 512)


def test_encode_audio_equals_avad_wav2clip(avad_bin, models):
    """Utterance mode of `avad wav2clip` (reference engine) on a WAV file read with the standard library."""
    import wave

    path = Path(__file__).resolve().parents[2] / "fixtures" / "media" / "ibm_gunshots.wav"
    with wave.open(str(path)) as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1
        rate = w.getframerate()
        samples = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768.0
    want = np.array(json.loads(run_cli(avad_bin, ["wav2clip", "--model", models["wav2clip"], "--audio", path,
                                                  "--json"]).stdout)["embeds"], dtype=np.float32)
    ref = avad.Encoders(models["clip"], models["wav2clip"], engine="reference")
    got = ref.encode_audio(samples, rate)
    assert got.shape == want.shape == (1, 512)
    assert np.abs(got - want).max() < 1e-5
