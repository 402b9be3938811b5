#!/usr/bin/env python3
"""Reference fixtures for `crates/avad-wav2clip`: the `wav2clip` package's own model code with formula weights.

Run (rerunnable, deterministic, CPU only, no network):

    python3 tools/make_wav2clip_fixtures.py --out fixtures/wav2clip [--full-pt /tmp/w2c_formula.pt]

Needs: torch, torchaudio, librosa, numpy, safetensors and the PyPI package `wav2clip` 0.1.0 (MIT,
https://github.com/descriptinc/lyrebird-wav2clip; installed into the venv, never copied into this project). The model
is built with `wav2clip.model.encoder.ResNetExtractor` (the class `wav2clip.get_model` uses), so the spectrogram,
log, whole-batch standardisation, ResNet-18, MLP head and `librosa.util.frame` framing are the package's own code.

Weights: NO real weights are downloaded. Every tensor of the state dict (same key layout as the released
`Wav2CLIP.pt`: `audio_encoder.*` + `audio_transform.*`) is filled from a tiny integer formula that the Rust tests
reproduce bit for bit (`crates/avad-wav2clip/src/testing.rs`), so the ~45 MB of ResNet-18 weights never need to be
committed:

    seed = FNV-1a-64(key bytes)
    x_i  = splitmix64_finalise(seed XOR ((i + 1) * 0x9E3779B97F4A7C15 mod 2^64)),  i = flat index
    u_i  = (x_i >> 40) / 2^24            (exact in f32, in [0, 1))
    r_i  = 2 u_i - 1                     (exact in f32, in [-1, 1))
    conv / linear weight: r * f32(sqrt(3 / fan_in))      (uniform with the He-like variance 1/fan_in)
    linear bias:          r * 0.05
    bn weight:            1 + 0.25 r      bn bias: 0.1 r
    bn running_mean:      0.2 r           bn running_var: 1 + 0.5 r   (non-trivial eval statistics)
    num_batches_tracked:  1000 (int64)    spectrogram.window: torch's periodic Hann(512), unchanged
Every float value is computed in f32 and then rounded to f16 (so "f16-stored weights" are exact), and the model runs
in f32 with those values.

librosa: wav2clip 0.1.0 passes `frame_length`/`hop_length` to `librosa.util.frame` positionally, which librosa
>= 0.10 rejects; the script wraps that one function to forward them as keywords (same framing).

torchaudio: the venv's torchaudio 2.11 refuses to import next to torch 2.15 only because of a CUDA-version check of
its (unused) compiled extension; `Spectrogram` itself is pure Python over `torch.stft`. The script hides
`torch.version.cuda` during the import so the check is skipped (no behaviour of the transform changes).

Output (`--out`):
  * `reference.safetensors` (f32):
      `signal.<name>` [L]                    test waveform at 16 kHz (chirp: 2.5 s chirp + noise; clicks: 1.708 s
                                             tone bursts + clicks + noise; silence: 1 s of zeros)
      `spec.<name>` [257, T]                 the standardised log-spectrogram fed to conv1 (utterance mode, batch 1)
      `spec64.<name>` [257, T]               the same, from the package code run in float64 (`model.double()`)
      `frame_spec64.<name>` [n, 257, Tf]     frame-batch spectrogram, float64 run
      `utt.<name>` [512]                     utterance embedding (post-MLP, as `get_model()` with transform=True)
      `frame_spec.<name>` [n, 257, Tf]       standardised log-spectrograms of the frame batch (shared normalisation)
      `frames.<name>` [n, 512]               frame-mode embeddings, one row per frame (the package returns
                                             [1, 512, n]; transposed here)
      `frame_cfg.<name>` [2]                 frame_length, hop_length (as f32)
      `utt.silence_torch` [512]              what the package's own arithmetic gives for all-zero audio (informative:
                                             x - mean is rounding noise there, divided by std + 1e-9)
      `utt.silence_defined` [512]            the encoder applied to an all-zero standardised spectrogram: the
                                             behaviour avad defines for a constant spectrogram (std = 0)
  * `partial_state.pt` (~0.6 MB): `torch.save` of an OrderedDict holding a SUBSET of the formula state dict, with
    mixed storage dtypes (window f32, conv1 f32, bn1 f32 + num_batches_tracked int64, sequential.0.weight f16,
    sequential.3.bias f32), to test the PyTorch zip/pickle reader and the "missing tensor" error.
  * `--full-pt PATH` (optional, not committed): the whole formula state dict as a `.pt` (f32), for a manual
    end-to-end check of the `.pt` path with the CLI.
"""

import argparse
import collections
import os
import sys

import numpy as np
import torch

_cuda = torch.version.cuda
torch.version.cuda = None  # skip torchaudio's CUDA-version check (see docstring)
import torchaudio  # noqa: E402,F401

torch.version.cuda = _cuda

import librosa  # noqa: E402
from safetensors.numpy import save_file  # noqa: E402
from wav2clip.model.encoder import ResNetExtractor  # noqa: E402

# wav2clip 0.1.0 calls `librosa.util.frame(x, frame_length, hop_length)` positionally, which librosa >= 0.10 rejects
# (keyword-only). Accept the positional form; the framing itself is librosa's (axis=-1: [F, n] for 1-D input).
_librosa_frame = librosa.util.frame
librosa.util.frame = lambda x, frame_length, hop_length, **kw: _librosa_frame(
    x, frame_length=frame_length, hop_length=hop_length, **kw
)

M64 = (1 << 64) - 1


def fnv1a64(s: str) -> int:
    h = 0xCBF29CE484222325
    for b in s.encode():
        h ^= b
        h = (h * 0x100000001B3) & M64
    return h


def formula_r(key: str, n: int) -> np.ndarray:
    """r_i in [-1, 1) as float32, exactly as the Rust `testing::formula_r`."""
    with np.errstate(over="ignore"):
        i = np.arange(1, n + 1, dtype=np.uint64)
        x = np.uint64(fnv1a64(key)) ^ (i * np.uint64(0x9E3779B97F4A7C15))
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    u = (x >> np.uint64(40)).astype(np.float32) / np.float32(1 << 24)
    return np.float32(2.0) * u - np.float32(1.0)


def formula_value(key: str, shape) -> np.ndarray:
    n = int(np.prod(shape)) if len(shape) else 1
    r = formula_r(key, n)
    if key.endswith("running_mean"):
        v = np.float32(0.2) * r
    elif key.endswith("running_var"):
        v = np.float32(1.0) + np.float32(0.5) * r
    elif ".bn" in key or ".downsample.1." in key:
        v = np.float32(1.0) + np.float32(0.25) * r if key.endswith("weight") else np.float32(0.1) * r
    elif key.endswith("bias"):
        v = np.float32(0.05) * r
    else:  # conv / linear weight
        fan_in = int(np.prod(shape[1:]))
        v = r * np.float32(np.sqrt(3.0 / fan_in))
    return v.astype(np.float16).astype(np.float32).reshape(shape)


def build_model(frame_length=None, hop_length=None):
    skeleton = ResNetExtractor(scenario="supervise", transform=False)
    mlp = __import__("wav2clip.model.encoder", fromlist=["MLPLayers"]).MLPLayers([512, 512, 512], dropout=0.1)
    sd = collections.OrderedDict()
    for k, v in skeleton.encoder.state_dict().items():
        sd["audio_encoder." + k] = v
    for k, v in mlp.state_dict().items():
        sd["audio_transform." + k] = v
    out = collections.OrderedDict()
    for k, v in sd.items():
        if k.endswith("num_batches_tracked"):
            out[k] = torch.tensor(1000, dtype=torch.int64)
        elif k.endswith("spectrogram.window"):
            out[k] = v.clone()
        else:
            out[k] = torch.from_numpy(formula_value(k, tuple(v.shape)).copy())
    model = ResNetExtractor(
        checkpoint=out, scenario="frozen", transform=True, frame_length=frame_length, hop_length=hop_length
    )
    model.eval()
    return model, out


def signals():
    sr = 16000
    rng = np.random.default_rng(20261123)
    t = np.arange(int(2.5 * sr)) / sr
    f0, f1 = 100.0, 6000.0
    chirp = 0.5 * np.sin(2 * np.pi * (f0 * t + (f1 - f0) / (2 * 2.5) * t**2)) + 0.05 * rng.standard_normal(len(t))
    n = 27331  # odd length: 1.708 s
    t = np.arange(n) / sr
    clicks = 0.3 * np.sin(2 * np.pi * 440 * t) * (np.sin(2 * np.pi * 3 * t) > 0)
    clicks[::2000] += 0.9
    clicks += 0.02 * rng.standard_normal(n)
    silence = np.zeros(sr)
    return {
        "chirp": (chirp.astype(np.float32), 16000, 8000),
        "clicks": (clicks.astype(np.float32), 10667, 10667),
        "silence": (silence.astype(np.float32), 8000, 8000),
    }


def capture_conv1_input(model, x):
    got = []
    h = model.encoder.conv1.register_forward_hook(lambda m, inp, out: got.append(inp[0].detach().clone()))
    with torch.no_grad():
        y = model(x)
    h.remove()
    return got[0], y


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="fixtures/wav2clip")
    ap.add_argument("--full-pt", default=None)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(0)

    model, sd = build_model()
    ref = {}
    for name, (sig, fl, hl) in signals().items():
        ref[f"signal.{name}"] = sig
        x = torch.from_numpy(sig)[None, :]
        spec, utt = capture_conv1_input(model, x)
        fmodel, _ = build_model(frame_length=fl, hop_length=hl)
        fspec, frames = capture_conv1_input(fmodel, x)
        n_expected = 1 + (len(sig) - fl) // hl
        assert frames.shape == (1, 512, n_expected), frames.shape
        assert librosa.util.frame(sig, frame_length=fl, hop_length=hl).shape[1] == n_expected
        ref[f"frame_cfg.{name}"] = np.array([fl, hl], dtype=np.float32)
        if name == "silence":
            ref["utt.silence_torch"] = utt[0].numpy()
            with torch.no_grad():
                z = torch.zeros_like(spec)
                e = model.encoder
                h = e.maxpool(e.relu(e.bn1(e.conv1(z))))
                h = e.avgpool(e.layer4(e.layer3(e.layer2(e.layer1(h))))).reshape(1, -1)
                ref["utt.silence_defined"] = model.transform(h)[0].numpy()
            continue
        ref[f"spec.{name}"] = spec[0, 0].numpy()
        # The same package code run in float64 (model.double()): isolates torch's own f32 STFT rounding, which is
        # amplified by log(x + 1e-7) in bins with near-zero power (see the Rust parity test).
        spec64, _ = capture_conv1_input(model.double(), x.double())
        fspec64, _ = capture_conv1_input(fmodel.double(), x.double())
        model.float()
        ref[f"spec64.{name}"] = spec64[0, 0].numpy()
        ref[f"frame_spec64.{name}"] = fspec64[:, 0].numpy()
        print(f"{name}: package f32 vs f64 standardised log-spectrogram max abs diff "
              f"{(spec.double() - spec64).abs().max():.2e}, frames {(fspec.double() - fspec64).abs().max():.2e}")
        ref[f"utt.{name}"] = utt[0].numpy()
        ref[f"frame_spec.{name}"] = fspec[:, 0].numpy()
        ref[f"frames.{name}"] = frames[0].T.contiguous().numpy()
        print(
            f"{name}: L={len(sig)} spec {tuple(spec.shape)} |utt|max={utt.abs().max():.3f} "
            f"frames {tuple(frames.shape)} |frames|max={frames.abs().max():.3f}"
        )
    print("silence torch |utt|max", np.abs(ref["utt.silence_torch"]).max(),
          "defined |utt|max", np.abs(ref["utt.silence_defined"]).max())
    save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in ref.items()},
              os.path.join(args.out, "reference.safetensors"))

    subset = collections.OrderedDict()
    for k in [
        "audio_encoder.spectrogram.window",
        "audio_encoder.conv1.weight",
        "audio_encoder.bn1.weight",
        "audio_encoder.bn1.bias",
        "audio_encoder.bn1.running_mean",
        "audio_encoder.bn1.running_var",
        "audio_encoder.bn1.num_batches_tracked",
    ]:
        subset[k] = sd[k].clone()
    subset["audio_transform.sequential.0.weight"] = sd["audio_transform.sequential.0.weight"].clone().half()
    subset["audio_transform.sequential.3.bias"] = sd["audio_transform.sequential.3.bias"].clone()
    torch.save(subset, os.path.join(args.out, "partial_state.pt"))
    if args.full_pt:
        torch.save(collections.OrderedDict((k, v.clone()) for k, v in sd.items()), args.full_pt)
    print("wrote", args.out, file=sys.stderr)


if __name__ == "__main__":
    main()
