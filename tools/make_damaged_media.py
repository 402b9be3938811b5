#!/usr/bin/env python3
"""Writes a corpus of damaged videos, made from clips in fixtures/media, for the hostile-input tests (issue #18).

Usage:
    python3 tools/make_damaged_media.py OUT_DIR

Deterministic (a fixed seed): the same files every run. Kinds, each file named `<kind>-<source>-<n>.<ext>`:
- trunc:    cut at many offsets (0 bytes, 1 byte, 1 % … 99 %);
- flip:     1 to 256 random bits flipped;
- garbage:  a random 256-byte block overwritten with noise;
- ext:      a whole file under a wrong extension (.wav, .npy, .txt, another container's);
- huge:     declared frame size patched to 65535 x 65535 (MP4 `avc1` + `tkhd`, Matroska PixelWidth/Height,
            AVI `avih` + `strf`);
- empty:    zero-packet and audio-only files (ffmpeg `-t 0`, `-vn`), an empty file, one byte, noise, a zip;
- ts:       absurd timestamps written by ffmpeg's `setts` bitstream filter and `-output_ts_offset` (huge, jumping,
            constant, backwards).

Needs the ffmpeg CLI (scripts/install-deps.sh) for the `empty` and `ts` kinds; prints the number of files written.
"""

import os
import random
import shutil
import struct
import subprocess
import sys
import zipfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
MEDIA = os.path.join(ROOT, "fixtures", "media")
SOURCES = [
    "synthetic_av_sync.mp4",
    "synthetic_av_sync_negative.mkv",
    "small_AudioVideoInterleave.avi",
    "moviepy_fire2.mp4",
]
CUTS = [("cut-bunny.webm", "moviepy_big_buck_bunny_0_30.webm"), ("cut-smpte.mp4", "moviepy_smpte-2997.mp4")]
FRACTIONS = [0.0, None, 0.01, 0.05, 0.1, 0.25, 0.4, 0.5, 0.6, 0.75, 0.9, 0.99]  # None: one byte


def ffmpeg(*args):
    """Runs the ffmpeg CLI quietly; returns True when it succeeded."""
    r = subprocess.run(["ffmpeg", "-v", "error", "-y", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return r.returncode == 0


def patch_u16_be(data, at, value=0xFFFF):
    data[at:at + 2] = struct.pack(">H", value)


def huge_mp4(data):
    """Patches the `avc1` sample entry's width/height and the `tkhd` display size to 65535."""
    out = bytearray(data)
    i = out.find(b"avc1")
    if i < 0:
        return None
    # VisualSampleEntry: type(4) reserved(6) data_reference_index(2) pre_defined(2) reserved(2) pre_defined(12)
    # width(2) height(2)
    patch_u16_be(out, i + 28)
    patch_u16_be(out, i + 30)
    j = out.find(b"tkhd")
    while j >= 0:
        version = out[j + 4]
        # tkhd: version/flags(4), times and ids, ... width and height (16.16) are the last 8 bytes of the box.
        size = struct.unpack(">I", out[j - 4:j])[0]
        end = j - 4 + size
        out[end - 8:end] = struct.pack(">II", 0xFFFF << 16, 0xFFFF << 16)
        _ = version
        j = out.find(b"tkhd", j + 4)
    return bytes(out)


def huge_mkv(data):
    """Patches Matroska PixelWidth (0xB0) and PixelHeight (0xBA) elements of 1- or 2-byte size to 65535."""
    out = bytearray(data)
    n = 0
    for eid in (b"\xb0", b"\xba"):
        for size_byte, width in ((b"\x82", 2), (b"\x81", 1)):
            k = out.find(eid + size_byte)
            if k >= 0:
                if width == 2:
                    patch_u16_be(out, k + 2)
                else:
                    out[k + 2] = 0xFF
                n += 1
                break
    return bytes(out) if n else None


def huge_avi(data):
    """Patches the AVI main header's and the video format's width/height to 65535."""
    out = bytearray(data)
    i = out.find(b"avih")
    if i < 0:
        return None
    # avih: size(4), then 8 DWORDs before dwWidth, dwHeight at +32 / +36 of the payload.
    out[i + 8 + 32:i + 8 + 40] = struct.pack("<II", 65535, 65535)
    j = out.find(b"strf")
    if j >= 0:
        # BITMAPINFOHEADER: biSize(4) biWidth(4) biHeight(4)
        out[j + 8 + 4:j + 8 + 12] = struct.pack("<ii", 65535, 65535)
    return bytes(out)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    rng = random.Random(18)
    written = 0

    def write(name, data):
        nonlocal written
        with open(os.path.join(out_dir, name), "wb") as f:
            f.write(data)
        written += 1

    # Short cuts of longer clips (stream copy), so that every damaged file decodes in well under a second.
    sources = [os.path.join(MEDIA, s) for s in SOURCES]
    for name, clip in CUTS:
        path = os.path.join(out_dir, name)
        if ffmpeg("-i", os.path.join(MEDIA, clip), "-t", "3", "-c", "copy", path):
            sources.append(path)
        else:
            sys.stderr.write(f"make_damaged_media.py: ffmpeg could not cut {clip} (skipped)\n")
    for path in sources:
        src = os.path.basename(path)
        with open(path, "rb") as f:
            data = f.read()
        if path.startswith(out_dir):
            os.remove(path)
        stem, ext = os.path.splitext(src)
        stem = stem.replace("_", "-")
        for n, frac in enumerate(FRACTIONS):
            cut = 1 if frac is None else int(len(data) * frac)
            write(f"trunc-{stem}-{n:02d}{ext}", data[:cut])
        for n, bits in enumerate([1, 1, 2, 4, 8, 16, 32, 64, 128, 256]):
            d = bytearray(data)
            for _ in range(bits):
                k = rng.randrange(len(d))
                d[k] ^= 1 << rng.randrange(8)
            write(f"flip-{stem}-{n:02d}{ext}", bytes(d))
        for n in range(4):
            d = bytearray(data)
            k = rng.randrange(max(1, len(d) - 256))
            d[k:k + 256] = bytes(rng.randrange(256) for _ in range(min(256, len(d) - k)))
            write(f"garbage-{stem}-{n:02d}{ext}", bytes(d))
        for n, wrong in enumerate([".wav", ".npy", ".txt", ".webm" if ext != ".webm" else ".mp4"]):
            write(f"ext-{stem}-{n:02d}{wrong}", data)
        patcher = {".mp4": huge_mp4, ".mkv": huge_mkv, ".webm": huge_mkv, ".avi": huge_avi}[ext]
        huge = patcher(data)
        if huge is not None:
            write(f"huge-{stem}-00{ext}", huge)

    # Files made by the ffmpeg CLI from a clean clip.
    src = os.path.join(MEDIA, "synthetic_av_sync.mp4")
    made = [
        ("empty-zero-packets-00.mp4", ["-i", src, "-t", "0", "-c", "copy"]),
        ("empty-audio-only-00.mp4", ["-i", src, "-vn", "-c", "copy"]),
        ("empty-video-one-frame-00.mp4", ["-i", src, "-frames:v", "1", "-an", "-c", "copy"]),
        ("ts-huge-offset-00.mp4", ["-i", src, "-c", "copy", "-output_ts_offset", "1000000000"]),
        ("ts-scaled-00.mkv", ["-i", src, "-c", "copy", "-bsf:v", "setts=ts=TS*100000"]),
        ("ts-constant-00.mkv", ["-i", src, "-c", "copy", "-bsf:v", "setts=pts=0:dts=0"]),
        ("ts-jump-00.mkv", ["-i", src, "-c", "copy", "-bsf:v", "setts=ts=if(gte(N\\,20)\\,TS+100000000\\,TS)"]),
        ("ts-backwards-00.mkv", ["-i", src, "-c", "copy", "-bsf:v", "setts=ts=if(gte(N\\,20)\\,TS-3000\\,TS)"]),
        ("ts-audio-far-00.mkv", ["-i", src, "-c", "copy", "-bsf:a", "setts=ts=TS+1000000000"]),
        ("ts-huge-offset-00.ts", ["-i", src, "-c", "copy", "-output_ts_offset", "90000"]),
    ]
    for name, args in made:
        if ffmpeg(*args, os.path.join(out_dir, name)):
            written += 1
        else:
            sys.stderr.write(f"make_damaged_media.py: ffmpeg could not make {name} (skipped)\n")
    write("empty-file-00.mp4", b"")
    write("empty-one-byte-00.mp4", b"\0")
    write("noise-00.mp4", bytes(rng.randrange(256) for _ in range(65536)))
    write("text-00.mp4", b"this is not a video\n" * 100)
    zpath = os.path.join(out_dir, "zip-00.mp4")
    with zipfile.ZipFile(zpath, "w") as z:
        z.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
    written += 1
    shutil.rmtree(os.path.join(out_dir, "__pycache__"), ignore_errors=True)
    print(written)


if __name__ == "__main__":
    main()
