"""Bad inputs raise exceptions that name the file, with the CLI's message text."""

from __future__ import annotations

import numpy as np
import pytest

import avad
from conftest import MAX_SNIPPETS, cli_error, run_cli


def test_error_type():
    assert issubclass(avad.AvadError, RuntimeError)


def test_missing_model_file(avad_bin, tmp_path):
    missing = tmp_path / "nope" / "model.json"
    with pytest.raises(avad.AvadError) as e:
        avad.Model.load(missing)
    assert str(missing) in str(e.value)
    lst = tmp_path / "list.csv"
    lst.write_text("path,label\nx__0.npy,A\n")
    p = run_cli(avad_bin, ["predict", "--model", missing, "--list", lst, "--out", tmp_path / "o"], check=False)
    assert p.returncode != 0 and str(e.value) == cli_error(p)


def test_malformed_model_file(tmp_path):
    bad = tmp_path / "model.json"
    bad.write_text("{not json")
    with pytest.raises(avad.AvadError, match=str(bad)):
        avad.Model.load(bad)


def test_missing_encoder_weights(avad_bin, models, clips, tmp_path):
    missing = tmp_path / "no-clip"
    with pytest.raises(avad.AvadError) as e:
        avad.Encoders(missing, models["wav2clip"])
    assert str(missing) in str(e.value)
    lst = tmp_path / "videos.txt"
    lst.write_text(f"{clips[0]}\n")
    p = run_cli(avad_bin, ["extract", "--videos", lst, "--out", tmp_path / "o", "--clip-model", missing,
                           "--wav2clip", models["wav2clip"]], check=False)
    assert p.returncode != 0 and str(e.value) == cli_error(p)
    with pytest.raises(avad.AvadError, match="not-there.pt"):
        avad.Encoders(models["clip"], tmp_path / "not-there.pt")


def test_bad_videos_name_the_file(avad_bin, models, encoders, tmp_path):
    not_media = tmp_path / "notes.mp4"
    not_media.write_text("this is not a video\n")
    missing = tmp_path / "missing.mp4"
    lst = tmp_path / "videos.txt"
    lst.write_text(f"{not_media}\n{missing}\n")
    p = run_cli(avad_bin, ["extract", "--videos", lst, "--out", tmp_path / "cli", "--clip-model", models["clip"],
                           "--wav2clip", models["wav2clip"]], check=False)
    assert p.returncode == 1
    failures = p.stderr.split("failures:\n", 1)[1].splitlines()
    for video in (not_media, missing):
        with pytest.raises(avad.AvadError) as e:
            encoders.extract(video, max_snippets=MAX_SNIPPETS)
        assert str(e.value).startswith(str(video))
        assert f"  {e.value}" in failures, (str(e.value), failures)
        with pytest.raises(avad.AvadError, match=str(video)):
            encoders.extract_to(video, tmp_path / "py")
        with pytest.raises(avad.AvadError, match=str(video)):
            avad.detect(video, models["model"], encoders=encoders)


def test_bad_arguments_are_value_errors(models, encoders, clips):
    with pytest.raises(ValueError, match="crops"):
        encoders.extract(clips[0], crops=3)
    with pytest.raises(ValueError, match="engine"):
        avad.Encoders(models["clip"], models["wav2clip"], engine="gpu")
    with pytest.raises(ValueError, match="uint8"):
        encoders.encode_images(np.zeros((2, 8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="shape"):
        encoders.encode_images(np.zeros((8, 8, 4), np.uint8))
    with pytest.raises(ValueError, match="clip_model"):
        avad.detect(clips[0], models["model"])
    model = avad.Model.load(models["model"])
    with pytest.raises(ValueError, match=r"visual must be a \[T, D\]"):
        model.predict(np.zeros(24, np.float32))
    with pytest.raises(ValueError, match="audio has 3 rows but visual has 4"):
        model.predict(np.zeros((4, 24), np.float32), np.zeros((3, 512), np.float32))
    with pytest.raises(ValueError, match="lookahead needs live_window"):
        model.predict(np.zeros((4, 24), np.float32), np.zeros((4, 512), np.float32), lookahead=1)


def test_model_errors_are_the_cli_messages(models):
    model = avad.Model.load(models["model"])
    with pytest.raises(avad.AvadError, match="not a multiple of D = 24"):
        model.predict(np.zeros((4, 23), np.float32), np.zeros((4, 512), np.float32))
    with pytest.raises(avad.AvadError, match="the teacher needs audio"):
        model.predict(np.zeros((4, 24), np.float32))


def test_eval_errors_name_the_file(avad_bin, tmp_path):
    lst = tmp_path / "test.csv"
    lst.write_text("path,label\n/x/v1__0.npy,A\n")
    ann = tmp_path / "annotations.txt"
    ann.write_text("")
    scores = tmp_path / "scores"
    scores.mkdir()
    with pytest.raises(avad.AvadError) as e:
        avad.metrics.evaluate(scores, lst, ann)
    assert str(scores / "v1.npy") in str(e.value)
    p = run_cli(avad_bin, ["eval", "--scores", scores, "--list", lst, "--annotations", ann], check=False)
    assert p.returncode != 0 and str(e.value) == cli_error(p)
    with pytest.raises(avad.AvadError, match="v1"):
        avad.metrics.evaluate({}, lst, ann)
    np.save(scores / "v1.npy", np.full((3, 7), np.nan, np.float32))
    with pytest.raises(avad.AvadError, match="non-finite"):
        avad.metrics.evaluate(scores, lst, ann)
    with pytest.raises(avad.AvadError, match="non-finite"):
        avad.metrics.evaluate({"v1": np.full((3, 7), np.nan)}, lst, ann)
    with pytest.raises(avad.AvadError, match=str(tmp_path / "missing.csv")):
        avad.metrics.evaluate(scores, tmp_path / "missing.csv", ann)
