#!/usr/bin/env python3
"""CLIP + Wav2CLIP features of many videos on a Ray cluster, with exactly the files `avad extract` writes.

    python examples/ray_extract.py --address auto --videos VIDEOS --out OUT \
        --clip-model CLIP_DIR --wav2clip Wav2CLIP.pt [--workers N] [--crops 1|10] [--max-snippets N]

- Videos: a folder (video files, not recursive) or a text list, read as `avad extract --videos` reads it.
- Each worker is a Ray actor that loads the encoders once (`avad.Encoders`) and extracts one video per call with
  `Encoders.extract_to`: `OUT/visual/<video>__<c>.npy`, `OUT/audio/<video>.npy` and then the done-marker
  `OUT/done/<video>.json`, each written atomically, byte-identical to a single-process `avad extract`. OUT must be
  a folder every node can write (a shared file system); workers write distinct files.
- Videos already done (a valid done-marker with the same settings, the rule `avad extract` resumes by) are skipped
  before any work is sent, and again by the worker.
- A worker that dies (its process killed, its node lost) is restarted by Ray (`max_restarts`); the video it was
  extracting is sent again, to any worker, up to `--attempts` times in all. A video that fails by itself (not a media
  file, no video stream) is not retried: it is reported like `avad extract`'s `failures:` and the exit status is 1.
- At the end the lists (`OUT/list.csv`, `OUT/list_visual_only.csv`) are written once, from the done-markers of all
  videos, as `avad extract` writes them.

Progress lines on stdout (one per event, for logs and tests): `worker I pid P`, `start VIDEO worker I pid P attempt A`,
`done VIDEO worker I pid P t T`, `skipped VIDEO`, `lost VIDEO worker I attempt A: ...`, `failed VIDEO: ...`, then a
summary. See docs/python.md ("Extraction on a Ray cluster").
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import time
from typing import Any, Deque, Dict, List, Optional, Tuple

import ray
from ray.exceptions import RayActorError, RayTaskError

import avad

# Errors that mean "the worker went away", not "the video is bad": retry elsewhere. ActorUnavailableError (Ray >=
# 2.10) is the transient one (the actor is restarting); ActorDiedError (a RayActorError) is final.
try:
    from ray.exceptions import ActorUnavailableError
except ImportError:  # pragma: no cover - older Ray
    ActorUnavailableError = RayActorError  # type: ignore[misc,assignment]
try:
    from ray.exceptions import ActorDiedError
except ImportError:  # pragma: no cover - older Ray
    ActorDiedError = RayActorError  # type: ignore[misc,assignment]
LOST = (RayActorError, ActorUnavailableError)


@ray.remote(max_restarts=-1)
class Extractor:
    """One worker: the encoders loaded once, then one video per call."""

    def __init__(self, clip_model: str, wav2clip: str, engine: str, threads: int) -> None:
        self.enc = avad.Encoders(clip_model, wav2clip, engine=engine, threads=threads)

    def pid(self) -> int:
        return os.getpid()

    def extract(self, video: str, out: str, settings: Dict[str, Any]) -> Dict[str, Any]:
        r = self.enc.extract_to(video, out, **settings)
        return {"outcome": r["outcome"], "t": r["marker"]["t"], "pid": os.getpid()}


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--address", default=None, help="Ray cluster address (default: RAY_ADDRESS, or a local Ray)")
    p.add_argument("--node-ip-address", default=None, help="this driver's address on the cluster's network")
    p.add_argument("--videos", required=True, help="a folder of videos or a text list, as for avad extract")
    p.add_argument("--out", required=True, help="output folder, shared by every node")
    p.add_argument("--clip-model", required=True)
    p.add_argument("--wav2clip", required=True)
    p.add_argument("--workers", type=int, default=None, help="actors (default: one per CPU of the cluster)")
    p.add_argument("--cpus-per-worker", type=int, default=1, help="CPUs each actor reserves and computes on")
    p.add_argument("--crops", type=int, choices=(1, 10), default=1)
    p.add_argument("--stride", type=int, default=16)
    p.add_argument("--max-snippets", type=int, default=None)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--engine", default="auto", choices=("auto", "fast", "reference"))
    p.add_argument("--attempts", type=int, default=3, help="tries per video when workers die (default 3)")
    return p.parse_args(argv)


def say(*parts: object) -> None:
    print(*parts, flush=True)


def run(args: argparse.Namespace) -> int:
    settings = {"crops": args.crops, "stride": args.stride, "max_snippets": args.max_snippets, "batch": args.batch}
    verify = {k: settings[k] for k in ("crops", "stride", "max_snippets")}
    videos = [str(v) for v in avad.list_videos(args.videos)]
    names = collections.Counter(avad.video_name(v) for v in videos)
    started = time.time()
    failed: Dict[str, str] = {}
    pending: Deque[Tuple[str, int]] = collections.deque()
    skipped = 0
    for v in videos:
        if names[avad.video_name(v)] > 1:
            failed[v] = f"another input video is also named `{avad.video_name(v)}`"
        elif avad.verify_done(args.out, v, **verify) is not None:
            skipped += 1
            say("skipped", avad.video_name(v))
        else:
            pending.append((v, 1))
    if not pending:
        return finish(args, videos, verify, failed, skipped, 0, started)

    init: Dict[str, Any] = {"address": args.address, "log_to_driver": False, "ignore_reinit_error": True}
    if args.node_ip_address:
        init["_node_ip_address"] = args.node_ip_address
    ray.init(**init)
    n = args.workers or max(1, int(ray.cluster_resources().get("CPU", 1)) // args.cpus_per_worker)
    n = min(n, len(pending))
    actors = [
        Extractor.options(num_cpus=args.cpus_per_worker).remote(
            args.clip_model, args.wav2clip, args.engine, args.cpus_per_worker
        )
        for _ in range(n)
    ]
    pids: Dict[int, int] = {}
    idle: Deque[int] = collections.deque()
    for i, a in enumerate(actors):
        try:
            pids[i] = ray.get(a.pid.remote())
        except RayTaskError as e:  # the encoders could not be loaded: no worker can run
            say(f"worker {i} failed to start: {e.cause if hasattr(e, 'cause') else e}")
            return 1
        say(f"worker {i} pid {pids[i]}")
        idle.append(i)

    in_flight: Dict[Any, Tuple[int, str, int]] = {}
    probes: Dict[Any, Tuple[int, float]] = {}  # pid() calls to workers Ray is restarting
    extracted = 0
    while pending or in_flight:
        while pending and idle:
            i = idle.popleft()
            video, attempt = pending.popleft()
            ref = actors[i].extract.remote(video, args.out, settings)
            in_flight[ref] = (i, video, attempt)
            say(f"start {avad.video_name(video)} worker {i} pid {pids.get(i, '?')} attempt {attempt}")
        if not in_flight and not idle and not probes:
            for video, _ in pending:
                failed[video] = f"{video}: no worker left to extract it"
            pending.clear()
            break
        ready, _ = ray.wait(list(in_flight) + list(probes), num_returns=1)
        ref = ready[0]
        if ref in probes:
            i, since = probes.pop(ref)
            try:
                pids[i] = ray.get(ref)
                say(f"worker {i} pid {pids[i]}")
                idle.append(i)
            except ActorUnavailableError:  # still restarting: ask again
                if time.time() - since < 600:
                    time.sleep(0.2)
                    probes[actors[i].pid.remote()] = (i, since)
                else:
                    say(f"worker {i} did not come back")
            except RayActorError as e:
                say(f"worker {i} is gone: {type(e).__name__}")
            continue
        i, video, attempt = in_flight.pop(ref)
        name = avad.video_name(video)
        try:
            r = ray.get(ref)
        except LOST as e:
            # The worker died mid-video: Ray restarts it; the video goes back to the queue, for any worker.
            say(f"lost {name} worker {i} attempt {attempt}: {type(e).__name__}")
            if attempt < args.attempts:
                pending.appendleft((video, attempt + 1))
            else:
                failed[video] = f"{video}: gave up after {attempt} attempts (workers died)"
            probes[actors[i].pid.remote()] = (i, time.time())
            continue
        except RayTaskError as e:
            cause = getattr(e, "cause", None)
            failed[video] = str(cause) if cause is not None else str(e)
            say(f"failed {name}: {failed[video]}")
            idle.append(i)
            continue
        pids[i] = r["pid"]
        if r["outcome"] == "skipped":
            skipped += 1
            say(f"skipped {name}")
        else:
            extracted += 1
            say(f"done {name} worker {i} pid {r['pid']} t {r['t']}")
        idle.append(i)
    return finish(args, videos, verify, failed, skipped, extracted, started)


def finish(args, videos, verify, failed, skipped, extracted, started) -> int:
    lists = avad.write_lists(args.out, videos, **verify)
    say(
        f"extracted {extracted} videos, skipped {skipped} already done, {len(failed)} failed, "
        f"in {time.time() - started:.1f} s"
    )
    for key in ("list", "visual_only_list"):
        if lists[key] is not None:
            say(f"list: {lists[key]}")
    if failed:
        print("failures:", file=sys.stderr)
        for video, err in sorted(failed.items()):
            print(f"  {err if err.startswith(video) else f'{video}: {err}'}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(run(parse_args()))
