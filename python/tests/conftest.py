"""Shared fixtures: the CLI under comparison, small random-weight models, and fixture clips.

The package is compared with the `avad` binary built from the same tree (``$AVAD_BIN``, else
``$CARGO_TARGET_DIR/release/avad``, else ``target/release/avad``); the test models are written by the
``make_test_models`` example (``$AVAD_MAKE_TEST_MODELS`` or ``<target>/release/examples/make_test_models``): a tiny
random AVadCLIP teacher of width 24, Wav2CLIP's deterministic formula weights, and the tiny CLIP fixture
``fixtures/clip/tiny_hf`` (24-d). ``scripts/test_python.sh`` builds all of them.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Dict, List, Sequence

import pytest

ROOT = Path(__file__).resolve().parents[2]
MEDIA = ROOT / "fixtures" / "media"
# Clips with audio, with audio that turns silent, and without an audio stream; 5 snippets each keep the runs short.
CLIPS = ["moviepy_fire2.mp4", "moviepy_video_with_failing_audio.mp4", "moviepy_test_video_1x1.mp4"]
MAX_SNIPPETS = 5


def _target() -> Path:
    t = Path(os.environ.get("CARGO_TARGET_DIR", "target"))
    return t if t.is_absolute() else ROOT / t


def _binary(env: str, rel: str) -> Path:
    p = Path(os.environ[env]) if os.environ.get(env) else _target() / rel
    if not p.is_file():
        pytest.fail(f"{p} is missing: build it first (scripts/test_python.sh does), or set ${env}")
    return p


@pytest.fixture(scope="session")
def avad_bin() -> Path:
    return _binary("AVAD_BIN", "release/avad")


def run_cli(avad_bin: Path, args: Sequence[object], check: bool = True) -> subprocess.CompletedProcess:
    """Runs ``avad ARGS``; with ``check`` fails the test (showing stderr) unless it succeeds."""
    p = subprocess.run([str(avad_bin), *map(str, args)], capture_output=True, text=True)
    if check and p.returncode != 0:
        pytest.fail(f"avad {' '.join(map(str, args))} failed ({p.returncode}):\n{p.stderr}")
    return p


def cli_error(p: subprocess.CompletedProcess) -> str:
    """The message of the CLI's last ``error: ...`` line."""
    lines = [l for l in p.stderr.splitlines() if l.startswith("error: ")]
    assert lines, p.stderr
    return lines[-1][len("error: ") :]


@pytest.fixture(scope="session")
def models(tmp_path_factory) -> Dict[str, Path]:
    """``model`` (teacher checkpoint JSON), ``wav2clip``, ``clip``: the tiny test models."""
    make = _binary("AVAD_MAKE_TEST_MODELS", "release/examples/make_test_models")
    d = tmp_path_factory.mktemp("models")
    out = subprocess.run([str(make), str(d), "24"], capture_output=True, text=True, check=True)
    return {
        "model": Path(out.stdout.strip().splitlines()[-1]),
        "wav2clip": d / "wav2clip_formula.safetensors",
        "clip": ROOT / "fixtures" / "clip" / "tiny_hf",
    }


@pytest.fixture(scope="session")
def encoders(models):
    import avad

    return avad.Encoders(models["clip"], models["wav2clip"])


@pytest.fixture(scope="session")
def clips() -> List[Path]:
    return [MEDIA / c for c in CLIPS]


@pytest.fixture(scope="session")
def cli_extract(avad_bin, models, clips, tmp_path_factory) -> Path:
    """``avad extract`` of the clips (5 snippets each): the folder it wrote."""
    d = tmp_path_factory.mktemp("cli-extract")
    lst = d / "videos.txt"
    lst.write_text("".join(f"{c}\n" for c in clips))
    out = d / "out"
    run_cli(
        avad_bin,
        ["extract", "--videos", lst, "--out", out, "--clip-model", models["clip"], "--wav2clip", models["wav2clip"],
         "--max-snippets", MAX_SNIPPETS],
    )
    return out
