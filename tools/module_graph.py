#!/usr/bin/env python3
"""Prints the module graph of every crate in crates/ (which module names which, through `crate::` paths) and
fails when a crate's modules form a cycle.

    python3 tools/module_graph.py            # graph of every crate, exit 1 on a cycle
    python3 tools/module_graph.py avad-nn    # one crate

A module is a top-level file (or folder) of a crate's src/; `lib.rs` and `main.rs` (the roots, which declare and
re-export modules) are left out, as are `#[cfg(test)]` blocks (tests may look anywhere). Standard library only.
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crates")
USE = re.compile(r"\bcrate::([a-z_][a-z0-9_]*)")


def strip_tests(text):
    """Drops `#[cfg(test)] mod … { … }` blocks by brace matching."""
    out, i = [], 0
    while True:
        j = text.find("#[cfg(test)]", i)
        if j < 0:
            out.append(text[i:])
            return "".join(out)
        out.append(text[i:j])
        k = text.find("{", j)
        depth, m = 0, k
        while m < len(text):
            if text[m] == "{":
                depth += 1
            elif text[m] == "}":
                depth -= 1
                if depth == 0:
                    break
            m += 1
        i = m + 1


def modules(src):
    mods = {}
    for name in sorted(os.listdir(src)):
        path = os.path.join(src, name)
        if name.endswith(".rs") and name not in ("lib.rs", "main.rs"):
            mods[name[:-3]] = [path]
        elif os.path.isdir(path):
            files = []
            for d, _, fs in os.walk(path):
                files += [os.path.join(d, f) for f in fs if f.endswith(".rs")]
            mods[name] = sorted(files)
    return mods


def graph(crate):
    src = os.path.join(ROOT, crate, "src")
    mods = modules(src)
    edges = {}
    for m, files in mods.items():
        deps = set()
        for f in files:
            text = strip_tests(open(f, encoding="utf-8").read())
            text = re.sub(r"//[^\n]*", "", text)
            deps |= {d for d in USE.findall(text) if d in mods and d != m}
        edges[m] = sorted(deps)
    return edges


def cycles(edges):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in edges:
        if v not in index:
            visit(v)
    return out


def main():
    crates = sys.argv[1:] or sorted(c for c in os.listdir(ROOT) if os.path.isdir(os.path.join(ROOT, c, "src")))
    bad = False
    for c in crates:
        edges = graph(c)
        print(f"{c}:")
        for m, deps in edges.items():
            print(f"  {m} -> {', '.join(deps) if deps else '(nothing)'}")
        for comp in cycles(edges):
            bad = True
            print(f"  CYCLE: {' <-> '.join(comp)}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
