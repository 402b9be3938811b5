"""What the tools record about the machine they ran on (standard library only; imported by tools/load_serve.py and
tools/bench_official.py, which run from this folder)."""

import platform


def cpu_model(fallback="unknown"):
    """The CPU's model name from /proc/cpuinfo, else what `platform` knows, else `fallback`."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or fallback
