#!/usr/bin/env python3
"""Writes the seed corpus of avad's fuzz targets: `fuzz/corpus/<target>/<name>` (issue #18).

Usage: python3 tools/make_fuzz_corpus.py [OUT_DIR]   (default: fuzz/corpus next to this script's repository)

Deterministic, standard library only (no torch, no numpy): every seed is a small, valid file of the format its
target parses (a few hundred bytes to a few KB), so the fuzzer starts from inside each format. PyTorch files are
written the way `torch.save` writes them (zip format: `archive/data.pkl` + stored `archive/data/<key>` entries;
legacy format: magic, protocol, system info, the pickle, storage keys, raw storages), with stand-in `torch`
modules so that `pickle` emits the same GLOBAL / BINPERSID opcodes. The seeds are committed; the stable replay tests
(`crates/*/tests/fuzz_corpus.rs`) run every one of them, and the crashes the fuzzer found
(`fuzz/artifacts-kept/<target>/`), through the fuzzed code. See docs/hostile-input.md, "Fuzzing".
"""

import collections
import io
import json
import os
import pickle
import shutil
import struct
import sys
import types
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write(out, target, name, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# --------------------------------------------------------------------------------------------------------- npy


def npy(descr, shape, body, fortran=False, version=1):
    shape_txt = "(%s,)" % shape[0] if len(shape) == 1 else "(%s)" % ", ".join(str(d) for d in shape)
    header = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, "True" if fortran else "False", shape_txt)
    pre = 10 if version == 1 else 12
    pad = (64 - (pre + len(header) + 1) % 64) % 64
    header = header + " " * pad + "\n"
    out = b"\x93NUMPY" + bytes([version, 0])
    out += struct.pack("<H", len(header)) if version == 1 else struct.pack("<I", len(header))
    return out + header.encode("latin1") + body


def npy_seeds(out):
    f4 = struct.pack("<6f", 1, 2, 3, 4, 5, 6)
    write(out, "npy", "f4-2x3", npy("<f4", [2, 3], f4))
    write(out, "npy", "f4-fortran", npy("<f4", [2, 3], f4, fortran=True))
    write(out, "npy", "f2-4", npy("<f2", [4], struct.pack("<4e", 0.5, -2, 1, 0)))
    write(out, "npy", "f8-be-1x2", npy(">f8", [1, 2], struct.pack(">2d", 1.5, -3)))
    write(out, "npy", "f4-v2-3d", npy("<f4", [1, 2, 3], f4, version=2))
    write(out, "npy", "f4-empty", npy("<f4", [0, 512], b""))
    write(out, "npy", "f4-scalar", npy("<f4", [], struct.pack("<f", 7)))
    write(out, "npy", "i4-refused", npy("<i4", [2], struct.pack("<2i", 1, 2)))
    feat = struct.pack("<%df" % (8 * 16), *[(i % 13) / 13 for i in range(8 * 16)])
    write(out, "npy", "f4-8x16", npy("<f4", [8, 16], feat))


# ----------------------------------------------------------------------------------------------- lists / annotations


def list_seeds(out):
    write(out, "list_csv", "vadclip", "path,label\n/data/feat/v1__0.npy,A\n/data/feat/v1__1.npy,A\n"
          "/data/feat/Bad.Boys__#01-11_label_B2-G-0__0.npy,B2-G-0\n")
    write(out, "list_csv", "avadclip", "path,audio_path,label\nvis/a__0.npy,aud/a.npy,B1-0-0\nvis/b__3.npy,aud/b.npy,A\n")
    write(out, "list_csv", "quoted", 'label,path,extra\n"B5-0-0","x y/z__12.npy","a,b"\nNormal,"q""uote.npy",\n')
    write(out, "list_csv", "missing-label", "path,label\nfeat.npy,\n")
    write(out, "list_csv", "no-path", "file,label\na.npy,A\n")
    src = os.path.join(ROOT, "fixtures/xd-violence/xd_CLIP_rgbtest.csv")
    if os.path.exists(src):
        with open(src, "rb") as f:
            write(out, "list_csv", "xd-fixture-head", b"".join(f.readlines()[:12]))


def annotation_seeds(out):
    for name in ["annotations.txt", "annotations_multiclasses.txt"]:
        src = os.path.join(ROOT, "fixtures/xd-violence", name)
        if os.path.exists(src):
            with open(src, "rb") as f:
                write(out, "annotations", name.replace(".txt", "-head"), b"".join(f.readlines()[:8]))
    write(out, "annotations", "binary", "v1_label_B1-0-0.mp4 0 120 400 560\nv2_label_G-0-0 16 32\n")
    write(out, "annotations", "multi", "v3_label_B2-G-0.mp4 B2 0 20 G 10 40\n\nv4_label_B6-0-0 B6 5 9\n")
    write(out, "annotations", "bad-order", "v 10 2\n")
    write(out, "annotations", "odd", "v 1 2 3\n")


# ---------------------------------------------------------------------------------------------------------- wav


def wav(tag, channels, rate, bits, data, extensible=False, extra_chunk=True, data_size=None):
    ba = channels * ((bits + 7) // 8)
    fmt = struct.pack("<HHIIHH", 0xFFFE if extensible else tag, channels, rate, rate * ba, ba, bits)
    if extensible:
        fmt += struct.pack("<HHI", 22, bits, 0) + struct.pack("<H", tag) + bytes(
            [0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xAA, 0, 0x38, 0x9B, 0x71])
    body = b"WAVE"
    if extra_chunk:
        body += b"LIST" + struct.pack("<I", 3) + b"abc\x00"
    body += b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(data) if data_size is None else data_size) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def wav_seeds(out):
    import math
    s16 = b"".join(struct.pack("<h", int(12000 * math.sin(i / 5))) for i in range(200))
    write(out, "wav", "s16-mono-16k", wav(1, 1, 16000, 16, s16))
    write(out, "wav", "s16-stereo-44k", wav(1, 2, 44100, 16, s16))
    write(out, "wav", "f32-mono-48k", wav(3, 1, 48000, 32, struct.pack("<100f", *[math.sin(i / 3) / 2 for i in range(100)])))
    write(out, "wav", "f64-mono-8k", wav(3, 1, 8000, 64, struct.pack("<40d", *[i / 40 for i in range(40)])))
    write(out, "wav", "u8-mono-11k", wav(1, 1, 11025, 8, bytes(range(0, 256, 2))))
    write(out, "wav", "s24-ext-22k", wav(1, 2, 22050, 24, bytes(range(120)), extensible=True))
    write(out, "wav", "s32-ext-96k", wav(1, 1, 96000, 32, bytes(range(64)), extensible=True, extra_chunk=False))
    write(out, "wav", "streaming-size", wav(1, 1, 16000, 16, s16[:64], data_size=0xFFFFFFFF))
    write(out, "wav", "claims-4gb", wav(1, 1, 16000, 16, s16[:64], data_size=0xFFFFFFF0))
    for name in ["a3em_9_mm_gunshot-mike-koenig-123.wav", "ibm_gunshots.wav"]:
        src = os.path.join(ROOT, "fixtures/media", name)
        if os.path.exists(src):
            with open(src, "rb") as f:
                head = f.read(2048)  # header and the first samples (the data chunk then claims more: an error)
            write(out, "wav", "head-" + name, head)


# ------------------------------------------------------------------------------------------------------ safetensors


def safetensors(tensors, metadata=None):
    header = {}
    blob = b""
    for name, (dtype, shape, data) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(blob), len(blob) + len(data)]}
        blob += data
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + blob


def safetensors_seeds(out):
    write(out, "safetensors", "f32", safetensors({"w": ("F32", [2, 2], struct.pack("<4f", 1, 2, 3, 4))}))
    write(out, "safetensors", "mixed", safetensors({
        "a.weight": ("F16", [3], struct.pack("<3e", 0.5, 1, -1)),
        "a.bias": ("BF16", [2], b"\x80\x3f\x00\x40"),
        "ids": ("I64", [2], struct.pack("<2q", 7, 9)),
        "s": ("F64", [], struct.pack("<d", 2.5)),
        "n": ("I32", [1, 0], b""),
        "u": ("U8", [4], b"\x01\x02\x03\x04"),
    }, metadata={"format": "pt"}))
    write(out, "safetensors", "bool-refused", safetensors({"m": ("BOOL", [2], b"\x00\x01")}))
    bad = bytearray(safetensors({"w": ("F32", [2], struct.pack("<2f", 1, 2))}))
    bad[-8:] = b""  # offsets now past the end
    write(out, "safetensors", "offsets-past-end", bytes(bad))


# -------------------------------------------------------------------------------------------------------- pytorch
# Stand-in torch modules: pickle names globals by __module__ / __qualname__, exactly as torch.save does.


def _fake_module(name):
    m = types.ModuleType(name)
    sys.modules[name] = m
    return m


torch = _fake_module("torch")
torch_utils = _fake_module("torch._utils")
torch_nn = _fake_module("torch.nn")
torch_nn_parameter = _fake_module("torch.nn.parameter")
STORAGE_TYPES = {}
for _name, _fmt in [("FloatStorage", "f"), ("DoubleStorage", "d"), ("HalfStorage", "e"), ("BFloat16Storage", "H"),
                    ("LongStorage", "q"), ("IntStorage", "i"), ("ShortStorage", "h"), ("CharStorage", "b"),
                    ("ByteStorage", "B"), ("BoolStorage", "?")]:
    _cls = type(_name, (), {"__module__": "torch"})
    setattr(torch, _name, _cls)
    STORAGE_TYPES[_name] = (_cls, _fmt)


def _mkfunc(module, name):
    def f(*args):
        raise RuntimeError("never called")
    f.__module__ = module.__name__
    f.__name__ = f.__qualname__ = name
    setattr(module, name, f)
    return f


_rebuild_tensor_v2 = _mkfunc(torch_utils, "_rebuild_tensor_v2")
_rebuild_parameter = _mkfunc(torch_utils, "_rebuild_parameter")


class Storage:
    def __init__(self, kind, key, values):
        self.kind, self.key, self.values = kind, key, values

    def raw(self):
        fmt = STORAGE_TYPES[self.kind][1]
        return struct.pack("<%d%s" % (len(self.values), fmt), *self.values)


class Tensor:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def __reduce_ex__(self, proto):
        return (_rebuild_tensor_v2, (self.storage, self.offset, tuple(self.size), tuple(self.stride), False,
                                     collections.OrderedDict()))


class Parameter:
    def __init__(self, t):
        self.t = t

    def __reduce_ex__(self, proto):
        return (_rebuild_parameter, (self.t, True, collections.OrderedDict()))


class TorchPickler(pickle.Pickler):
    def __init__(self, f, legacy):
        super().__init__(f, protocol=2)
        self.legacy = legacy
        self.storages = collections.OrderedDict()

    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            self.storages[obj.key] = obj
            cls = STORAGE_TYPES[obj.kind][0]
            if self.legacy:
                return ("storage", cls, obj.key, "cpu", len(obj.values), None)
            return ("storage", cls, obj.key, "cpu", len(obj.values))
        return None


def dumps(obj, legacy=False):
    buf = io.BytesIO()
    p = TorchPickler(buf, legacy)
    p.dump(obj)
    return buf.getvalue(), p.storages


def pt_zip(obj, name="archive", byteorder=True):
    data, storages = dumps(obj)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        def add(n, b):
            info = zipfile.ZipInfo(n, date_time=(2020, 1, 1, 0, 0, 0))
            z.writestr(info, b)
        add(name + "/data.pkl", data)
        if byteorder:
            add(name + "/byteorder", b"little")
        for key, s in storages.items():
            add(name + "/data/" + key, s.raw())
        add(name + "/version", b"3\n")
    return buf.getvalue()


def pt_legacy(obj):
    out = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)
    out += pickle.dumps(1001, protocol=2)
    out += pickle.dumps({"protocol_version": 1001, "little_endian": True,
                         "type_sizes": {"short": 2, "int": 4, "long": 4}}, protocol=2)
    data, storages = dumps(obj, legacy=True)
    out += data
    out += pickle.dumps(list(storages.keys()), protocol=2)
    for s in storages.values():
        out += struct.pack("<q", len(s.values)) + s.raw()
    return out


def state_dict():
    w = Storage("FloatStorage", "0", [0.1 * i for i in range(6)])
    b = Storage("LongStorage", "1", [3, 4])
    sd = collections.OrderedDict()
    sd["layer.weight"] = Tensor(w, 0, [2, 3], [3, 1])
    sd["layer.bias"] = Tensor(b, 0, [2], [1])
    sd._metadata = collections.OrderedDict([("", {"version": 1}), ("layer", {"version": 1})])
    return sd


def pytorch_seeds(out):
    write(out, "pytorch", "zip-state-dict", pt_zip(state_dict()))
    write(out, "pytorch", "zip-checkpoint", pt_zip({"epoch": 3, "model_state_dict": state_dict(), "ap": 0.5,
                                                   "optimizer_state_dict": {"state": {0: {"step": 1}},
                                                                            "param_groups": [{"lr": 1e-3}]}},
                                                  name="checkpoint"))
    kinds = {}
    for i, (kind, vals) in enumerate([("HalfStorage", [0.5, 1.0, -2.0, 0.0]), ("BFloat16Storage", [0x3F80, 0x4000]),
                                      ("DoubleStorage", [1.5, 2.5, 3.5]), ("IntStorage", [1, -2]),
                                      ("ShortStorage", [5]), ("CharStorage", [-1, 2]), ("ByteStorage", [255, 0]),
                                      ("BoolStorage", [True, False, True])]):
        kinds[kind] = Storage(kind, str(i), vals)
    mixed = {
        "h": Tensor(kinds["HalfStorage"], 0, [2, 2], [2, 1]),
        "h_t": Tensor(kinds["HalfStorage"], 0, [2, 2], [1, 2]),  # a transposed (non-contiguous) view
        "bf": Tensor(kinds["BFloat16Storage"], 0, [2], [1]),
        "d_offset": Tensor(kinds["DoubleStorage"], 1, [2], [1]),
        "i": Tensor(kinds["IntStorage"], 0, [2], [1]),
        "scalar": Tensor(kinds["ShortStorage"], 0, [], []),
        "c": Tensor(kinds["CharStorage"], 0, [1, 2], [2, 1]),
        "u": Tensor(kinds["ByteStorage"], 0, [2], [1]),
        "mask": Tensor(kinds["BoolStorage"], 0, [3], [1]),
        "empty": Tensor(kinds["IntStorage"], 0, [0, 4], [4, 1]),
        "param": Parameter(Tensor(kinds["DoubleStorage"], 0, [3], [1])),
        "nested": {"deeper": {"t": Tensor(kinds["IntStorage"], 1, [1], [1])}, "n": None, "l": [1, 2.5, "x"]},
    }
    write(out, "pytorch", "zip-mixed-dtypes", pt_zip(mixed))
    write(out, "pytorch", "zip-no-byteorder", pt_zip({"x": Tensor(Storage("FloatStorage", "0", [1.0]), 0, [1], [1])},
                                                     byteorder=False))
    write(out, "pytorch", "legacy-state-dict", pt_legacy(state_dict()))
    write(out, "pytorch", "pickle-no-tensors", pickle.dumps({"epoch": 1, "name": "x", "lr": [0.1, 0.01]}, protocol=2))
    # Refused: a global outside the allow-list (this is what `pickle.dumps(os.system)` looks like on Linux).
    evil = b"\x80\x02cposix\nsystem\nq\x00X\x04\x00\x00\x00echo\x85R."
    write(out, "pytorch", "refused-posix-system", evil)


# ---------------------------------------------------------------------------------------------------- JSON / TOML

CLIP_TEXT = {"vocab_size": 49408, "hidden_size": 128, "intermediate_size": 512, "num_hidden_layers": 1,
             "num_attention_heads": 8, "max_position_embeddings": 77, "hidden_act": "quick_gelu",
             "layer_norm_eps": 1e-05}
VADCLIP = {"num_class": 7, "embed_dim": 128, "visual_length": 64, "visual_width": 128, "visual_head": 1,
           "visual_layers": 1, "attn_window": 64, "prompt_prefix": 10, "prompt_postfix": 10, "audio": None,
           "fusion": "none", "prompt": "add", "fe_net": False, "learnable_alpha": False, "clip_text": CLIP_TEXT}
TEACHER = dict(VADCLIP, visual_layers=2, attn_window=4, fusion="adaptive", prompt="softmax", learnable_alpha=True,
               audio={"input_width": 128, "channels": [128, 128, 128], "kernel_size": 2, "dropout": 0.1})
CLASSES = ["normal", "fighting", "shooting", "riot", "abuse", "car accident", "explosion"]


def checkpoint(model, **extra):
    d = {"format": "avad-checkpoint", "version": 1, "model_config": model, "class_names": CLASSES,
         "weights": "model.safetensors", "optimizer": None, "clip_weights": None, "train_config": None,
         "progress": None, "source": None}
    d.update(extra)
    return json.dumps(d, indent=2)


def json_seeds(out):
    write(out, "checkpoint_json", "vadclip", checkpoint(VADCLIP))
    write(out, "checkpoint_json", "teacher-train", checkpoint(
        TEACHER, optimizer="weights/last.optim.safetensors", clip_weights="weights/clip_text.safetensors",
        train_config={"preset": "synth-teacher", "modality": "visual", "seed": 7, "epochs": 12},
        progress={"epoch": 12, "step_in_epoch": 0, "global_step": 1296, "finished": True, "history": []}))
    write(out, "checkpoint_json", "audio-student", checkpoint(dict(VADCLIP, fe_net=True), train_config={
        "modality": "audio"}, source="imported.pth"))
    old = dict(VADCLIP, clip_text={"width": 128, "layers": 1, "heads": 8, "context_length": 77})
    write(out, "checkpoint_json", "old-clip-text-names", checkpoint(old))
    write(out, "checkpoint_json", "wrong-format", json.dumps({"format": "x", "version": 1}))
    write(out, "checkpoint_json", "future-version", checkpoint(VADCLIP, version=99))
    write(out, "bundle_json", "full", json.dumps({"format": "avad-bundle", "teacher": "teacher/model.json",
                                                  "visual_student": "student/model.json",
                                                  "audio_student": "audio-student/model.json"}))
    write(out, "bundle_json", "no-format", json.dumps({"visual_student": "../s/model.json"}))
    write(out, "bundle_json", "empty", json.dumps({"format": "avad-bundle"}))
    write(out, "bundle_json", "unknown-key", json.dumps({"teacher": "t.json", "student": "s.json"}))
    write(out, "bundle_json", "checkpoint-not-bundle", checkpoint(VADCLIP))


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    raise TypeError(v)


def toml(d, prefix=""):
    lines, tables = [], []
    for k, v in d.items():
        if isinstance(v, dict):
            tables.append((k, v))
        elif v is not None:
            lines.append("%s = %s" % (k, toml_value(v)))
    text = "\n".join(lines) + "\n"
    for k, v in tables:
        name = prefix + k
        text += "\n[%s]\n" % name + toml(v, name + ".")
    return text


def toml_seeds(out):
    # The first byte picks the preset (index into avad_train::PRESET_NAMES), the rest is the TOML file.
    presets = ["xd-teacher", "xd-vadclip", "cctv-teacher", "ucf-vadclip", "synth-teacher", "synth-vadclip",
               "xd-student", "cctv-student", "synth-student"]
    demo = "lr = 0.0005\nbatch_size = 8\nmilestones = [10]\n\n[model]\nvisual_length = 64\n"
    write(out, "train_toml", "demo-recipe", bytes([presets.index("synth-vadclip")]) + demo.encode())
    write(out, "train_toml", "teacher-model", bytes([presets.index("synth-teacher")]) + toml(
        {"epochs": 2, "seed": 3, "selection": "last-epoch", "model": dict(TEACHER, clip_text=CLIP_TEXT),
         "loss": {"focal": True, "focal_gamma": 2.0, "ukd_weight": 0.0}}).encode())
    write(out, "train_toml", "student-audio", bytes([presets.index("xd-student")]) +
          b'modality = "audio"\n[loss]\nukd_weight = 1e-8\n')
    write(out, "train_toml", "xd-window", bytes([presets.index("xd-teacher")]) + b"[model]\nattn_window = 8\n")
    write(out, "train_toml", "unknown-key", bytes([presets.index("ucf-vadclip")]) + b"epoch = 3\n")
    write(out, "train_toml", "bad-syntax", bytes([0]) + b"[model\nx = = 1\n")


# ------------------------------------------------------------------------------------------------------- tokenizer


def tokenizer_seeds(out):
    texts = {
        "prompt": "a video frame of fighting",
        "classes": "normal fighting shooting riot abuse car accident explosion",
        "html": "Tom &amp; Jerry &lt;3 &#8220;quoted&#8221; &eacute;t&eacute; &ampx &#x1F600; &#0; &#xD800;",
        "unicode": "Ünïcödé naïve café — ﬁnally ＦＵＬＬ　ＷＩＤＴＨ 日本語のテキスト 🙂👍🏽",
        "specials": "<|startoftext|>hello<|endoftext|> it's we'll they've I'm you'd",
        "controls": "line\r\nbreak\u2028sep\u0085\x1b[31mred\x1b[0m\x00\x07\ufeff",
        "long-word": "a" * 300 + " " + "ab" * 200,
        "numbers": "3.14159 2026-12-01 #18 100% $5 ½",
        "ligatures": "Ĳsselmeer ǅemal ﬀ ﬃ ﬆ",
    }
    for name, t in texts.items():
        write(out, "tokenizer", name, t)

# --- media_snippets: synthetic decoder outputs (byte format: crates/avad-media/src/fuzzing.rs, "Input format") ---

def ms_header(live, audio, stride, max_snippets=None, nominal=1):
    flags = (1 if live else 0) | (2 if audio else 0) | (4 if max_snippets else 0)
    return bytes([flags, stride - 1, (max_snippets or 1) - 1, nominal])


def ms_video(step=10):
    return bytes([0, step])  # 360 ticks per unit: 10 = 40 ms at 1/90000


def ms_video_tick(tick):
    return bytes([4]) + struct.pack("<q", tick)


def ms_video_f64(pts):
    return bytes([5]) + struct.pack("<d", pts)


def ms_video_no_pts(wall_10ms=4):
    return bytes([6, wall_10ms])


def ms_timebase(common=None, num=1, den=1, audio=False):
    b = bytes([common]) if common is not None else bytes([7]) + struct.pack("<ii", num, den)
    return bytes([7]) + b + bytes([1 if audio else 0])


def ms_audio(samples, rate_index=0, delta=None, tick=None, pts=None, rate=None):
    # rate_index: 0 48k, 1 44.1k, 2 16k, 3 8k, 4 22.05k, 5 96k, 6 32k, 7 = `rate` (u32)
    if rate is not None:
        rate_index = 7
    if delta is not None:
        mode, tail = 0, struct.pack("<h", delta)
    elif tick is not None:
        mode, tail = 1, struct.pack("<q", tick)
    elif pts is not None:
        mode, tail = 2, struct.pack("<d", pts)
    else:
        mode, tail = 3, b""
    out = bytes([8, rate_index | (mode << 3)]) + struct.pack("<H", samples)
    if rate_index == 7:
        out += struct.pack("<I", rate)
    return out + tail


def ms_anchor(g):
    return bytes([11, 0]) + struct.pack("<q", g)


def ms_audio_end(fatal=False):
    return bytes([11, 200 if fatal else 201])


def ms_av(frames, audio=True, step=10):
    """`frames` 25 fps video frames with 48 kHz audio in 1024-sample frames (16 ticks of 64 at 1/48000) between."""
    out = b""
    for i in range(frames):
        out += ms_video(step)
        if audio and i % 2 == 0:
            out += ms_audio(1024, delta=16) + ms_audio(1024, delta=16)
    return out


def media_snippets_seeds(out):
    w = lambda name, data: write(out, "media_snippets", name, data)
    w("live-av-stride16", ms_header(True, True, 16) + ms_av(70))
    w("file-av-stride16", ms_header(False, True, 16) + ms_av(70))
    w("live-video-only", ms_header(True, False, 4) + ms_av(20, audio=False))
    w("live-max-snippets", ms_header(True, True, 4, max_snippets=3) + ms_av(40))
    w("live-jumps", ms_header(True, True, 8) + ms_av(20) + ms_video_tick(10) + ms_av(12)
      + ms_video_tick(90000 * 100) + ms_av(12) + ms_video_tick(-5) + ms_av(12))
    w("live-no-pts", ms_header(True, True, 4, nominal=0)
      + b"".join(ms_video_no_pts(4) + ms_audio(640, rate_index=2) for _ in range(24)))
    w("live-early-audio", ms_header(True, True, 4) + ms_timebase(6, audio=True)
      + b"".join(ms_audio(1024, rate_index=1, delta=16) for _ in range(30)) + ms_av(24))
    w("live-ntsc-timebase", ms_header(True, True, 16, nominal=2) + ms_timebase(3) + bytes([3, 1, 0]) * 40)
    w("live-non-finite", ms_header(True, True, 2) + ms_av(4) + ms_video_f64(float("nan")) + ms_av(3)
      + ms_video_f64(float("inf")) + ms_video_f64(-1.7e308) + ms_av(3) + ms_video_f64(1e300) + ms_av(4))
    w("live-odd-rates", ms_header(True, True, 4) + ms_av(4) + ms_audio(1000, rate=1) + ms_av(2)
      + ms_audio(4096, rate=0) + ms_audio(512, rate=0x80000000) + ms_audio(480, rate=768000) + ms_av(6))
    w("file-huge-anchors", ms_header(False, True, 2) + ms_anchor(2**63 - 100) + ms_audio(4096, rate_index=2)
      + ms_av(4, audio=False) + ms_anchor(-2**63) + ms_audio(2048, rate_index=2) + ms_av(4, audio=False))
    w("file-backwards", ms_header(False, True, 4) + ms_av(16) + ms_video_tick(0) + ms_av(12)
      + ms_audio(2048, tick=-2**62) + ms_audio_end(fatal=True) + ms_av(4))
    w("file-any-timebase", ms_header(False, True, 3) + ms_timebase(num=2**31 - 1, den=3)
      + ms_timebase(num=-7, den=0, audio=True) + ms_av(12))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "fuzz", "corpus")
    if os.path.isdir(out):
        shutil.rmtree(out)
    npy_seeds(out)
    list_seeds(out)
    annotation_seeds(out)
    wav_seeds(out)
    safetensors_seeds(out)
    pytorch_seeds(out)
    json_seeds(out)
    toml_seeds(out)
    tokenizer_seeds(out)
    media_snippets_seeds(out)
    total = 0
    for target in sorted(os.listdir(out)):
        files = os.listdir(os.path.join(out, target))
        size = sum(os.path.getsize(os.path.join(out, target, f)) for f in files)
        total += size
        print("%-16s %3d seeds, %6d bytes" % (target, len(files), size))
    print("total %d bytes in %s" % (total, out))


if __name__ == "__main__":
    main()
