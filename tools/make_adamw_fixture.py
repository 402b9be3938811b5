"""Reference fixture for avad-train's AdamW: PyTorch `torch.optim.AdamW` on a small set of tensors.

Run:   python3 tools/make_adamw_fixture.py [--out fixtures/train/adamw.safetensors]
Needs: torch, safetensors (no upstream code; the reference is PyTorch's own `torch/optim/adamw.py`).

Three parameters (shapes [3, 4], [5], [2, 3, 2]) are seeded N(0, 1). For each of 5 steps a seeded gradient set
G_k is drawn and the loss sum_i <p_i, G_k,i> is back-propagated (so grad = G_k exactly), then AdamW steps.
Two runs are stored:
  * `a`: PyTorch defaults (lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 1e-2), constant lr.
  * `b`: lr 0.05, weight_decay 0.1, MultiStepLR(milestones=[3], gamma=0.1) stepped after every optimiser step
         (so steps 0-2 use 0.05 and steps 3-4 use 0.005).
Keys: `init.<p>`, `grad.<k>.<p>`, `<run>.after.<k>.<p>` (parameters after step k), and `<run>.lr.<k>` ([1] f64,
the learning rate used in step k). Parameters are named `w`, `b`, `c`.
"""

import argparse
import os

import torch
from safetensors.torch import save_file

SHAPES = {"w": (3, 4), "b": (5,), "c": (2, 3, 2)}
STEPS = 5


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "fixtures", "train", "adamw.safetensors"))
    args = ap.parse_args()

    g = torch.Generator().manual_seed(1234)
    init = {k: torch.randn(s, generator=g, dtype=torch.float32) for k, s in SHAPES.items()}
    grads = [{k: torch.randn(s, generator=g, dtype=torch.float32) for k, s in SHAPES.items()} for _ in range(STEPS)]

    out = {f"init.{k}": v.clone() for k, v in init.items()}
    for i, gs in enumerate(grads):
        for k, v in gs.items():
            out[f"grad.{i}.{k}"] = v.clone()

    runs = {
        "a": dict(lr=1e-3, weight_decay=1e-2, milestones=None),
        "b": dict(lr=0.05, weight_decay=0.1, milestones=[3]),
    }
    for name, cfg in runs.items():
        params = {k: torch.nn.Parameter(v.clone()) for k, v in init.items()}
        opt = torch.optim.AdamW(list(params.values()), lr=cfg["lr"], betas=(0.9, 0.999), eps=1e-8,
                                weight_decay=cfg["weight_decay"], foreach=False)
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, cfg["milestones"], 0.1) if cfg["milestones"] else None
        for i, gs in enumerate(grads):
            opt.zero_grad()
            loss = sum((params[k] * gs[k]).sum() for k in SHAPES)
            loss.backward()
            out[f"{name}.lr.{i}"] = torch.tensor([opt.param_groups[0]["lr"]], dtype=torch.float64)
            opt.step()
            if sched is not None:
                sched.step()
            for k, p in params.items():
                out[f"{name}.after.{i}.{k}"] = p.detach().clone()

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    save_file({k: v.contiguous() for k, v in out.items()}, args.out)
    print(f"wrote {args.out} ({len(out)} tensors, torch {torch.__version__})")


if __name__ == "__main__":
    main()
