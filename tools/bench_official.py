#!/usr/bin/env python3
r"""PyTorch side of `avad bench`: times the official VadCLIP / AVadCLIP code and Hugging Face CLIP on the same
workloads, so the two can be compared as ratios on one machine (docs/benchmarks.md).

    /work/venv/bin/python tools/bench_official.py --vadclip PATH --avadclip PATH \
        [--device cpu|cuda] [--threads N] [--workload NAME]... [--batch 96] [--clip-batch 256] [--wav2clip-batch 32] \
        [--iters 10] [--warmup 2] [--clip-dtypes fp32,fp16,bf16] [--json [FILE]] [--out FILE] \
        [--compare AVAD_JSON]

PATH is a checkout of nwpu-zxr/VadCLIP or WanshunSu/AVadCLIP, or its `src/` folder; the official code is imported
from there at run time (never copied into this project). Needs torch, transformers, numpy, scipy, ftfy, regex,
pillow and torchvision (the upstream `clip` package imports them) — tools/requirements.txt; no network: every model has seeded random weights of the official sizes.

Workloads (names as in `avad bench`; inputs are created on the device once, before the clock starts):
  train-teacher   one step of the training loop of AVadCLIP `src/xd_train_t.py` on `AVADCLIP` (`src/model_t.py`):
                  get_batch_label, forward on [B, 256, 512] visual + audio, CLAS2 and focal CLASM (the official
                  function bodies, with their `.item()` reads), the inline loss3, backward, torch.optim.AdamW
                  (lr 1e-5). Official sizes (xd_option.py): 2 layers, 1 head, window 4, prompt 10 + 10.
  train-vadclip   the same for VadCLIP `src/xd_train.py` on `CLIPVAD` (`src/model.py`): 1 layer, window 64.
  predict-chunk   the body of the official test loop (`src/xd_test_t.py`) for one 256-snippet chunk [1, 256, 512] of
                  the teacher: features to the device, get_batch_mask, forward (which re-encodes the class prompts
                  through the CLIP text tower on every call), softmax / sigmoid, results to the host. Also reported as
                  `predict-chunk-cached-text`: the same with `encode_textprompt` returning features computed once
                  (what avad's Predictor does).
  clip-image      HF `CLIPVisionModelWithProjection`, ViT-B/16 sizes, random weights, on --clip-batch 224² images
                  under torch.inference_mode(); one entry per dtype of --clip-dtypes (fp16 / bf16 need --device cuda).
  gemm            torch.matmul [N·197, 768] × [768, 3072] (that encoder's largest product), fp32.
  wav2clip        the Wav2CLIP audio encoder on --wav2clip-batch (32) one-second 16 kHz windows under
                  torch.inference_mode(), fp32: the `wav2clip` package's utterance forward (torchaudio Spectrogram
                  n_fft 512 / hop 353, log(x + 1e-7), standardisation over the whole batch, ResNet-18 on one channel,
                  MLP head), random weights of the released sizes (`wav2clip.get_model()` would download
                  Wav2CLIP.pt). The package (PyPI `wav2clip` 0.1.0, with torchaudio and librosa) is used when it
                  imports: `ResNetExtractor(scenario="supervise")` plus its `MLPLayers([512, 512, 512])` head. When it
                  does not (the package, torchaudio or librosa not installed), an equivalent model runs instead and
                  the report says so: torchvision's `resnet18` with a 1-channel 7×7 stem and no `fc` (the package's
                  `resnet.py` is torchvision's ResNet with that stem and the spectrogram in front), the spectrogram
                  by `torch.stft` (center, reflect padding, periodic Hann 512, |X|², what torchaudio's `Spectrogram`
                  calls), and Linear(512, 512) → ReLU → Linear(512, 512). Same shapes and operations: 257 × 46
                  spectrogram per window, ~0.97 GFLOP per window.

Deviations needed to run without weights (as tools/make_model_fixtures.py): `clip.load("ViT-B/16")` returns the
upstream `clip.model.CLIP` class built with the real text-tower sizes (width 512, 12 layers, 8 heads, vocabulary
49408, embed 512) and a tiny image tower (never used by these models), in fp32 as the official `build_model` leaves
it; on the CPU `DistanceAdj`'s literal `.to('cuda')` is redirected to the CPU. The official `--batch` default is 96.

Each timed iteration ends with torch.cuda.synchronize() on CUDA. `--compare AVAD_JSON` (from
`avad bench --json --out AVAD_JSON`) prints a Markdown table of both with the speed-up PyTorch s/iter ÷ avad s/iter.
"""

import argparse
import json
import os
import statistics
import sys
import time

from machine_info import cpu_model

sys.modules.setdefault("torchaudio", None)  # transformers must not import a torchaudio built for another torch

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_model_fixtures as mmf  # noqa: E402  (enter_upstream, extract_functions, CudaToCpu, loss3_of)

T = 256
D = 512
LABEL_MAP = mmf.LABEL_MAP
ANOMALY_CODES = ["B1", "B2", "B4", "B5", "B6", "G"]
WORKLOADS = ["train-teacher", "train-vadclip", "predict-chunk", "clip-image", "gemm", "wav2clip"]
DEFAULT_WORKLOADS = ["train-teacher", "train-vadclip", "predict-chunk", "clip-image", "wav2clip"]


def src_dir(path):
    """A checkout or its src/ folder → the folder holding the official modules."""
    path = os.path.abspath(path)
    for cand in (os.path.join(path, "src"), path):
        if os.path.isfile(os.path.join(cand, "clip", "clip.py")):
            return cand
    raise SystemExit(f"{path}: no official source here (expected src/clip/clip.py or clip/clip.py)")


def valid_length(i):
    """Valid length of row i, the same rule as avad's bench: 256, then values spread over 129..=256."""
    return T - (37 * i) % (T // 2)


def label_string(i):
    """XD label string of row i: even rows normal, odd rows one anomaly class in turn (avad uses the same rule)."""
    return "A" if i % 2 == 0 else f"{ANOMALY_CODES[(i // 2) % 6]}-0-0"


def patch_clip_load(model_module, device):
    """`clip.load("ViT-B/16")` without a download: the upstream CLIP class with the real text-tower sizes."""
    from clip.model import CLIP

    def load(name, device=device, **kw):
        m = CLIP(embed_dim=512, image_resolution=32, vision_layers=1, vision_width=64, vision_patch_size=16,
                 context_length=77, vocab_size=49408, transformer_width=512, transformer_heads=8,
                 transformer_layers=12).to(device)
        if str(device) == "cpu":
            m.float()
        return m, None

    model_module.clip.load = load


class NoPatch:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def device_patch(device):
    """DistanceAdj hard-codes `.to('cuda')`: redirect it on the CPU."""
    return mmf.CudaToCpu() if device == "cpu" else NoPatch()


def build_official(kind, args):
    """The official model (seeded random weights), its loss functions and helpers."""
    torch.manual_seed(234)
    if kind == "vadclip":
        src = src_dir(args.vadclip)
        mmf.enter_upstream(src)
        import model as vad_model
        from utils.tools import get_batch_label, get_batch_mask, get_prompt_text
        patch_clip_load(vad_model, args.device)
        ns = {"torch": torch, "F": F}
        clas2, clasm = mmf.extract_functions(os.path.join(src, "xd_train.py"), ["CLAS2", "CLASM"], ns)
        with device_patch(args.device):
            m = vad_model.CLIPVAD(7, D, T, D, 1, 1, 64, 10, 10, args.device)
    else:
        src = src_dir(args.avadclip)
        mmf.enter_upstream(src)
        import model_t
        from utils.tools import get_batch_label, get_batch_mask, get_prompt_text
        patch_clip_load(model_t, args.device)
        ns = {"torch": torch, "F": F}
        clas2, clasm = mmf.extract_functions(os.path.join(src, "xd_train_t.py"), ["CLAS2", "CLASM"], ns)
        with device_patch(args.device):
            m = model_t.AVADCLIP(7, D, T, D, 1, 2, T, D, 4, 10, 10, args.device)
    m.to(args.device)
    return m, dict(clas2=clas2, clasm=clasm, get_batch_label=get_batch_label, get_batch_mask=get_batch_mask,
                   prompt_text=get_prompt_text(LABEL_MAP))


def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


class Seconds(list):
    """Wall seconds of each timed iteration, plus the process's CPU seconds per iteration (all threads,
    `time.process_time`; like avad bench's `cpu_s_per_iter`, it does not grow with other processes' load)."""
    cpu_s_per_iter = None


def time_iters(args, step):
    for i in range(args.warmup):
        step(i)
        sync(args.device)
    seconds = Seconds()
    cpu0 = time.process_time()
    for i in range(args.iters):
        t0 = time.perf_counter()
        step(args.warmup + i)
        sync(args.device)
        seconds.append(time.perf_counter() - t0)
    seconds.cpu_s_per_iter = (time.process_time() - cpu0) / max(args.iters, 1)
    return seconds


def report(name, description, batch, items, unit, dtype, args, seconds, setup_s):
    med = statistics.median(seconds)
    return dict(name=name, description=description, batch=batch, items_per_iter=float(items), unit=unit,
                dtype=dtype, warmup=args.warmup, seconds=list(seconds), median_s=med,
                mean_s=statistics.fmean(seconds), min_s=min(seconds), max_s=max(seconds),
                throughput_per_s=items / med, setup_s=setup_s,
                cpu_s_per_iter=getattr(seconds, "cpu_s_per_iter", None))


def train_step(args, teacher):
    t0 = time.perf_counter()
    kind = "teacher" if teacher else "vadclip"
    m, fns = build_official(kind, args)
    dev, b = args.device, args.batch
    gen = torch.Generator().manual_seed(args.seed)
    visual = torch.randn(b, T, D, generator=gen).to(dev)  # [B, T, D]
    audio = torch.randn(b, T, D, generator=gen).to(dev) if teacher else None  # [B, T, Da]
    lengths = torch.tensor([valid_length(i) for i in range(b)]).to(dev)
    label_strings = [label_string(i) for i in range(b)]
    prompt_text = fns["prompt_text"]
    optimizer = torch.optim.AdamW(m.parameters(), lr=1e-5)
    m.train()
    setup_s = time.perf_counter() - t0

    def step(_):
        # The body of the official training loop (src/xd_train_t.py / src/xd_train.py), data loading excluded.
        text_labels = fns["get_batch_label"](label_strings, prompt_text, LABEL_MAP).to(dev)
        if teacher:
            _, text_features, logits1, logits2, alpha = m(visual, audio, None, None, prompt_text, lengths)
        else:
            text_features, logits1, logits2 = m(visual, None, prompt_text, lengths)
        loss1 = fns["clas2"](logits1, text_labels, lengths, dev)
        loss1.item()
        if teacher:
            loss2 = fns["clasm"](logits2, text_labels, lengths, dev, alpha)
        else:
            loss2 = fns["clasm"](logits2, text_labels, lengths, dev)
        loss2.item()
        loss3 = mmf.loss3_of(text_features)
        loss = loss1 + loss2 + loss3 * 1e-4
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    with device_patch(dev):
        seconds = time_iters(args, step)
    what = "AVadCLIP teacher (model_t.AVADCLIP, xd_train_t.py)" if teacher else "VadCLIP (model.CLIPVAD, xd_train.py)"
    return [report(f"train-{kind}", f"one official training step of {what}: forward [{b}, {T}, {D}], losses, "
                   f"backward, AdamW", b, b, "videos", "F32", args, seconds, setup_s)]


def predict_chunk(args):
    t0 = time.perf_counter()
    m, fns = build_official("teacher", args)
    dev = args.device
    gen = torch.Generator().manual_seed(args.seed)
    visual_host = torch.randn(1, T, D, generator=gen)  # one chunk as the test loader yields it
    audio_host = torch.randn(1, T, D, generator=gen)
    prompt_text = fns["prompt_text"]
    lengths = torch.tensor([T])
    m.eval()
    setup_s = time.perf_counter() - t0

    def step(_):
        # The body of the official test loop (src/xd_test_t.py) for a video that is one 256-snippet chunk.
        with torch.no_grad():
            visual = visual_host.to(dtype=torch.float32, device=dev)
            audio = audio_host.to(dtype=torch.float32, device=dev)
            padding_mask = fns["get_batch_mask"](lengths, T).to(dev)
            _, _, logits1, logits2, _ = m(visual, audio, padding_mask, padding_mask, prompt_text, lengths)
            logits1 = logits1.reshape(logits1.shape[0] * logits1.shape[1], logits1.shape[2])
            logits2 = logits2.reshape(logits2.shape[0] * logits2.shape[1], logits2.shape[2])
            prob2 = 1 - logits2[0:T].softmax(dim=-1)[:, 0].squeeze(-1)
            prob1 = torch.sigmoid(logits1[0:T].squeeze(-1))
            logits2[0:T].softmax(dim=-1).detach().cpu().numpy()
            prob1.cpu().numpy()
            prob2.cpu().numpy()

    out = []
    with device_patch(dev):
        seconds = time_iters(args, step)
        out.append(report("predict-chunk", "official test-loop body on one 256-snippet chunk of the teacher "
                          "(class prompts re-encoded by the 12-layer CLIP text tower on every call)", 1, T,
                          "snippets", "F32", args, seconds, setup_s))
        with torch.no_grad():
            cached = m.encode_textprompt(prompt_text)
        m.encode_textprompt = lambda text: cached
        seconds = time_iters(args, step)
        out.append(report("predict-chunk-cached-text", "the same with the class text features computed once",
                          1, T, "snippets", "F32", args, seconds, setup_s))
    return out


DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
DTYPE_NAMES = {"fp32": "F32", "fp16": "F16", "bf16": "BF16"}


def vitb16_vision():
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(0)
    cfg = CLIPVisionConfig(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                           image_size=224, patch_size=16, projection_dim=512, hidden_act="quick_gelu")
    return CLIPVisionModelWithProjection(cfg).eval()


def clip_image(args):
    out = []
    n = args.clip_batch
    for name in args.clip_dtypes:
        t0 = time.perf_counter()
        model = vitb16_vision().to(device=args.device, dtype=DTYPES[name])
        x = torch.randn(n, 3, 224, 224, generator=torch.Generator().manual_seed(args.seed))
        x = x.to(device=args.device, dtype=DTYPES[name])
        setup_s = time.perf_counter() - t0

        def step(_):
            with torch.inference_mode():
                model(pixel_values=x).image_embeds.float().cpu()

        seconds = time_iters(args, step)
        suffix = "" if name == "fp32" else f"-{name}"
        out.append(report(f"clip-image{suffix}", f"HF CLIPVisionModelWithProjection ViT-B/16 ({name}, attention "
                          f"{model.config._attn_implementation}) on {n} images", n, n, "images",
                          DTYPE_NAMES[name], args, seconds, setup_s))
    return out


def gemm(args):
    t0 = time.perf_counter()
    m, k, n = args.clip_batch * 197, 768, 3072
    gen = torch.Generator().manual_seed(args.seed)
    a = torch.randn(m, k, generator=gen).to(args.device)
    w = torch.randn(k, n, generator=gen).to(args.device)
    setup_s = time.perf_counter() - t0

    def step(_):
        torch.matmul(a, w).sum().item()

    seconds = time_iters(args, step)
    return [report("gemm", f"torch.matmul [{m}, {k}] x [{k}, {n}]", args.clip_batch, 2 * m * k * n / 1e9,
                   "GFLOP", "F32", args, seconds, setup_s)]


def wav2clip_model():
    """(model, what): the package's model with random weights, or the equivalent one (see the module docstring)."""
    try:
        if sys.modules.get("torchaudio", 0) is None:
            del sys.modules["torchaudio"]  # the guard at the top of this script
        cuda = torch.version.cuda
        torch.version.cuda = None  # torchaudio's CUDA-version check of its unused extension (make_wav2clip_fixtures)
        try:
            import torchaudio  # noqa: F401
        finally:
            torch.version.cuda = cuda
        from wav2clip.model.encoder import MLPLayers, ResNetExtractor

        model = ResNetExtractor(scenario="supervise")
        model.transform = MLPLayers([512, 512, 512], dropout=0.1)
        return model.eval(), "wav2clip package ResNetExtractor + MLPLayers"
    except ImportError as e:
        sys.modules.setdefault("torchaudio", None)  # restore the guard when torchaudio did not import
        reason = f"{type(e).__name__}: {e}"
    import torchvision

    class Equivalent(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = torchvision.models.resnet18()
            self.encoder.conv1 = torch.nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
            self.encoder.fc = torch.nn.Identity()
            self.register_buffer("window", torch.hann_window(512))
            self.transform = torch.nn.Sequential(torch.nn.Linear(512, 512), torch.nn.ReLU(),
                                                 torch.nn.Linear(512, 512))

        def forward(self, x):  # [N, L] → [N, 512]
            spec = torch.stft(x, 512, hop_length=353, window=self.window, center=True, pad_mode="reflect",
                              return_complex=True).abs().pow(2)  # [N, 257, T]
            spec = torch.log(spec + 1e-7)
            spec = (spec - spec.mean()) / (spec.std() + 1e-9)
            return self.transform(self.encoder(spec.unsqueeze(1)))

    return Equivalent().eval(), f"equivalent torchvision ResNet-18 model (package not importable: {reason})"


def wav2clip(args):
    t0 = time.perf_counter()
    torch.manual_seed(args.seed)
    model, what = wav2clip_model()
    model = model.to(args.device)
    n = args.wav2clip_batch
    x = 0.1 * torch.randn(n, 16000, generator=torch.Generator().manual_seed(args.seed))
    x = x.to(args.device)  # [N, 16000]
    setup_s = time.perf_counter() - t0

    def step(_):
        with torch.inference_mode():
            y = model(x).cpu()
        assert y.shape == (n, 512), y.shape

    seconds = time_iters(args, step)
    return [report("wav2clip", f"Wav2CLIP utterance forward (spectrogram, ResNet-18, MLP; {what}) on {n} one-second "
                   "16 kHz windows", n, n, "windows", "F32", args, seconds, setup_s)]


def machine(device):
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return cpu_model(fallback="cpu")


def compare_table(torch_report, avad_path):
    with open(avad_path) as f:
        avad = json.load(f)
    by_name = {w["name"]: w for w in avad["workloads"]}
    lines = [f"PyTorch: {torch_report['tool']} on {torch_report['backend']} ({torch_report['machine']}, "
             f"{torch_report['threads']} threads); avad: {avad['tool']} on {avad['backend']}", "",
             "| workload | batch | PyTorch s/iter (median) | avad s/iter (median) | speed-up (PyTorch ÷ avad) |",
             "|---|---|---|---|---|"]
    if avad.get("config", {}).get("small"):
        lines.insert(1, "WARNING: the avad report ran with --small (tiny models): these ratios mean nothing")
    for w in torch_report["workloads"]:
        base = "predict-chunk" if w["name"].startswith("predict-chunk") else w["name"]
        base = "clip-image" if base.startswith("clip-image") else base
        a = by_name.get(base)
        if a is None:
            lines.append(f"| {w['name']} | {w['batch']} | {w['median_s']:.4f} | — | — |")
            continue
        note = "" if a["batch"] == w["batch"] else f" (avad batch {a['batch']}!)"
        lines.append(f"| {w['name']} | {w['batch']}{note} | {w['median_s']:.4f} | {a['median_s']:.4f} | "
                     f"{w['median_s'] / a['median_s']:.2f} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--vadclip", help="checkout of nwpu-zxr/VadCLIP (or its src/)")
    ap.add_argument("--avadclip", help="checkout of WanshunSu/AVadCLIP (or its src/)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    ap.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's own)")
    ap.add_argument("--workload", action="append", choices=WORKLOADS, dest="workloads")
    ap.add_argument("--batch", type=int, default=96, help="videos per training step (official 96)")
    ap.add_argument("--clip-batch", type=int, default=256, help="images per CLIP batch")
    ap.add_argument("--wav2clip-batch", type=int, default=32, help="one-second windows per Wav2CLIP batch")
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--seed", type=int, default=234)
    ap.add_argument("--clip-dtypes", help="comma-separated subset of fp32,fp16,bf16 (default: fp32 on the CPU, "
                    "all three on CUDA)")
    ap.add_argument("--json", nargs="?", const="-", metavar="FILE",
                    help="print the report as JSON (or, with FILE, write it there as --out does)")
    ap.add_argument("--out", help="also write the JSON report to this file")
    ap.add_argument("--compare", metavar="AVAD_JSON", help="print a ratio table against `avad bench --out` JSON")
    args = ap.parse_args()
    if args.json not in (None, "-"):
        args.out, args.json = args.out or args.json, None
    args.workloads = args.workloads or DEFAULT_WORKLOADS
    if args.iters < 1:
        ap.error("--iters must be at least 1")
    if args.device != "cpu" and not args.device.startswith("cuda"):
        ap.error(f"unknown device {args.device!r} (cpu or cuda[:N])")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        ap.error("--device cuda: this torch sees no CUDA device")
    cuda = args.device.startswith("cuda")
    args.clip_dtypes = (args.clip_dtypes or ("fp32,fp16,bf16" if cuda else "fp32")).split(",")
    for d in args.clip_dtypes:
        if d not in DTYPES:
            ap.error(f"unknown dtype {d!r} in --clip-dtypes")
        if d != "fp32" and not cuda:
            ap.error(f"--clip-dtypes {d} needs --device cuda")
    needs = {"train-vadclip": "vadclip", "train-teacher": "avadclip", "predict-chunk": "avadclip"}
    for w in args.workloads:
        if w in needs and not getattr(args, needs[w]):
            ap.error(f"workload {w} needs --{needs[w]} PATH")
    if args.threads:
        torch.set_num_threads(args.threads)

    results = []
    for w in args.workloads:
        print(f"bench {w} ...", file=sys.stderr, flush=True)
        if w == "train-teacher":
            results += train_step(args, teacher=True)
        elif w == "train-vadclip":
            results += train_step(args, teacher=False)
        elif w == "predict-chunk":
            results += predict_chunk(args)
        elif w == "clip-image":
            results += clip_image(args)
        elif w == "gemm":
            results += gemm(args)
        elif w == "wav2clip":
            results += wav2clip(args)
    import transformers

    rep = dict(tool=f"PyTorch {torch.__version__} (official code; transformers {transformers.__version__})",
               backend=f"torch {args.device}", machine=machine(args.device), threads=torch.get_num_threads(),
               config=dict(workloads=args.workloads, batch=args.batch, clip_batch=args.clip_batch,
                           wav2clip_batch=args.wav2clip_batch,
                           iters=args.iters, warmup=args.warmup, seed=args.seed, clip_dtypes=args.clip_dtypes),
               workloads=results)
    text = json.dumps(rep, indent=2)
    if args.out:
        tmp = args.out + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, args.out)
    if args.json:
        print(text)
    else:
        print(f"{rep['tool']} on {rep['backend']} ({rep['machine']}, {rep['threads']} threads)")
        print(f"{'workload':<27} {'batch':>6} {'iters':>5} {'median ms':>11} {'mean ms':>11} {'min ms':>11} "
              f"{'cpu ms':>11}  throughput")
        for r in results:
            cpu = "-" if r.get("cpu_s_per_iter") is None else f"{1e3 * r['cpu_s_per_iter']:.2f}"
            print(f"{r['name']:<27} {r['batch']:>6} {len(r['seconds']):>5} {1e3 * r['median_s']:>11.2f} "
                  f"{1e3 * r['mean_s']:>11.2f} {1e3 * r['min_s']:>11.2f} {cpu:>11}  "
                  f"{r['throughput_per_s']:.2f} {r['unit']}/s")
    if args.compare:
        print()
        print(compare_table(rep, args.compare))


if __name__ == "__main__":
    main()
