#!/usr/bin/env python3
"""check_layers.py — proves the layering of src/ (docs/ARCHITECTURE.md):

1. every file outside src/py/ compiles against a stand-in Python.h that is only an #error;
2. every #include "x/..." of a file points to its own layer or an earlier one;
3. no cycle between files: from the symbols each object file defines and uses (nm),
   the graph "file A calls file B" has no strongly connected component of two or more.

Usage: tools/check_layers.py [--objects DIR]   (DIR: the build's object files, for 3)
"""
import argparse
import collections
import glob
import os
import re
import subprocess
import sys
import tempfile

LAYERS = ["core", "json", "expr", "tmpl", "request", "net", "engine", "store", "py"]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, "src")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/[^"]+"', re.M)


def layer_of(path):
    return os.path.relpath(path, SRC).split(os.sep)[0]


def check_includes(problems):
    for path in sorted(glob.glob(os.path.join(SRC, "*", "*.[ch]"))):
        mine = layer_of(path)
        if mine not in LAYERS:
            problems.append(f"{path}: folder {mine!r} is not a layer ({', '.join(LAYERS)})")
            continue
        for target in INCLUDE.findall(open(path, encoding="utf-8").read()):
            if target not in LAYERS:
                problems.append(f"{path}: includes from unknown folder {target!r}")
            elif LAYERS.index(target) > LAYERS.index(mine):
                problems.append(f"{path}: layer {mine} includes {target}/, a later layer")


def check_no_python(problems, cc):
    with tempfile.TemporaryDirectory() as stand_in:
        with open(os.path.join(stand_in, "Python.h"), "w") as f:
            f.write('#error "Python.h outside src/py/: only the Python layer may include it"\n')
        curl = subprocess.run(["curl-config", "--cflags"], capture_output=True, text=True).stdout.split()
        for path in sorted(glob.glob(os.path.join(SRC, "*", "*.c"))):
            if layer_of(path) == "py":
                continue
            cmd = [cc, "-std=c11", "-D_GNU_SOURCE=1", "-fsyntax-only", "-I", stand_in, "-I", SRC, *curl, path]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode:
                first = (r.stderr.strip().splitlines() or ["?"])[0]
                problems.append(f"{path}: does not compile without Python: {first}")


def file_graph(objects):
    defs, uses = {}, collections.defaultdict(set)
    for obj in glob.glob(os.path.join(objects, "**", "*.o"), recursive=True):
        name = os.path.relpath(obj, objects)[: -len(".o")]
        if name.startswith("src" + os.sep):
            name = name[4:]
        if not os.path.exists(os.path.join(SRC, name + ".c")):
            continue    # a stale object of a file that no longer exists
        out = subprocess.run(["nm", obj], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] == "U":
                uses[name].add(parts[1])
            elif len(parts) == 3 and parts[1] in "TDBR":
                defs[parts[2]] = name
    graph = collections.defaultdict(set)
    for name, syms in uses.items():
        for s in syms:
            if s in defs and defs[s] != name:
                graph[name].add(defs[s])
    return graph


def cycles(graph):
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
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

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--objects", help="object files of a build (e.g. build/normal)")
    ap.add_argument("--cc", default=os.environ.get("CC", "gcc"))
    args = ap.parse_args()
    problems = []
    check_includes(problems)
    check_no_python(problems, args.cc)
    if args.objects:
        graph = file_graph(args.objects)
        if not graph:
            problems.append(f"no object files under {args.objects}")
        for comp in cycles(graph):
            edges = [f"{a} -> {b}" for a in comp for b in sorted(graph[a]) if b in comp]
            problems.append("files that call each other (a cycle): " + "; ".join(edges))
    for p in problems:
        print("check-layers:", p)
    n = len(glob.glob(os.path.join(SRC, "*", "*.c")))
    print(f"check-layers: {n} files, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
