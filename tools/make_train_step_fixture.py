"""Reference for one full training step of the official VadCLIP model (`CLIPVAD`) with PyTorch AdamW.

Run:   python3 tools/make_train_step_fixture.py --vadclip /path/to/VadCLIP [--out fixtures/train]
Needs: torch, safetensors, numpy, ftfy, regex; the model helper's `tools/make_model_fixtures.py` (imported for its
       upstream loader and small random CLIP) and its output `fixtures/model/vadclip{,_io}.safetensors`.
Upstream code: https://github.com/nwpu-zxr/VadCLIP (MIT), `src/model.py`, `src/xd_train.py` (CLAS2, CLASM, the
       optimizer line `torch.optim.AdamW(model.parameters(), lr=args.lr)`), `src/clip/*`; pass a checkout whose
       `src/` holds the Python files (never copied into this project).

The official model is built as in make_model_fixtures.py (small D=32 CLIP), then loaded with the fixture state dict
(token table rebuilt from the stored rows), put in train() mode (CLIPVAD has no dropout), and fed the fixture
inputs. The total loss `loss1 + loss2 + 1e-4 * loss3` is back-propagated once and AdamW steps once. Two optimiser
settings, each from the same weights and gradients:
  * `official`: AdamW(lr=1e-5) with PyTorch defaults (wd 0.01, eps 1e-8) - what upstream trains with;
  * `linear`:   AdamW(lr=1.0, eps=1.0, weight_decay=0.01): the first Adam step g/(|g|+1) is then nearly linear in
                the gradient, so the parameter change checks the gradients themselves, not only their signs.
Output `fixtures/train/vadclip_step.safetensors`: `<setting>.<key>` = every trainable parameter after the step
(official key names), and `grad_norm` = the global L2 norm of the gradients.
"""

import argparse
import os
import sys

import torch
from safetensors.torch import load_file, save_file

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_model_fixtures as mmf  # noqa: E402


def rebuilt_state_dict(path):
    sd = load_file(path)
    ids = sd.pop("fixture.token_embedding.ids")
    rows = sd.pop("fixture.token_embedding.rows")
    vocab = int(sd.pop("fixture.token_embedding.vocab_size").reshape(-1)[0])
    table = torch.zeros(vocab, rows.shape[1])
    table[ids.long()] = rows
    sd["clipmodel.token_embedding.weight"] = table
    return sd


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vadclip", required=True, help="checkout of nwpu-zxr/VadCLIP (needs src/)")
    ap.add_argument("--model-fixtures", default=os.path.join(HERE, "..", "fixtures", "model"))
    ap.add_argument("--out", default=os.path.join(HERE, "..", "fixtures", "train"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    src = os.path.abspath(os.path.join(args.vadclip, "src"))
    sd = rebuilt_state_dict(os.path.join(args.model_fixtures, "vadclip.safetensors"))
    io = load_file(os.path.join(args.model_fixtures, "vadclip_io.safetensors"))
    out = {}
    for setting, kw in {"official": dict(lr=1e-5), "linear": dict(lr=1.0, eps=1.0, weight_decay=0.01)}.items():
        m, fns = mmf.build_vadclip(src)
        missing, unexpected = m.load_state_dict(sd, strict=False)
        # The token table is rebuilt; nothing else may be missing.
        assert not [k for k in missing if not k.startswith("clipmodel.visual")], missing
        m.train()
        opt = torch.optim.AdamW(m.parameters(), foreach=False, **kw)
        labels, prompt_text = mmf.labels_multi_hot(fns["get_batch_label"])
        lengths = io["lengths"]
        with mmf.CudaToCpu():
            text_features, logits1, logits2 = m(io["visual"], None, prompt_text, lengths)
            loss1 = fns["clas2"](logits1, labels, lengths, "cpu")
            loss2 = fns["clasm"](logits2, labels, lengths, "cpu")
            loss3 = mmf.loss3_of(text_features)
            total = loss1 + loss2 + loss3 * 1e-4
        assert abs(float(total.detach()) - float(io["loss_total"])) < 1e-5, (float(total.detach()), float(io["loss_total"]))
        opt.zero_grad()
        total.backward()
        grads = [p.grad.reshape(-1) for p in m.parameters() if p.grad is not None]
        out["grad_norm"] = torch.cat(grads).norm().reshape(1)
        opt.step()
        for k, p in m.named_parameters():
            if p.requires_grad:
                out[f"{setting}.{k}"] = p.detach().clone().contiguous()
        print(f"{setting}: loss {float(total.detach()):.6f}, {len(grads)} parameters with gradients")
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "vadclip_step.safetensors")
    save_file(out, path)
    print(f"wrote {path} ({len(out)} tensors, torch {torch.__version__})")


if __name__ == "__main__":
    main()
