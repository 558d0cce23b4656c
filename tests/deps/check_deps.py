#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Modules depend on each other one way: no cycle among the source files of a directory.

    check_deps.py DIR [DIR...]

A file depends on another when it calls a function the other defines (an internal
`maillimit__*` function or a public `maillimit_*` one). Every cycle found is printed with the
functions that make it, and the exit status is 1. Comments and strings are ignored.
"""
import os
import re
import sys

DEF = re.compile(r'^[A-Za-z_][\w \*]*?\b(maillimit_{1,2}\w+)\s*\(', re.M)
CALL = re.compile(r'\b(maillimit_{1,2}\w+)\s*\(')


def strip(text):
    text = re.sub(r'/\*.*?\*/', ' ', text, flags=re.S)
    text = re.sub(r'//[^\n]*', ' ', text)
    return re.sub(r'"(\\.|[^"\\])*"', '""', text)


def module_graph(directory):
    files = sorted(f for f in os.listdir(directory) if f.endswith('.c'))
    src = {f: strip(open(os.path.join(directory, f), encoding='utf-8').read()) for f in files}
    defines = {}
    for f, text in src.items():
        for m in DEF.finditer(text):
            line_end = text.find('\n', m.end())
            rest = text[m.end():line_end if line_end >= 0 else None]
            # a definition: the declarator is followed (after its parameters) by a body
            after = text[m.start():m.start() + 2000]
            head = after.split('{', 1)[0]
            if ';' in head:
                continue
            defines.setdefault(m.group(1), f)
    edges = {f: {} for f in files}
    for f, text in src.items():
        for m in CALL.finditer(text):
            g = defines.get(m.group(1))
            if g and g != f:
                edges[f].setdefault(g, set()).add(m.group(1))
    return edges


def cycles(edges):
    """The strongly connected components with more than one file (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
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

    sys.setrecursionlimit(10000)
    for v in edges:
        if v not in index:
            visit(v)
    return out


def main(dirs):
    bad = 0
    for d in dirs:
        edges = module_graph(d)
        for comp in cycles(edges):
            bad += 1
            print(f"{d}: a dependency cycle among {', '.join(comp)}:")
            for a in comp:
                for b in comp:
                    if b in edges[a]:
                        print(f"  {a} -> {b}: {', '.join(sorted(edges[a][b]))}")
        n = sum(len(v) for v in edges.values())
        print(f"{d}: {len(edges)} files, {n} dependencies")
    if bad:
        print(f"FAIL: {bad} dependency cycle(s)")
        return 1
    print("ok: no dependency cycle")
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
