#!/usr/bin/env python3
"""Resident memory of a set of processes and all their descendants.

    rss.py PID...    prints "TOTAL_MIB PROCESSES" and then one line per
                     command name, largest first: "MIB COUNT NAME"
"""
import os
import sys
from collections import defaultdict


def status(pid):
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                out[k] = v.strip()
    except OSError:
        return None
    return out


def main():
    parents = defaultdict(list)
    for p in os.listdir("/proc"):
        if p.isdigit():
            s = status(p)
            if s:
                parents[s.get("PPid")].append(p)
    todo, seen = [a for a in sys.argv[1:] if a.isdigit()], set()
    while todo:
        p = todo.pop()
        if p not in seen:
            seen.add(p)
            todo += parents.get(p, [])
    by_name = defaultdict(lambda: [0, 0])
    for p in seen:
        s = status(p)
        if not s:
            continue
        kib = int(s.get("VmRSS", "0 kB").split()[0])
        by_name[s.get("Name", "?")][0] += kib
        by_name[s.get("Name", "?")][1] += 1
    total = sum(v[0] for v in by_name.values())
    print(f"{total / 1024:.0f} {sum(v[1] for v in by_name.values())}")
    for name, (kib, n) in sorted(by_name.items(), key=lambda x: -x[1][0]):
        print(f"{kib / 1024:.0f} {n} {name}")


if __name__ == "__main__":
    main()
