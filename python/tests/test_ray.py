"""`examples/ray_extract.py` on a local Ray cluster (a head without CPUs and two worker nodes, all on loopback):
the files equal a single-process `avad extract` byte for byte, and a worker killed mid-video is restarted and the
run still completes every video exactly once. Runs only where `ray` is installed (scripts/test_python.sh installs
it)."""

from __future__ import annotations

import collections
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import avad
from conftest import MEDIA, ROOT, run_cli

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.ray

# The 30 s clip is the one whose worker is killed (it takes seconds); the others cover audio, silent audio and
# no audio stream.
RAY_CLIPS = [
    "moviepy_big_buck_bunny_0_30.webm",
    "moviepy_fire2.mp4",
    "moviepy_video_with_failing_audio.mp4",
    "synthetic_av_sync.mp4",
    "moviepy_test_video_1x1.mp4",
]
VICTIM = "moviepy_big_buck_bunny_0_30"


@pytest.fixture
def cluster(monkeypatch):
    from ray.cluster_utils import Cluster

    # Keep every address on loopback: without this Ray replaces 127.0.0.1 by the machine's own address when a
    # driver connects (ray._private.services.resolve_ip_for_localhost).
    monkeypatch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

    small = 80 * 1024 * 1024
    loopback = "127.0.0.1"
    c = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 0, "object_store_memory": small, "include_dashboard": False,
                        "node_ip_address": loopback},
    )
    for _ in range(2):
        c.add_node(num_cpus=1, object_store_memory=small, node_ip_address=loopback)
    c.wait_for_nodes()
    try:
        yield c
    finally:
        c.shutdown()


def test_ray_extract_equals_the_cli_and_survives_a_killed_worker(avad_bin, models, cluster, tmp_path):
    lst = tmp_path / "videos.txt"
    lst.write_text("".join(f"{MEDIA / c}\n" for c in RAY_CLIPS))
    cli_out = tmp_path / "cli"
    run_cli(avad_bin, ["extract", "--videos", lst, "--out", cli_out, "--clip-model", models["clip"],
                       "--wav2clip", models["wav2clip"]])

    out = tmp_path / "ray"
    cmd = [sys.executable, str(ROOT / "examples" / "ray_extract.py"), "--address", cluster.address,
           "--videos", str(lst), "--out", str(out), "--clip-model", str(models["clip"]),
           "--wav2clip", str(models["wav2clip"]), "--workers", "2", "--node-ip-address", "127.0.0.1"]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    watchdog = threading.Timer(300, proc.kill)  # a hung driver fails the test instead of hanging it
    watchdog.start()
    lines = []
    killed = None
    deadline = time.time() + 300
    for line in proc.stdout:
        line = line.rstrip("\n")
        lines.append(line)
        words = line.split()
        # `start VIDEO worker I pid P attempt 1`: kill that worker's process while it extracts the long clip.
        if killed is None and words[:2] == ["start", VICTIM]:
            pid = int(words[words.index("pid") + 1])
            time.sleep(0.3)
            os.kill(pid, signal.SIGKILL)
            killed = pid
        assert time.time() < deadline, "\n".join(lines)
    rc = proc.wait(timeout=60)
    watchdog.cancel()
    log = "\n".join(lines) + "\n" + proc.stderr.read()
    assert rc == 0, log
    assert killed is not None, log
    # The killed worker's video was retried and finished; every video finished exactly once.
    assert any(l.startswith(f"lost {VICTIM} ") for l in lines), log
    done = collections.Counter(l.split()[1] for l in lines if l.startswith("done "))
    names = sorted(avad.video_name(c) for c in RAY_CLIPS)
    assert sorted(done) == names and set(done.values()) == {1}, log
    # Both workers (one per worker node) extracted videos.
    assert {l.split()[3] for l in lines if l.startswith("start ")} == {"0", "1"}, log
    # Everything on loopback.
    assert cluster.address.startswith("127.0.0.1:"), cluster.address
    assert set(re.findall(r"\b\d{1,3}(?:\.\d{1,3}){3}\b", log)) <= {"127.0.0.1"}, log

    # Byte-identical feature files, same markers' contents (but the time), same lists (but the folder).
    def npys(d: Path):
        return sorted(p.relative_to(d) for p in d.rglob("*.npy"))

    assert npys(out) == npys(cli_out) and npys(out)
    for rel in npys(out):
        assert (out / rel).read_bytes() == (cli_out / rel).read_bytes(), rel
    for name in names:
        a = json.loads((out / "done" / f"{name}.json").read_text())
        b = json.loads((cli_out / "done" / f"{name}.json").read_text())
        a.pop("seconds"), b.pop("seconds")
        assert a == b
    for f in ("list.csv", "list_visual_only.csv"):
        assert (out / f).read_text().replace(str(out.resolve()), "OUT") == (cli_out / f).read_text().replace(
            str(cli_out.resolve()), "OUT"
        ), f

    # A rerun finds everything done and sends no work.
    again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "extracted 0 videos, skipped 5 already done" in again.stdout
