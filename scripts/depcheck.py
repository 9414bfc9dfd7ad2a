#!/usr/bin/python3
"""Checks the module dependencies of src/: no include circle, and no module
reaching up the data path.  A module is src/NAME.c with its header
include/mqttguard/NAME.h; "A uses B" when A.c or A.h includes B.h.  Prints
the graph with -v.  Exits 1 on a circle or a forbidden arrow."""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
INC = re.compile(r'#include "mqttguard/([a-z_0-9]+)\.h"')

# What may never be used by whom: the data path runs one way.
# main -> admin -> worker -> listener -> session -> enforce ->
# {auth,acl,limits} -> policy; the codec and the small helpers are leaves.
LAYERS = ["main", "admin", "worker", "listener", "session", "enforce"]
LEAVES = {"codec", "pktid", "observe", "siphash", "log", "metrics", "conn",
          "topic", "proxy", "util", "hmap", "notify", "ws"}
# The command-line tools: main dispatches to them; no daemon module uses
# one (they print, prompt and parse options; the daemon does not).
TOOLS = {"cmd", "acl_import", "learn"}
# Modules only the listed ones may use: the admin listener (HTTP on
# main's loop) is started and stopped by main alone.
ONLY = {"admin": {"main"}}


def is_tool(m):
    return m in TOOLS or m.endswith("_cmd")


def modules():
    graph = {}
    for d, ext in (("src", ".c"), ("include/mqttguard", ".h")):
        for f in sorted(os.listdir(os.path.join(ROOT, d))):
            if not f.endswith(ext):
                continue
            name = f[:-len(ext)]
            with open(os.path.join(ROOT, d, f)) as fp:
                deps = set(INC.findall(fp.read()))
            graph.setdefault(name, set()).update(deps - {name})
    return graph


def cycles(graph):
    found, state, stack = [], {}, []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                found.append(stack[stack.index(m):] + [m])
            elif m in graph and state.get(m) is None:
                visit(m)
        stack.pop()
        state[n] = 2

    for n in sorted(graph):
        if state.get(n) is None:
            visit(n)
    return found


def fold_private(graph):
    """A module's private header (NAME_priv.h) is part of NAME: checks who
    includes it, then folds it in."""
    bad = []
    for a, deps in graph.items():
        for b in deps:
            if b.endswith("_priv") and not a.startswith(b[:-len("_priv")]):
                bad.append("%s uses %s, private to %s*.c" % (a, b,
                           b[:-len("_priv")]))
    folded = {}
    for a, deps in graph.items():
        a2 = a[:-len("_priv")] if a.endswith("_priv") else a
        d2 = {d[:-len("_priv")] if d.endswith("_priv") else d for d in deps}
        folded.setdefault(a2, set()).update(d2 - {a2})
    return folded, bad


def main():
    graph, bad = fold_private(modules())
    for cyc in cycles(graph):
        bad.append("include circle: " + " -> ".join(cyc))
    rank = {m: i for i, m in enumerate(LAYERS)}
    for a, deps in sorted(graph.items()):
        for b in sorted(deps):
            if a in rank and b in rank and rank[b] < rank[a]:
                bad.append("%s uses %s: the data path runs the other way"
                           % (a, b))
            if a in LEAVES and b in graph and b not in LEAVES:
                bad.append("%s is a leaf but uses %s" % (a, b))
            if b in ONLY and a not in ONLY[b]:
                bad.append("%s uses %s, which only %s may use"
                           % (a, b, ", ".join(sorted(ONLY[b]))))
            if is_tool(b) and not is_tool(a) and a != "main":
                bad.append("%s is part of the daemon but uses the tool %s"
                           % (a, b))
    if "-v" in sys.argv:
        for a, deps in sorted(graph.items()):
            print("%-10s -> %s" % (a, " ".join(sorted(deps)) or "-"))
    for line in bad:
        print("depcheck: " + line, file=sys.stderr)
    print("depcheck: %d modules, %d arrows, %d problems" % (
        len(graph), sum(len(d) for d in graph.values()), len(bad)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
