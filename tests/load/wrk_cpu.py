#!/usr/bin/env python3
"""Where a benchmark's CPU goes, per request (run by scripts/bench.sh).

  wrk_cpu.py run --out FILE.json [--process NAME=PID[+children]]... -- wrk ARGS...
      Runs wrk, passes its output through, and writes to FILE.json the CPU time
      (user + system) that each named process spent during the run, by thread
      name for a process without +children (numbers at the end of a name are
      dropped: http-loop-0 and http-loop-1 count as http-loop), the CPU time of
      wrk itself, the machine's busy, interrupt and idle time from /proc/stat,
      and the requests wrk completed.

  wrk_cpu.py report LABEL FILE.json...
      Adds up the runs and prints one line of microseconds per request.

  wrk_cpu.py budget RATIO FILE.json... -- REFERENCE.json...
      Prints how much time of all cores a request of the first runs may take
      for their request rate to be RATIO times the reference's on the same
      cores, and how far their own time per request is from it.

Times are read from /proc, so they are the kernel's tick-based accounting:
good to a few percent over a run of seconds, which is what they are for.
"""
import json
import os
import re
import resource
import subprocess
import sys

TICK = os.sysconf("SC_CLK_TCK")


def stat_fields(path):
    """(comm, utime+stime in ticks) of a /proc/.../stat file, or None if gone."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return None
    comm = text[text.index("(") + 1:text.rindex(")")]
    rest = text[text.rindex(")") + 2:].split()
    # Fields after the command: state is index 0, utime 11, stime 12.
    return comm, int(rest[11]) + int(rest[12])


def children_of(pid):
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                text = f.read()
        except OSError:
            continue
        if int(text[text.rindex(")") + 2:].split()[1]) == pid:
            out.append(int(entry))
    return out


def snapshot(processes):
    """{name: {group: ticks}} for every watched process."""
    snap = {}
    for name, pid, with_children in processes:
        groups = {}
        if with_children:
            for p in [pid] + children_of(pid):
                fields = stat_fields(f"/proc/{p}/stat")
                if fields:
                    groups[f"pid {p}"] = fields[1]
        else:
            try:
                tids = os.listdir(f"/proc/{pid}/task")
            except OSError:
                tids = []
            for tid in tids:
                fields = stat_fields(f"/proc/{pid}/task/{tid}/stat")
                if fields:
                    group = re.sub(r"-?\d+$", "", fields[0]) or fields[0]
                    groups[group] = groups.get(group, 0) + fields[1]
        snap[name] = groups
    return snap


def machine():
    """(busy, interrupts, idle) ticks of all CPUs from /proc/stat."""
    with open("/proc/stat") as f:
        cpu = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (cpu + [0] * 8)[:8]
    return user + nice + system + steal, irq + softirq, idle + iowait


def requests_in(text):
    m = re.search(r"(\d+) requests in", text)
    return int(m.group(1)) if m else 0


def run(argv):
    out, processes, i = None, [], 0
    while i < len(argv) and argv[i] != "--":
        if argv[i] == "--out":
            out = argv[i + 1]
        elif argv[i] == "--process":
            name, spec = argv[i + 1].split("=", 1)
            with_children = spec.endswith("+children")
            processes.append((name, int(spec.removesuffix("+children")), with_children))
        else:
            sys.exit(f"wrk_cpu: unknown argument {argv[i]}")
        i += 2
    command = argv[i + 1:]
    if not out or not command:
        sys.exit("usage: wrk_cpu.py run --out FILE.json [--process NAME=PID[+children]]... -- wrk ARGS...")
    before, m0 = snapshot(processes), machine()
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    after, m1 = snapshot(processes), machine()
    sys.stdout.write(done.stdout)
    seconds = {}
    for name, groups in after.items():
        # A thread or child that ended during the run is not counted; one that
        # started during it counts from zero.
        seconds[name] = {g: (t - before.get(name, {}).get(g, 0)) / TICK for g, t in groups.items()}
    result = {
        "requests": requests_in(done.stdout),
        "processes": seconds,
        "wrk": (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime),
        "machine": {k: (b - a) / TICK for k, a, b in zip(("busy", "interrupts", "idle"), m0, m1)},
    }
    with open(out, "w") as f:
        json.dump(result, f)
    return done.returncode


def report(label, paths):
    runs = [json.load(open(p)) for p in paths]
    n = sum(r["requests"] for r in runs)
    if n == 0:
        print(f"{label}: no requests")
        return 0
    us = lambda seconds: seconds / n * 1e6
    total = {}
    for r in runs:
        for name, groups in r["processes"].items():
            for g, s in groups.items():
                total.setdefault(name, {}).setdefault(g, 0.0)
                total[name][g] += s
    parts, accounted = [], 0.0
    for name, groups in total.items():
        s = sum(groups.values())
        accounted += s
        if us(s) < 0.05:  # idle in these runs (the other server, Redis)
            continue
        detail = ""
        if len(groups) > 1 and not all(g.startswith("pid ") for g in groups):
            top = sorted(groups.items(), key=lambda kv: -kv[1])
            shown = [f"{g} {us(v):.1f}" for g, v in top if us(v) >= 0.1]
            detail = f" ({', '.join(shown)})"
        parts.append(f"{name} {us(s):.1f}{detail}")
    wrk = sum(r["wrk"] for r in runs)
    accounted += wrk
    busy = sum(r["machine"]["busy"] for r in runs)
    irq = sum(r["machine"]["interrupts"] for r in runs)
    idle = sum(r["machine"]["idle"] for r in runs)
    parts.append(f"wrk {us(wrk):.1f}")
    # "The rest" is the machine's busy time that no watched process was
    # charged for: other processes, kernel threads, and interrupt work the
    # kernel did not charge to the process it interrupted.
    rest = busy + irq - accounted
    parts.append(f"the rest {us(max(rest, 0.0)):.1f}")
    parts.append(f"idle {us(idle):.1f}")
    print(f"{label}: {', '.join(parts)}; all cores {us(busy + irq + idle):.1f}")
    return 0


def machine_us_per_request(paths):
    """All cores' time (busy, interrupts and idle) per request over the runs."""
    runs = [json.load(open(p)) for p in paths]
    n = sum(r["requests"] for r in runs)
    total = sum(sum(r["machine"].values()) for r in runs)
    return total / n * 1e6 if n else None


def budget(target, paths, reference_paths):
    """How far the runs' machine time per request is from a target ratio of
    their request rate to the reference's, on the same cores: at a ratio R
    each request may take the reference's time per request divided by R."""
    mine, ref = machine_us_per_request(paths), machine_us_per_request(reference_paths)
    if not mine or not ref:
        print("budget: no requests")
        return 0
    allowed = ref / target
    print(f"a ratio of {target:.2f} on these cores allows {allowed:.1f} us of all cores per request"
          f" (the reference's {ref:.1f} / {target:.2f}); these runs took {mine:.1f},"
          f" {abs(mine - allowed):.1f} {'over' if mine > allowed else 'under'}")
    return 0


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "run":
        return run(sys.argv[2:])
    if len(sys.argv) >= 4 and sys.argv[1] == "report":
        return report(sys.argv[2], sys.argv[3:])
    if len(sys.argv) >= 5 and sys.argv[1] == "budget" and "--" in sys.argv[3:]:
        split = sys.argv.index("--", 3)
        return budget(float(sys.argv[2]), sys.argv[3:split], sys.argv[split + 1:])
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main())
