#!/usr/bin/env python3
"""Reference fixtures for `crates/avad-model`: the official VadCLIP / AVadCLIP PyTorch models, seeded.

Run (rerunnable, deterministic, CPU only, no network):

    python3 tools/make_model_fixtures.py \
        --vadclip /path/to/VadCLIP --avadclip /path/to/AVadCLIP --out fixtures/model

Needs: torch, safetensors, numpy, ftfy, regex (see tools/requirements.txt).

Upstream code (never copied into this project; pass the paths of local checkouts):
  * VadCLIP,  https://github.com/nwpu-zxr/VadCLIP   (MIT): src/model.py, src/utils/layers.py, src/clip/*,
    src/xd_train.py (CLAS2 / CLASM losses).
  * AVadCLIP, https://github.com/WanshunSu/AVadCLIP: src/model_t.py, src/model_s.py, src/TCN.py, src/UEM.py,
    src/clip/*, src/xd_train_t.py (CLASM with focal), src/xd_train_s.py (UC_Loss).
  Each checkout needs its `src/` Python files and `src/clip/bpe_simple_vocab_16e6.txt.gz`. The repositories hold
  Git LFS objects that `git archive` may fail on; exporting only `src/` works, e.g.
  `git ls-tree -r --name-only HEAD src | while read f; do mkdir -p out/$(dirname $f); git show HEAD:$f > out/$f; done`.

What the script does, and the (documented) deviations needed to run the official code on a CPU without weights:
  * `clip.load("ViT-B/16")` (a network download) is replaced by a SMALL random `clip.model.CLIP` built from the
    upstream class itself: embed/text width D=32, 2 text layers, 2 text heads, a tiny 1-layer ViT (64 wide, 4x4 image,
    patch 2). The official VadCLIP code is size-generic, so D=32 stands in for 512 everywhere.
  * AVadCLIP hard-codes 512 in `TemporalConvNet(embed_dim, [512, 512, 512])` and in `UEM.py` Conv1d layers; the script
    rewrites those literal 512 channel counts to D (structure unchanged).
  * `DistanceAdj` moves its tensor to 'cuda' literally; `.to('cuda')` is redirected to the CPU.
  * `pkg_resources` (imported by clip.py only for a version check) is stubbed when absent.
  * Every parameter gets seeded random values; 1-D parameters (biases, LayerNorm) and weight-norm gains are perturbed
    away from their 0/1 init so that a missing bias or swapped scale shows up. Models run in eval() mode.
  * Loss functions are the official function bodies (CLAS2, CLASM, UC_Loss) extracted from the training scripts with
    `ast` and executed; the text-divergence term (inline in the training loop) is re-expressed as
    sum_j |cos(t0, tj)| / 6.
  * Inputs: B=3 videos, valid lengths 97 (< 256, zero padded), 256 (exactly) and 256 from a 400-row sequence averaged
    by the official `process_feat` (> 256). Visual rows are piecewise-constant segment vectors plus noise so that
    the cosine adjacency has entries on both sides of the 0.7 threshold; inputs are redrawn until every cosine in the
    valid block is at least 1e-4 away from 0.7 (so f32 rounding cannot flip a threshold decision).
  * The CLIP token-embedding table (49408 x D) is not stored: only the rows of the tokens used by the class names
    (`fixture.token_embedding.ids`, `fixture.token_embedding.rows`); the model never reads other rows.

Output (all f32 except ids/lengths as i64):
  fixtures/model/config.json                 model hyperparameters of each fixture
  fixtures/model/<name>.safetensors          official state dict (keys as in PyTorch), name in
                                             {vadclip, avadclip_teacher, avadclip_student}
  fixtures/model/<name>_io.safetensors       inputs, intermediates and outputs
  fixtures/model/sample_state_dict.pth       five VadCLIP tensors as a bare PyTorch state dict (reader test)
  fixtures/model/sample_checkpoint.pth       the same inside {'epoch', 'model_state_dict', 'ap'} (reader test)
"""

import argparse
import ast
import json
import math
import os
import sys
import types

import numpy as np
import torch
import torch.nn.functional as F

D = 32
CLIP_TEXT_LAYERS = 2
CLIP_TEXT_HEADS = 2
VISUAL_LENGTH = 256
PREFIX = 10
POSTFIX = 10
LABEL_MAP = {"A": "normal", "B1": "fighting", "B2": "shooting", "B4": "riot", "B5": "abuse",
             "B6": "car accident", "G": "explosion"}
LABEL_STRINGS = ["A", "B2-G-0", "B1-0-0"]
LENGTHS_RAW = [97, 256, 400]
SEED = 234

FIXTURES = {
    # name: (layers, heads, window)
    "vadclip": dict(visual_layers=2, visual_head=2, attn_window=16),
    "avadclip_teacher": dict(visual_layers=2, visual_head=1, attn_window=4),
    "avadclip_student": dict(visual_layers=1, visual_head=1, attn_window=64),
}

UPSTREAM_MODULES = ("model", "model_t", "model_s", "clip", "utils", "TCN", "UEM")


def purge_upstream_modules():
    for name in list(sys.modules):
        if name.split(".")[0] in UPSTREAM_MODULES:
            del sys.modules[name]


def enter_upstream(src_dir):
    purge_upstream_modules()
    while src_dir in sys.path:
        sys.path.remove(src_dir)
    for p in list(sys.path):
        if p.endswith(os.sep + "src") and os.path.isdir(os.path.join(p, "clip")):
            sys.path.remove(p)
    sys.path.insert(0, src_dir)
    if "pkg_resources" not in sys.modules:
        try:
            import pkg_resources  # noqa: F401
        except ImportError:
            import packaging.version
            stub = types.ModuleType("pkg_resources")
            stub.packaging = packaging
            sys.modules["pkg_resources"] = stub


def extract_functions(path, names, namespace):
    """Executes the named top-level function definitions of an upstream file (only those) in `namespace`."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), filename=path)
    defs = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in names]
    missing = set(names) - {d.name for d in defs}
    if missing:
        raise SystemExit(f"{path}: functions {sorted(missing)} not found")
    module = ast.Module(body=defs, type_ignores=[])
    exec(compile(module, path, "exec"), namespace)
    return [namespace[n] for n in names]


class CudaToCpu:
    """Redirects `tensor.to('cuda')` to the CPU while active (DistanceAdj hard-codes the device)."""

    def __enter__(self):
        self.orig = torch.Tensor.to

        def to(t, *args, **kwargs):
            args = tuple("cpu" if (isinstance(a, str) and a.startswith("cuda")) else a for a in args)
            if isinstance(kwargs.get("device"), str) and kwargs["device"].startswith("cuda"):
                kwargs["device"] = "cpu"
            return self.orig(t, *args, **kwargs)

        torch.Tensor.to = to
        return self

    def __exit__(self, *exc):
        torch.Tensor.to = self.orig


def small_clip():
    from clip.model import CLIP
    m = CLIP(embed_dim=D, image_resolution=4, vision_layers=1, vision_width=64, vision_patch_size=2,
             context_length=77, vocab_size=49408, transformer_width=D, transformer_heads=CLIP_TEXT_HEADS,
             transformer_layers=CLIP_TEXT_LAYERS)
    return m.float().eval()


def patch_clip_load(model_module):
    model_module.clip.load = lambda name, device=None, **kw: (small_clip(), None)


def perturb(model, gen):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name == "clipmodel.token_embedding.weight":
                continue
            if name.endswith("weight_g"):
                p.mul_(1.0 + 0.2 * torch.randn(p.shape, generator=gen))
            elif name == "alpha":
                p.add_(0.05 * torch.randn(p.shape, generator=gen))
            elif p.dim() == 1:
                p.add_(0.05 * torch.randn(p.shape, generator=gen))


def make_visual(gen, width):
    """[n, width] rows: piecewise-constant segment directions plus noise (cosines spread around 0.7)."""
    def one(n):
        out = torch.empty(n, width)
        t = 0
        while t < n:
            seg = int(torch.randint(6, 30, (1,), generator=gen))
            base = torch.randn(width, generator=gen)
            rows = base.unsqueeze(0) + 0.6 * torch.randn(min(seg, n - t), width, generator=gen)
            out[t:t + rows.shape[0]] = rows
            t += rows.shape[0]
        return 0.3 * out
    return one


def batch_inputs(gen, width, process_feat):
    make = make_visual(gen, width)
    raws = [make(n) for n in LENGTHS_RAW]
    feats, lengths = [], []
    for r in raws:
        f, ln = process_feat(r.numpy(), VISUAL_LENGTH)
        feats.append(torch.from_numpy(np.ascontiguousarray(f, dtype=np.float32)))
        lengths.append(int(ln))
    return torch.stack(feats), torch.tensor(lengths, dtype=torch.int64), raws


def labels_multi_hot(get_batch_label):
    prompt_text = list(LABEL_MAP.values())
    return get_batch_label(LABEL_STRINGS, prompt_text, LABEL_MAP).float(), prompt_text


def cos_margin(x, lengths):
    x2 = x.matmul(x.permute(0, 2, 1))
    n = torch.norm(x, p=2, dim=2, keepdim=True)
    s = x2 / (n.matmul(n.permute(0, 2, 1)) + 1e-20)
    m = math.inf
    frac = []
    for i, ln in enumerate(lengths.tolist()):
        blk = s[i, :ln, :ln]
        m = min(m, float((blk - 0.7).abs().min()))
        frac.append(float((blk > 0.7).float().mean()))
    return m, frac


def loss3_of(text_features):
    # Re-expression of the inline training-loop term: sum_j |cos(t0, tj)| / 6 (hard-coded 6 as upstream).
    loss3 = torch.zeros(1, device=text_features.device)
    t0 = text_features[0] / text_features[0].norm(dim=-1, keepdim=True)
    for j in range(1, text_features.shape[0]):
        tj = text_features[j] / text_features[j].norm(dim=-1, keepdim=True)
        loss3 += torch.abs(t0 @ tj)
    return loss3 / 6


def state_dict_for_fixture(model, word_tokens):
    sd = {k: v.detach().clone().contiguous().float() for k, v in model.state_dict().items()}
    table = sd.pop("clipmodel.token_embedding.weight")
    ids = torch.unique(word_tokens.long().flatten())
    sd["fixture.token_embedding.ids"] = ids.to(torch.int64)
    sd["fixture.token_embedding.rows"] = table[ids].contiguous()
    sd["fixture.token_embedding.vocab_size"] = torch.tensor([table.shape[0]], dtype=torch.int64)
    return sd


def save(path, tensors):
    from safetensors.torch import save_file
    tmp = path + ".tmp"
    save_file({k: v.detach().contiguous() for k, v in tensors.items()}, tmp)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def save_pth_samples(out_dir, sd):
    """Small PyTorch pickles for the `.pth` reader: a bare state dict and an official-style training checkpoint."""
    keys = ["gc1.weight", "gc1.residual.weight", "temporal.resblocks.0.attn.in_proj_weight", "disAdj.sigma",
            "clipmodel.logit_scale"]
    small = {k: sd[k].clone() for k in keys}
    for fname, obj in [("sample_state_dict.pth", small),
                       ("sample_checkpoint.pth", {"epoch": 3, "model_state_dict": small, "ap": 0.5})]:
        tmp = os.path.join(out_dir, fname + ".tmp")
        torch.save(obj, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, os.path.join(out_dir, fname))


class Capture:
    """Wraps a bound method and records its arguments and result."""

    def __init__(self, obj, name):
        self.fn = getattr(obj, name)
        self.calls = []
        setattr(obj, name, self)

    def __call__(self, *args, **kwargs):
        out = self.fn(*args, **kwargs)
        self.calls.append((args, kwargs, out))
        return out


def draw_inputs(model, process_feat, seed_base):
    """Draws visual inputs until all valid cosines of the adjacency input are >= 1e-4 away from 0.7."""
    for attempt in range(50):
        gen = torch.Generator().manual_seed(seed_base + attempt)
        visual, lengths, raws = batch_inputs(gen, D, process_feat)
        audio = 0.5 * torch.randn(3, VISUAL_LENGTH, D, generator=gen)
        yield attempt, visual, lengths, raws, audio


def build_vadclip(src):
    enter_upstream(src)
    import model as vad_model
    from utils.tools import get_batch_label, process_feat
    patch_clip_load(vad_model)
    ns = {"torch": torch, "F": F}
    clas2, clasm = extract_functions(os.path.join(src, "xd_train.py"), ["CLAS2", "CLASM"], ns)
    cfg = FIXTURES["vadclip"]
    torch.manual_seed(SEED)
    m = vad_model.CLIPVAD(7, D, VISUAL_LENGTH, D, cfg["visual_head"], cfg["visual_layers"], cfg["attn_window"],
                          PREFIX, POSTFIX, "cpu")
    return m, dict(process_feat=process_feat, get_batch_label=get_batch_label, clas2=clas2, clasm=clasm,
                   clip_module=vad_model.clip)


def run_fixture(name, m, fns, out_dir, extra_forward):
    gen = torch.Generator().manual_seed(SEED + 1)
    perturb(m, gen)
    m.eval()
    labels, prompt_text = labels_multi_hot(fns["get_batch_label"])
    word_tokens = fns["clip_module"].tokenize(prompt_text)
    cap_video = Capture(m, "encode_video")
    cap_adj = Capture(m, "adj4")
    cap_text = Capture(m.clipmodel, "encode_text")
    chosen = None
    with torch.no_grad(), CudaToCpu():
        for attempt, visual, lengths, raws, audio in draw_inputs(m, fns["process_feat"], SEED + 100):
            cap_video.calls.clear()
            cap_adj.calls.clear()
            cap_text.calls.clear()
            outs = extra_forward(m, visual, audio, prompt_text, lengths)
            x_adj = cap_adj.calls[0][0][0]
            margin, frac = cos_margin(x_adj, lengths)
            if margin >= 1e-4:
                chosen = (attempt, visual, lengths, raws, audio, outs, margin, frac)
                break
    if chosen is None:
        raise SystemExit(f"{name}: no input draw kept cosines away from the 0.7 threshold")
    attempt, visual, lengths, raws, audio, outs, margin, frac = chosen
    print(f"{name}: input draw {attempt}, threshold margin {margin:.2e}, fraction of cos > 0.7 per video "
          f"{[round(f, 3) for f in frac]}")
    emb, tok = cap_text.calls[0][0]
    io = {
        "visual": visual,
        "lengths": lengths,
        "labels": labels,
        "word_tokens": word_tokens.to(torch.int64),
        "visual_raw_long": raws[2],
        "encode_video": cap_video.calls[0][2],
        "prompt_embeddings": emb,
        "prompt_eot_positions": tok.argmax(dim=-1).to(torch.int64),
    }
    io.update(outs)
    save(os.path.join(out_dir, f"{name}_io.safetensors"), io)
    sd = state_dict_for_fixture(m, word_tokens)
    save(os.path.join(out_dir, f"{name}.safetensors"), sd)
    if name == "vadclip":
        save_pth_samples(out_dir, sd)
    return {k: (float(v) if v.numel() == 1 else None) for k, v in outs.items() if v.numel() == 1}


def vadclip_fixture(src, out_dir):
    m, fns = build_vadclip(src)

    def fwd(m, visual, audio, prompt_text, lengths):
        text_features, logits1, logits2 = m(visual, None, prompt_text, lengths)
        labels, _ = labels_multi_hot(fns["get_batch_label"])
        loss1 = fns["clas2"](logits1, labels, lengths, "cpu")
        loss2 = fns["clasm"](logits2, labels, lengths, "cpu")
        loss3 = loss3_of(text_features)
        total = loss1 + loss2 + loss3 * 1e-4
        return dict(text_features=text_features, logits1=logits1, logits2=logits2,
                    loss1=loss1.reshape(1), loss2=loss2.reshape(1), loss3=loss3.reshape(1), loss_total=total.reshape(1))

    return run_fixture("vadclip", m, fns, out_dir, fwd)


def build_avadclip(src, kind):
    enter_upstream(src)
    import TCN
    import UEM
    import model_t
    from utils.tools import get_batch_label, process_feat

    class NNWithSmallConv:
        """torch.nn, except that Conv1d channel counts hard-coded as 512 become D."""

        def __getattr__(self, k):
            return getattr(torch.nn, k)

        @staticmethod
        def Conv1d(i, o, *a, **kw):
            return torch.nn.Conv1d(D if i == 512 else i, D if o == 512 else o, *a, **kw)

    UEM.nn = NNWithSmallConv()
    model_t.TemporalConvNet = lambda n_in, chans, **kw: TCN.TemporalConvNet(n_in, [n_in] * len(chans), **kw)
    patch_clip_load(model_t)
    ns = {"torch": torch, "F": F}
    clas2, clasm = extract_functions(os.path.join(src, "xd_train_t.py"), ["CLAS2", "CLASM"], ns)
    (uc_loss,) = extract_functions(os.path.join(src, "xd_train_s.py"), ["UC_Loss"], ns)
    fns = dict(process_feat=process_feat, get_batch_label=get_batch_label, clas2=clas2, clasm=clasm,
               uc_loss=uc_loss, clip_module=model_t.clip)
    tcfg = FIXTURES["avadclip_teacher"]
    torch.manual_seed(SEED)
    teacher = model_t.AVADCLIP(7, D, VISUAL_LENGTH, D, tcfg["visual_head"], tcfg["visual_layers"], VISUAL_LENGTH, D,
                               tcfg["attn_window"], PREFIX, POSTFIX, "cpu")
    if kind == "teacher":
        return teacher, fns
    import model_s
    patch_clip_load(model_s)
    scfg = FIXTURES["avadclip_student"]
    torch.manual_seed(SEED + 7)
    student = model_s.AVADCLIP_MODEL(7, D, VISUAL_LENGTH, D, scfg["visual_head"], scfg["visual_layers"],
                                     scfg["attn_window"], PREFIX, POSTFIX, "cpu")
    return (teacher, student), fns


def teacher_fixture(src, out_dir):
    m, fns = build_avadclip(src, "teacher")
    cap_tcn = []
    m.temporalconvnet.register_forward_hook(lambda mod, inp, out: cap_tcn.append(out))

    def fwd(m, visual, audio, prompt_text, lengths):
        cap_tcn.clear()
        x_av, text_features, logits1, logits2, alpha = m(visual, audio, None, None, prompt_text, lengths)
        labels, _ = labels_multi_hot(fns["get_batch_label"])
        loss1 = fns["clas2"](logits1, labels, lengths, "cpu")
        loss2 = fns["clasm"](logits2, labels, lengths, "cpu", alpha)
        loss3 = loss3_of(text_features)
        total = loss1 + loss2 + loss3 * 1e-4
        return dict(audio=audio, audio_tcn=cap_tcn[0], x_av=x_av, text_features=text_features, logits1=logits1,
                    logits2=logits2, alpha=alpha.detach().clone(), loss1=loss1.reshape(1), loss2=loss2.reshape(1),
                    loss3=loss3.reshape(1), loss_total=total.reshape(1))

    return run_fixture("avadclip_teacher", m, fns, out_dir, fwd)


def student_fixture(src, out_dir):
    (teacher, student), fns = build_avadclip(src, "student")
    gen = torch.Generator().manual_seed(SEED + 1)
    perturb(teacher, gen)  # same perturbation as the teacher fixture: identical teacher weights
    teacher.eval()
    cap_fe = []
    student.fe_net.register_forward_hook(lambda mod, inp, out: cap_fe.append(out))

    def fwd(m, visual, audio, prompt_text, lengths):
        cap_fe.clear()
        with CudaToCpu():
            x_av, _, _, _, _ = teacher(visual, audio, None, None, prompt_text, lengths)
        mu, text_features, logits1, logits2, theta, alpha = m(visual, None, prompt_text, lengths)
        labels, _ = labels_multi_hot(fns["get_batch_label"])
        loss1 = fns["clas2"](logits1, labels, lengths, "cpu")
        loss2 = fns["clasm"](logits2, labels, lengths, "cpu", alpha)
        loss3 = loss3_of(text_features)
        loss4 = fns["uc_loss"](x_av, mu, theta)
        total = loss1 + loss2 + loss3 * 1e-4 + loss4 * 1e-8
        return dict(audio=audio, teacher_x_av=x_av, mu=mu, theta=theta, text_features=text_features,
                    logits1=logits1, logits2=logits2, alpha=alpha.detach().clone(), loss1=loss1.reshape(1),
                    loss2=loss2.reshape(1), loss3=loss3.reshape(1), loss4=loss4.reshape(1),
                    loss_total=total.reshape(1))

    return run_fixture("avadclip_student", student, fns, out_dir, fwd)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vadclip", required=True, help="checkout of nwpu-zxr/VadCLIP (needs src/)")
    ap.add_argument("--avadclip", required=True, help="checkout of WanshunSu/AVadCLIP (needs src/)")
    ap.add_argument("--out", default="fixtures/model")
    args = ap.parse_args()
    torch.set_num_threads(1)
    os.makedirs(args.out, exist_ok=True)
    summary = {}
    summary["vadclip"] = vadclip_fixture(os.path.abspath(os.path.join(args.vadclip, "src")), args.out)
    av_src = os.path.abspath(os.path.join(args.avadclip, "src"))
    summary["avadclip_teacher"] = teacher_fixture(av_src, args.out)
    summary["avadclip_student"] = student_fixture(av_src, args.out)
    config = {
        "generator": "tools/make_model_fixtures.py",
        "torch": torch.__version__,
        "dims": dict(embed_dim=D, visual_width=D, visual_length=VISUAL_LENGTH, num_class=7,
                     prompt_prefix=PREFIX, prompt_postfix=POSTFIX),
        "clip_text": dict(width=D, layers=CLIP_TEXT_LAYERS, heads=CLIP_TEXT_HEADS, context_length=77,
                          vocab_size=49408, embed_dim=D),
        "models": FIXTURES,
        "class_names": list(LABEL_MAP.values()),
        "label_strings": LABEL_STRINGS,
        "raw_lengths": LENGTHS_RAW,
        "losses": summary,
    }
    tmp = os.path.join(args.out, "config.json.tmp")
    with open(tmp, "w") as f:
        json.dump(config, f, indent=2)
    os.replace(tmp, os.path.join(args.out, "config.json"))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
