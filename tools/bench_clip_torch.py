#!/usr/bin/env python3
"""PyTorch side of the CLIP image-encoder CPU benchmark (docs/benchmarks.md, "CLIP image encoder (CPU)").

    python3 tools/bench_clip_torch.py [BATCH] [ITERS] [THREADS]

HF `CLIPVisionModelWithProjection`, ViT-B/16 config (openai/clip-vit-base-patch16 sizes), random weights, fp32,
`torch.set_num_threads(THREADS)` (default 2), `torch.inference_mode()`, one warm-up batch, median of ITERS batches.
"""
import statistics
import sys
import time

sys.modules.setdefault("torchaudio", None)  # the venv's torchaudio does not import with its torch

import torch
from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection


def main():
    batch = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    iters = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfg = CLIPVisionConfig(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                           image_size=224, patch_size=16, projection_dim=512, hidden_act="quick_gelu")
    model = CLIPVisionModelWithProjection(cfg).eval()
    x = torch.randn(batch, 3, 224, 224)
    with torch.inference_mode():
        model(pixel_values=x)
        times = []
        for _ in range(iters):
            t0 = time.perf_counter()
            model(pixel_values=x)
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    print(f"torch {torch.__version__} ViT-B/16 image encoder: batch {batch}, {iters} iters, threads {threads}, "
          f"attn {model.config._attn_implementation}, median {med:.3f} s/batch, best {min(times):.3f} s "
          f"=> {batch / med:.2f} images/s (median)")
    # The encoder's largest GEMM (MLP fc1) alone, as nn.Linear computes it.
    m, k, n = batch * 197, 768, 3072
    a = torch.randn(m, k)
    lin = torch.nn.Linear(k, n)
    with torch.inference_mode():
        lin(a)
        t0 = time.perf_counter()
        for _ in range(5):
            lin(a)
        dt = (time.perf_counter() - t0) / 5
    print(f"torch linear [{m},{k}]x[{k},{n}]: {dt * 1e3:.1f} ms => {2 * m * k * n / dt / 1e9:.0f} GFLOP/s")


if __name__ == "__main__":
    main()
