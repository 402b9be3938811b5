#!/usr/bin/env python3
"""Write the CLIP parity fixtures used by `crates/avad-clip/tests/`.

Run (from the repository root, with the project venv that has torch, transformers>=5, open_clip_torch,
Pillow, safetensors, numpy; opencv-python-headless for the 10-crop resize reference):

    python3 tools/make_clip_fixtures.py small            # -> fixtures/clip/ (committed, about 3 MB)
    python3 tools/make_clip_fixtures.py vitb16 --out target/clip-vitb16   # big, git-ignored

`small`  : a tiny random-weight CLIP (vision hidden 32, 2 layers, 4 heads, patch 32, image 224; text hidden 32,
           2 layers, 4 heads, vocab 1000; projection_dim 24), seeded. Writes the HF model dir (config.json +
           model.safetensors), an f16 copy, an OpenAI-state-dict-names copy, test images (PNG/JPEG, odd sizes,
           grayscale, RGBA), the preprocessed 224x224 u8 crops (PNG) plus checksums of the normalised pixel tensors,
           image embeddings, text embeddings from ids and from embeddings with custom EOT positions, OpenCV's
           INTER_LINEAR resize to 340x256 of generated pattern images (AVadCLIP 10-crop), and the
           OpenAI/open_clip token ids of a dozen strings (tokens.json).
`vitb16` : the real ViT-B/16 CLIP config (openai/clip-vit-base-patch16 sizes) with random weights (~600 MB): used by the
           `#[ignore]`d test `vitb16_parity` (set AVAD_CLIP_VITB16_DIR) and by the benchmark.

Upstream code used (installed packages, nothing copied into the project): Hugging Face `transformers`
(`CLIPModel`, `CLIPImageProcessorPil`), `open_clip` (`SimpleTokenizer`, `image_transform`, the Apache/MIT
reference of OpenAI's CLIP preprocessing), Pillow for the bicubic resize, OpenCV (`cv2.resize`) for AVadCLIP's crop.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

# The venv's torchaudio build does not match its torch (CUDA version check raises at import); transformers imports
# it opportunistically, so hide it: nothing here needs audio.
sys.modules.setdefault("torchaudio", None)
from PIL import Image

MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)

TEXTS = [
    "a photo of a cat",
    "Fighting, shooting & RIOT!!!",
    "car accident",
    "  extra   whitespace\tand\nnewlines  ",
    "Café crème brûlée — naïve façade",
    "emoji 😀🔥 test 👍🏽",
    "中文字符 日本語のテキスト 한국어",
    "numbers 1234567 and 3.14159, 2nd 42nd",
    "HTML &amp; entities &lt;b&gt; &quot;quoted&quot; &#39;x&#39; &amp;amp;",
    "",
    "it's we're they've I'm you'll he'd don't CAN'T",
    "“curly quotes” and ‘single’ ﬁne ligature ＦＵＬＬＷＩＤＴＨ",
    "a very long sentence " * 20,
    "punctuation!?... (brackets) [x] {y} <z> @#$%^*_+=~`|\\/",
]


def save_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.replace(tmp, path)


def make_images(outdir):
    """Deterministic test images: gradients + mild noise, odd sizes and modes."""
    rng = np.random.default_rng(1234)
    specs = [
        ("grad_300x200.png", 300, 200, "RGB", "png"),
        ("odd_97x311.png", 97, 311, "RGB", "png"),
        ("square_224.png", 224, 224, "RGB", "png"),
        ("gray_150x120.png", 150, 120, "L", "png"),
        ("rgba_130x170.png", 130, 170, "RGBA", "png"),
        ("small_50x40.png", 50, 40, "RGB", "png"),
        ("photo_320x240.jpg", 320, 240, "RGB", "jpeg"),
    ]
    names = []
    for name, w, h, mode, fmt in specs:
        y, x = np.mgrid[0:h, 0:w].astype(np.float64)
        r = 255 * (x / max(w - 1, 1))
        g = 255 * (y / max(h - 1, 1))
        b = 127.5 + 127.5 * np.sin((x + 2 * y) / 9.0)
        img = np.stack([r, g, b], -1)
        # sharp edges (a checker block) and noise: these stress the resampler's clipping
        img[(x // 16 + y // 16) % 2 == 0] *= 0.6
        img += rng.normal(0, 5, img.shape)
        img = np.clip(np.round(img), 0, 255).astype(np.uint8)
        im = Image.fromarray(img, "RGB")
        if mode == "L":
            im = im.convert("L")
        elif mode == "RGBA":
            a = np.clip(255 * (x / max(w - 1, 1)), 0, 255).astype(np.uint8)
            im = Image.fromarray(np.dstack([img, a]), "RGBA")
        path = os.path.join(outdir, name)
        if fmt == "jpeg":
            im.save(path, quality=90)
        else:
            im.save(path, optimize=True)
        names.append(name)
    return names


def pattern_image(w, h):
    """Deterministic high-frequency RGB pattern, regenerated identically by the Rust tests (no file needed)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.int64)
    return np.stack([(x * x * 3 + y * 7 + x * y + c * 50) % 256 for c in range(3)], -1).astype(np.uint8)


def checksum(a):
    """Order-sensitive integer checksum of a u8 array, recomputed by the Rust tests."""
    v = a.astype(np.int64).ravel()
    return int((v * (np.arange(v.size) % 9973 + 1)).sum())


def cv2_reference():
    """AVadCLIP's `cv2.resize(frame, (340, 256))` (INTER_LINEAR) on pattern images: down, exact 2x down, up."""
    import cv2

    out = []
    for w, h in [(640, 360), (680, 512), (97, 311), (1280, 720)]:
        r = cv2.resize(pattern_image(w, h), (340, 256), interpolation=cv2.INTER_LINEAR)
        out.append({"w": w, "h": h, "sum": int(r.astype(np.int64).sum()), "checksum": checksum(r),
                    "sample": r.ravel()[::101].tolist()})
    return {"opencv": cv2.__version__, "cases": out}


def clip_preprocess_u8(im):
    """OpenAI CLIP preprocessing up to the crop (Pillow bicubic, torchvision round-half-even crop), as u8 HxWx3."""
    im = im.convert("RGB")
    w, h = im.size
    if w <= h:
        nw, nh = 224, int(224 * h / w)
    else:
        nw, nh = int(224 * w / h), 224
    im = im.resize((nw, nh), Image.BICUBIC)
    top = int(round((nh - 224) / 2.0))
    left = int(round((nw - 224) / 2.0))
    return np.asarray(im.crop((left, top, left + 224, top + 224)))


def normalise(u8):
    x = u8.astype(np.float32) / 255.0
    x = (x - np.array(MEAN, np.float32)) / np.array(STD, np.float32)
    return x.transpose(2, 0, 1)


def small_config():
    from transformers import CLIPConfig

    return CLIPConfig(
        text_config=dict(vocab_size=1000, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, max_position_embeddings=77, hidden_act="quick_gelu",
                         projection_dim=16, eos_token_id=2, bos_token_id=0, pad_token_id=1),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                           image_size=224, patch_size=32, hidden_act="quick_gelu", projection_dim=16),
        projection_dim=24,
    )


def vitb16_config():
    from transformers import CLIPConfig

    return CLIPConfig(
        text_config=dict(vocab_size=49408, hidden_size=512, intermediate_size=2048, num_hidden_layers=12,
                         num_attention_heads=8, max_position_embeddings=77, hidden_act="quick_gelu",
                         eos_token_id=2, bos_token_id=0, pad_token_id=1),
        vision_config=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                           image_size=224, patch_size=16, hidden_act="quick_gelu"),
        projection_dim=512,
    )


def build_model(cfg, seed):
    from transformers import CLIPModel

    torch.manual_seed(seed)
    cfg._attn_implementation = "eager"
    model = CLIPModel(cfg).eval()
    # Random weights everywhere (HF init leaves LayerNorms at 1/0 and biases at 0: perturb them so they are tested).
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name == "logit_scale":
                continue
            if p.ndim == 1:
                base = 1.0 if ("layer_norm" in name or "layernorm" in name or "layrnorm" in name) and name.endswith("weight") else 0.0
                p.copy_(base + 0.1 * torch.randn_like(p))
            else:
                p.copy_(torch.randn_like(p) * (1.0 / p.shape[-1] ** 0.5 if p.shape[-1] > 1 else 0.02))
        model.vision_model.embeddings.class_embedding.mul_(0.5)
    return model


def save_hf(model, outdir, dtype=torch.float32):
    from safetensors.torch import save_file

    os.makedirs(outdir, exist_ok=True)
    model.config.save_pretrained(outdir)
    sd = {k: v.detach().to(dtype).contiguous() for k, v in model.state_dict().items() if "position_ids" not in k}
    save_file(sd, os.path.join(outdir, "model.safetensors"))


def to_openai(model):
    """HF CLIPModel state dict -> OpenAI `clip` package names (proj matrices [in,out], packed in_proj)."""
    sd = {k: v.detach().float() for k, v in model.state_dict().items()}
    o = {}
    v = "vision_model."
    o["visual.conv1.weight"] = sd[v + "embeddings.patch_embedding.weight"]
    o["visual.class_embedding"] = sd[v + "embeddings.class_embedding"]
    o["visual.positional_embedding"] = sd[v + "embeddings.position_embedding.weight"]
    for s in ("weight", "bias"):
        o["visual.ln_pre." + s] = sd[v + "pre_layrnorm." + s]
        o["visual.ln_post." + s] = sd[v + "post_layernorm." + s]
        o["ln_final." + s] = sd["text_model.final_layer_norm." + s]
    o["visual.proj"] = sd["visual_projection.weight"].t()
    o["text_projection"] = sd["text_projection.weight"].t()
    o["token_embedding.weight"] = sd["text_model.embeddings.token_embedding.weight"]
    o["positional_embedding"] = sd["text_model.embeddings.position_embedding.weight"]
    o["logit_scale"] = sd["logit_scale"]

    def blocks(src, dst, n):
        for i in range(n):
            a, b = f"{src}encoder.layers.{i}.", f"{dst}transformer.resblocks.{i}."
            for s in ("weight", "bias"):
                o[b + "attn.in_proj_" + s] = torch.cat([sd[a + f"self_attn.{p}_proj.{s}"] for p in "qkv"], 0)
                o[b + "attn.out_proj." + s] = sd[a + "self_attn.out_proj." + s]
                o[b + "ln_1." + s] = sd[a + "layer_norm1." + s]
                o[b + "ln_2." + s] = sd[a + "layer_norm2." + s]
                o[b + "mlp.c_fc." + s] = sd[a + "mlp.fc1." + s]
                o[b + "mlp.c_proj." + s] = sd[a + "mlp.fc2." + s]

    blocks(v, "visual.", model.config.vision_config.num_hidden_layers)
    blocks("text_model.", "", model.config.text_config.num_hidden_layers)
    return {k: t.contiguous() for k, t in o.items()}


@torch.no_grad()
def text_from_embeddings(model, emb, eot):
    """Reference for the learnable-prompt entry point: emb [C,L,D] + pos, causal, final LN, EOT pool, projection."""
    tm = model.text_model
    L = emb.shape[1]
    h = emb + tm.embeddings.position_embedding.weight[:L]
    mask = torch.full((L, L), torch.finfo(torch.float32).min).triu(1)[None, None].expand(emb.shape[0], 1, L, L)
    h = tm.encoder(inputs_embeds=h, attention_mask=mask).last_hidden_state
    h = tm.final_layer_norm(h)
    pooled = h[torch.arange(h.shape[0]), torch.tensor(eot)]
    return model.text_projection(pooled)


def tokens_fixture():
    from open_clip.tokenizer import SimpleTokenizer

    tok = SimpleTokenizer()
    out = []
    for t in TEXTS:
        ids = tok([t], context_length=77)[0].tolist()  # truncate keeps EOT last
        n = ids.index(tok.eot_token_id) + 1 if tok.eot_token_id in ids else 77
        out.append({"text": t, "ids": ids[:n], "context": ids})
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["small", "vitb16"])
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.set_grad_enabled(False)

    if args.mode == "vitb16":
        out = args.out or "target/clip-vitb16"
        os.makedirs(out, exist_ok=True)
        model = build_model(vitb16_config(), seed=16)
        save_hf(model, out)
        rng = np.random.default_rng(7)
        pix = torch.from_numpy(rng.standard_normal((2, 3, 224, 224)).astype(np.float32))
        toks = tokens_fixture()
        ids = torch.tensor([t["context"] for t in toks[:4]])
        ie = model.get_image_features(pixel_values=pix)
        te = model.get_text_features(input_ids=ids)
        ref = {
            "pixels": pix.flatten().tolist(),
            "image_embeds": getattr(ie, "pooler_output", ie).tolist(),
            "texts": [t["text"] for t in toks[:4]],
            "ids": ids.tolist(),
            "text_embeds": getattr(te, "pooler_output", te).tolist(),
        }
        save_json(os.path.join(out, "reference.json"), ref)
        print("wrote", out)
        return

    out = args.out or "fixtures/clip"
    os.makedirs(out, exist_ok=True)
    imgdir = os.path.join(out, "images")
    os.makedirs(imgdir, exist_ok=True)
    names = make_images(imgdir)

    # --- preprocessing references -------------------------------------------------------------------------
    from transformers import CLIPImageProcessorPil
    import open_clip

    hf_proc = CLIPImageProcessorPil()
    oc_tf = open_clip.image_transform(224, is_train=False, mean=MEAN, std=STD)
    pre = []
    crops = []
    for n in names:
        im = Image.open(os.path.join(imgdir, n))
        im.load()
        u8 = clip_preprocess_u8(im)
        x = normalise(u8)
        oc = oc_tf(im).numpy()
        hf = hf_proc(images=im.convert("RGB"), return_tensors="np")["pixel_values"][0]
        d_oc = float(np.abs(oc - x).max())
        d_hf = float(np.abs(hf - x).max())
        crop_name = "crop_" + os.path.splitext(n)[0] + ".png"
        Image.fromarray(u8, "RGB").save(os.path.join(imgdir, crop_name), optimize=True)
        # decoded source as Pillow sees it (to separate JPEG decoder differences from resize differences)
        dec = np.asarray(im.convert("RGB"))
        pre.append({
            "image": n, "crop": crop_name, "size": list(im.size), "mode": im.mode,
            "pixel_sum": float(x.astype(np.float64).sum()), "pixel_abs_sum": float(np.abs(x).astype(np.float64).sum()),
            "pixel_sample": x.flatten()[::997].tolist(),
            "decoded_rgb_sum": int(dec.astype(np.int64).sum()),
            "maxdiff_open_clip": d_oc, "maxdiff_hf_pil": d_hf,
        })
        crops.append(x)
        print(f"{n}: open_clip diff {d_oc:.3g}, HF CLIPImageProcessorPil diff {d_hf:.3g}")

    # --- model ------------------------------------------------------------------------------------------------
    model = build_model(small_config(), seed=0)
    save_hf(model, os.path.join(out, "tiny_hf"))
    save_hf(model, os.path.join(out, "tiny_hf_f16"), torch.float16)
    from safetensors.torch import save_file

    os.makedirs(os.path.join(out, "tiny_openai"), exist_ok=True)
    save_file(to_openai(model), os.path.join(out, "tiny_openai", "model.safetensors"))
    model.config.save_pretrained(os.path.join(out, "tiny_openai"))
    # text tower only, with the `clipmodel.` prefix as in VadCLIP checkpoints
    os.makedirs(os.path.join(out, "tiny_prefixed"), exist_ok=True)
    save_file({"clipmodel." + k: v for k, v in to_openai(model).items() if not k.startswith("visual.")},
              os.path.join(out, "tiny_prefixed", "model.safetensors"))

    pix = torch.from_numpy(np.stack(crops))
    img_emb = model.get_image_features(pixel_values=pix)
    img_emb = getattr(img_emb, "pooler_output", img_emb)
    # f16 model computed in f32 (weights rounded to f16)
    m16 = build_model(small_config(), seed=0)
    m16.load_state_dict({k: v.half().float() for k, v in model.state_dict().items()})
    img_emb16 = m16.get_image_features(pixel_values=pix)
    img_emb16 = getattr(img_emb16, "pooler_output", img_emb16)

    V = model.config.text_config.vocab_size
    rng = np.random.default_rng(5)
    ids = np.zeros((4, 77), np.int64)
    lens = [2, 5, 12, 77]
    for i, n in enumerate(lens):  # SOT = V-2, EOT = V-1 (max id, so argmax finds it, as with the real vocab)
        ids[i, 0] = V - 2
        ids[i, 1:n - 1] = rng.integers(3, V - 2, n - 2)
        ids[i, n - 1] = V - 1
    t_ids = model.get_text_features(input_ids=torch.from_numpy(ids))
    t_ids = getattr(t_ids, "pooler_output", t_ids)

    D = model.config.text_config.hidden_size
    emb = torch.from_numpy(rng.standard_normal((3, 77, D)).astype(np.float32) * 0.5)
    eot = [5, 40, 76]
    t_emb = text_from_embeddings(model, emb, eot)

    ref = {
        "preprocess": pre,
        "image_names": names,
        "image_embeds": img_emb.tolist(),
        "image_embeds_f16": img_emb16.tolist(),
        "text_ids": ids.tolist(),
        "text_embeds_ids": t_ids.tolist(),
        "text_embeddings_input": emb.flatten().tolist(),
        "text_embeddings_shape": list(emb.shape),
        "text_eot": eot,
        "text_embeds_embeddings": t_emb.tolist(),
        "token_embedding_rows": {str(i): model.text_model.embeddings.token_embedding.weight[i].tolist() for i in (0, 7, V - 1)},
    }
    try:
        ref["cv2_resize"] = cv2_reference()
    except ImportError:
        print("opencv-python-headless not installed: no cv2 resize reference")
    save_json(os.path.join(out, "reference.json"), ref)
    save_json(os.path.join(out, "tokens.json"), tokens_fixture())
    print("wrote", out)


if __name__ == "__main__":
    sys.exit(main())
