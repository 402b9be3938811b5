#!/usr/bin/env python3
"""Lists the crates whose features differ between the `avad-python` build alone (what maturin compiles) and the
whole workspace (what `cargo test --workspace --release` compiles). Every crate listed makes the wheel build compile
that crate, and everything above it, a second time; the fix is an entry in the feature-alignment section of
python/Cargo.toml. Exit status 1 when any differs. Run from the repository root: python3 python/tools/feature_check.py
"""

import re
import subprocess
import sys


def features(args):
    out = subprocess.run(
        ["cargo", "tree", *args, "-f", "{p} [{f}]", "--prefix", "none"],
        capture_output=True, text=True, check=True,
    ).stdout
    found = {}
    for line in out.splitlines():
        m = re.match(r"(\S+ v\S+)(?: \(.*?\))?(?: \(\*\))? \[(.*)\]", line.strip())
        if m:
            found.setdefault(m.group(1), set()).update(f for f in m.group(2).split(",") if f)
    return found


def main():
    alone = features(["-p", "avad-python", "-e", "normal,build"])
    workspace = features(["--workspace", "-e", "normal,build,dev"])
    diffs = [(k, sorted(workspace[k] - alone[k]), sorted(alone[k] - workspace[k]))
             for k in sorted(alone) if k in workspace and alone[k] != workspace[k]]
    for crate, missing, extra in diffs:
        print(f"feature-check: {crate}: the workspace adds {missing}, avad-python alone adds {extra}")
    if diffs:
        print(f"feature-check: {len(diffs)} crate(s) differ: the wheel build recompiles them and their dependents")
        return 1
    print(f"feature-check: the {len(alone)} crates of avad-python have the workspace's features")
    return 0


if __name__ == "__main__":
    sys.exit(main())
