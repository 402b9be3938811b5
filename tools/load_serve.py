#!/usr/bin/env python3
"""Load test of `avad serve`: N concurrent clients upload a small clip, poll their job until it ends and fetch the
report, while a separate process probes `/healthz` every 50 ms and the server's resident memory is sampled.

    tools/load_serve.py [--clients 50] [--max-rss-mb 1024] [--healthz-p99-ms 100] [--avad BIN] [-- SERVER FLAGS]
    tools/load_serve.py --url http://HOST:PORT --token TOKEN [--pid PID] ...   (a server that is already running)

Without --url it starts `avad serve` itself (the binary from --avad, $AVAD_BIN, or
$CARGO_TARGET_DIR/release/avad, else target/release/avad) on a free loopback port with a fresh storage folder, creates
a `submit` token with `avad serve token create`, and stops the server at the end. Without model flags after `--` it
writes tiny random-weight models first with the `make_test_models` example of avad-pipeline (--make-test-models,
$AVAD_MAKE_TEST_MODELS, or release/examples/make_test_models next to the binary; build it with
`cargo build --release -p avad-pipeline --example make_test_models`) and the tiny CLIP of fixtures/clip/tiny_hf.

It prints jobs submitted / completed / failed, wall time, jobs per minute, /healthz p50 / p99 / max, peak RSS, the
load average and the CPU, and with --json also writes them as JSON. It exits 1 when any job did not complete (or,
for a server it started, when a job ran more than once or left other than exactly one report), when the /healthz
p99 is at or above --healthz-p99-ms, when a /healthz probe failed, or when the peak RSS exceeded --max-rss-mb.
Python standard library only. Results: docs/benchmarks.md ("avad serve under load").
"""

import argparse
import http.client
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

from machine_info import cpu_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def percentile(xs, p):
    """The p-th percentile (nearest rank) of xs; 0 when empty."""
    if not xs:
        return 0.0
    s = sorted(xs)
    k = max(0, min(len(s) - 1, int(-(-p * len(s) // 100)) - 1))
    return s[k]


def rss_kb(pid, field="VmRSS"):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def probe_healthz(host, port, interval, stop, out):
    """In its own process (no GIL shared with the clients): GET /healthz on a fresh connection every `interval`
    seconds until `stop` is set; sends [(seconds since start, latency s or None on failure, status)] to `out`."""
    samples = []
    t0 = time.monotonic()
    while not stop.is_set():
        began = time.perf_counter()
        status = 0
        try:
            c = http.client.HTTPConnection(host, port, timeout=10)
            c.request("GET", "/healthz")
            r = c.getresponse()
            r.read()
            status = r.status
            c.close()
            lat = time.perf_counter() - began
        except OSError:
            lat = None
        samples.append((time.monotonic() - t0, lat if status == 200 else None, status))
        left = interval - (time.perf_counter() - began)
        if left > 0:
            stop.wait(left)
    out.send(samples)
    out.close()


class Client(threading.Thread):
    """Uploads the clip (streamed from the file), polls the job until it ends, fetches the report."""

    def __init__(self, n, host, port, token, clip, poll, deadline, repeat):
        super().__init__(daemon=True)
        self.n, self.host, self.port, self.token = n, host, port, token
        self.clip, self.poll, self.deadline, self.repeat = clip, poll, deadline, repeat
        self.jobs = []  # dicts: id, status, attempts, submit_s, done_s, report_ok, error

    def conn(self):
        return http.client.HTTPConnection(self.host, self.port, timeout=120)

    def call(self, c, method, path, body=None, headers=None):
        h = {"Authorization": f"Bearer {self.token}"}
        h.update(headers or {})
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        return r.status, r.read()

    def run(self):
        for k in range(self.repeat):
            job = {"id": None, "status": "not submitted", "attempts": None, "report_ok": False, "error": None}
            self.jobs.append(job)
            try:
                self.one(job, k)
            except Exception as e:  # noqa: BLE001 - every failure is recorded and reported
                job["error"] = f"{type(e).__name__}: {e}"

    def one(self, job, k):
        c = self.conn()
        size = os.path.getsize(self.clip)
        name = urllib.parse.quote(f"client{self.n:03d}-{k}{os.path.splitext(self.clip)[1]}")
        t0 = time.monotonic()
        with open(self.clip, "rb") as f:
            # A file body is sent in blocks as it is read (streamed), with its Content-Length.
            status, body = self.call(c, "POST", f"/v1/jobs?name={name}", body=f,
                                     headers={"Content-Type": "application/octet-stream",
                                              "Content-Length": str(size)})
        if status != 202:
            job["status"] = f"upload answered {status}"
            job["error"] = body[:200].decode("utf-8", "replace")
            return
        j = json.loads(body)
        job["id"] = j["id"]
        job["status"] = j["status"]
        job["submit_s"] = time.monotonic() - t0
        while time.monotonic() < self.deadline:
            time.sleep(self.poll)
            status, body = self.call(c, "GET", f"/v1/jobs/{job['id']}")
            if status != 200:
                job["status"] = f"poll answered {status}"
                return
            j = json.loads(body)
            job["status"], job["attempts"] = j["status"], j["attempts"]
            if j["status"] in ("done", "failed", "cancelled"):
                break
        job["done_s"] = time.monotonic() - t0
        if job["status"] != "done":
            job["error"] = j.get("error") or "did not finish in time"
            return
        status, body = self.call(c, "GET", f"/v1/jobs/{job['id']}/report")
        if status == 200:
            rep = json.loads(body)
            job["report_ok"] = isinstance(rep.get("snippets"), list) and len(rep["snippets"]) > 0
            if not job["report_ok"]:
                job["error"] = "the report has no snippets"
        else:
            job["error"] = f"report answered {status}"
        c.close()


def default_binary(name):
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
    return os.path.join(target, "release", name)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=50, help="concurrent clients (50)")
    ap.add_argument("--jobs-per-client", type=int, default=1, help="jobs each client submits one after another (1)")
    ap.add_argument("--clip", default=os.path.join(ROOT, "fixtures/media/synthetic_av_sync.mp4"),
                    help="the video every client uploads (fixtures/media/synthetic_av_sync.mp4)")
    ap.add_argument("--poll", type=float, default=0.5, help="seconds between a client's status polls (0.5)")
    ap.add_argument("--healthz-interval", type=float, default=0.05, help="seconds between /healthz probes (0.05)")
    ap.add_argument("--healthz-p99-ms", type=float, default=100.0, help="fail at or above this /healthz p99 (100)")
    ap.add_argument("--max-rss-mb", type=float, default=1024.0,
                    help="fail when the server's peak resident memory exceeds this many MiB (1024)")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds for all jobs to end (1800)")
    ap.add_argument("--avad", default=os.environ.get("AVAD_BIN") or default_binary("avad"),
                    help="the avad binary to start ($AVAD_BIN, else $CARGO_TARGET_DIR/release/avad)")
    ap.add_argument("--make-test-models", default=os.environ.get("AVAD_MAKE_TEST_MODELS"),
                    help="the make_test_models example binary (used when no model flags are given)")
    ap.add_argument("--storage", help="storage folder for the started server (default: a temporary one)")
    ap.add_argument("--url", help="an already running server (with --token) instead of starting one")
    ap.add_argument("--token", help="a submit token for --url")
    ap.add_argument("--pid", type=int, help="with --url: the server's process id, to sample its memory")
    ap.add_argument("--json", help="also write the results to this file as JSON")
    ap.add_argument("server_flags", nargs="*", help="after --: flags for `avad serve` (model flags, --threads …)")
    a = ap.parse_args()

    tmp = None
    server = None
    storage = None
    log = None
    load_start = os.getloadavg()
    try:
        if a.url:
            if not a.token:
                ap.error("--url needs --token")
            u = urllib.parse.urlsplit(a.url)
            host, port, token, pid = u.hostname, u.port or 80, a.token, a.pid
        else:
            tmp = tempfile.mkdtemp(prefix="avad-load-")
            storage = a.storage or os.path.join(tmp, "storage")
            flags = list(a.server_flags)
            if "--model" not in flags:
                make = a.make_test_models or os.path.join(os.path.dirname(os.path.abspath(a.avad)), "examples",
                                                          "make_test_models")
                if not os.path.exists(make):
                    sys.exit(f"no model flags and no {make}: build it with "
                             "`cargo build --release -p avad-pipeline --example make_test_models`")
                models = os.path.join(tmp, "models")
                subprocess.run([make, models, "24"], check=True, stdout=subprocess.DEVNULL)
                flags += ["--model", os.path.join(models, "ckpt/model.json"),
                          "--clip-model", os.path.join(ROOT, "fixtures/clip/tiny_hf"),
                          "--wav2clip", os.path.join(models, "wav2clip_formula.safetensors")]
            out = subprocess.run([a.avad, "serve", "token", "create", "--name", "load", "--scope", "submit",
                                  "--storage", storage], check=True, capture_output=True, text=True)
            token = out.stdout.strip()
            log = open(os.path.join(tmp, "serve.log"), "w")
            server = subprocess.Popen([a.avad, "serve", "--listen", "127.0.0.1:0", "--storage", storage] + flags,
                                      stdout=subprocess.PIPE, stderr=log, text=True)
            ready = server.stdout.readline().strip()
            if not ready.startswith("READY http://"):
                sys.exit(f"avad serve did not start (first line {ready!r}); its log: {log.name}")
            u = urllib.parse.urlsplit(ready.split(" ", 1)[1])
            host, port, pid = u.hostname, u.port, server.pid

        # /healthz in its own process; memory sampled on a thread here.
        stop_probe = multiprocessing.Event()
        recv, send = multiprocessing.Pipe(duplex=False)
        probe = multiprocessing.Process(target=probe_healthz, args=(host, port, a.healthz_interval, stop_probe, send))
        probe.start()
        rss = []
        loads = []
        stop_rss = threading.Event()

        def sample():
            while not stop_rss.is_set():
                if pid:
                    kb = rss_kb(pid)
                    if kb:
                        rss.append(kb)
                loads.append(os.getloadavg()[0])
                stop_rss.wait(0.1)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        time.sleep(0.5)  # a few idle probes first

        t0 = time.monotonic()
        deadline = t0 + a.timeout
        clients = [Client(i, host, port, token, a.clip, a.poll, deadline, a.jobs_per_client)
                   for i in range(a.clients)]
        for c in clients:
            c.start()
        for c in clients:
            c.join(max(1.0, deadline - time.monotonic() + 60))
        wall = time.monotonic() - t0
        time.sleep(0.5)
        stop_probe.set()
        samples = recv.recv()
        probe.join()
        stop_rss.set()
        sampler.join()
        peak_hwm = rss_kb(pid, "VmHWM") if pid else None
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        if log is not None:
            log.close()

    jobs = [j for c in clients for j in c.jobs]
    submitted = [j for j in jobs if j["id"]]
    completed = [j for j in jobs if j["status"] == "done" and j["report_ok"]]
    failed = [j for j in jobs if j not in completed]
    lat = [l for _, l, _ in samples if l is not None]
    probe_failures = sum(1 for _, l, _ in samples if l is None)
    peak_rss_kb = max([k for k in rss] + ([peak_hwm] if peak_hwm else []), default=0)
    # Growth: the mean RSS of the second tenth of the run (after the first jobs) against the last tenth.
    tenth = max(1, len(rss) // 10)
    rss_early = sum(rss[tenth:2 * tenth]) / len(rss[tenth:2 * tenth]) / 1024 if len(rss) >= 2 * tenth else 0
    rss_late = sum(rss[-tenth:]) / tenth / 1024 if rss else 0
    problems = []
    exactly_once = None
    if storage:
        # Exactly once: every job at attempt 1 with one report file, and no other report files.
        reports = sorted(f for f in os.listdir(os.path.join(storage, "results")) if f.endswith(".json"))
        expected = sorted(f"{j['id']}-a1.json" for j in completed)
        exactly_once = reports == expected and all(j["attempts"] == 1 for j in completed)
        if not exactly_once:
            problems.append(f"not exactly once: {len(reports)} report files for {len(completed)} jobs")
    if len(completed) != a.clients * a.jobs_per_client:
        problems.append(f"{len(failed)} of {len(jobs)} jobs did not complete")
        for j in failed[:5]:
            problems.append(f"  job {j['id']}: {j['status']}: {j['error']}")
    p50, p99 = percentile(lat, 50) * 1000, percentile(lat, 99) * 1000
    if not lat or p99 >= a.healthz_p99_ms:
        problems.append(f"/healthz p99 {p99:.1f} ms is not under {a.healthz_p99_ms:g} ms")
    if probe_failures:
        problems.append(f"{probe_failures} /healthz probes failed")
    if pid and peak_rss_kb / 1024 > a.max_rss_mb:
        problems.append(f"peak RSS {peak_rss_kb / 1024:.0f} MiB exceeds {a.max_rss_mb:g} MiB")
    load_end = os.getloadavg()
    done_times = sorted(j["done_s"] for j in completed)
    result = {
        "clients": a.clients,
        "jobs_per_client": a.jobs_per_client,
        "clip": os.path.relpath(a.clip, ROOT),
        "clip_bytes": os.path.getsize(a.clip),
        "jobs_submitted": len(submitted),
        "jobs_completed": len(completed),
        "jobs_failed": len(jobs) - len(completed),
        "exactly_once": exactly_once,
        "wall_s": round(wall, 2),
        "jobs_per_min": round(len(completed) / wall * 60, 1) if wall > 0 else 0,
        "job_latency_s_p50": round(percentile(done_times, 50), 2),
        "job_latency_s_max": round(max(done_times, default=0), 2),
        "healthz_probes": len(samples),
        "healthz_failures": probe_failures,
        "healthz_ms_p50": round(p50, 2),
        "healthz_ms_p99": round(p99, 2),
        "healthz_ms_max": round(max(lat, default=0) * 1000, 2),
        "peak_rss_mib": round(peak_rss_kb / 1024, 1) if pid else None,
        "peak_rss_vmhwm_mib": round(peak_hwm / 1024, 1) if peak_hwm else None,
        "max_sampled_rss_mib": round(max(rss, default=0) / 1024, 1),
        "max_rss_mib_bound": a.max_rss_mb,
        "rss_mib_second_tenth": round(rss_early, 1),
        "rss_mib_last_tenth": round(rss_late, 1),
        "loadavg_start": [round(x, 2) for x in load_start],
        "loadavg_end": [round(x, 2) for x in load_end],
        "loadavg_1min_max": round(max(loads, default=0), 2),
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "ok": not problems,
        "problems": problems,
    }
    print(f"clients {a.clients} x {a.jobs_per_client} job(s), clip {result['clip']} ({result['clip_bytes']} bytes)")
    print(f"jobs: submitted {len(submitted)}, completed {len(completed)}, failed {result['jobs_failed']}"
          + ("" if exactly_once is None else f", exactly once: {'yes' if exactly_once else 'NO'}"))
    print(f"wall {wall:.1f} s, {result['jobs_per_min']} jobs/min; job latency (submit to done) p50 "
          f"{result['job_latency_s_p50']} s, max {result['job_latency_s_max']} s")
    print(f"/healthz: {len(samples)} probes every {a.healthz_interval * 1000:g} ms, {probe_failures} failed; "
          f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {result['healthz_ms_max']:.1f} ms")
    if pid:
        hwm = f"{peak_hwm / 1024:.1f} MiB" if peak_hwm else "unknown"
        print(f"server peak RSS {peak_rss_kb / 1024:.1f} MiB (bound {a.max_rss_mb:g} MiB; VmHWM since its start, "
              f"model loading included: {hwm}; highest sample during the run {max(rss, default=0) / 1024:.1f} MiB); "
              f"mean RSS in the second tenth of the run {rss_early:.1f} MiB, in the last tenth {rss_late:.1f} MiB")
    print("load average: start " + " ".join(f"{x:.2f}" for x in load_start) + ", end "
          + " ".join(f"{x:.2f}" for x in load_end) + f", 1-min max during the run {result['loadavg_1min_max']:.2f}")
    print(f"CPU: {result['cpu']}, {result['cpus']} logical CPUs")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=2)
    if problems:
        print("FAILED:\n" + "\n".join(problems))
        if tmp:
            print(f"(the server's log and storage are kept in {tmp})")
        return 1
    if tmp:
        shutil.rmtree(tmp, ignore_errors=True)
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
