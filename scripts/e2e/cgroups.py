#!/usr/bin/env python3
"""The e2e node's cgroups: one subtree nested under this process's own cgroup
path, in every cgroup hierarchy mounted on the machine (v1 controllers, the
named systemd hierarchy, and the unified v2 one of a hybrid layout).

    cgroups.py root NAME      print the subtree's path (the same in every
                              hierarchy; kubelet's cgroupRoot)
    cgroups.py create NAME STATE
                              create NAME/node in every hierarchy; STATE lists
                              each directory made, intermediate ones included
    cgroups.py join NAME PID  move PID into NAME/node in every hierarchy
    cgroups.py pids NAME      print every PID anywhere in the subtree
    cgroups.py remove NAME STATE
                              kill every process in the subtree (SIGKILL), then
                              remove its cgroups, deepest first, and the
                              directories STATE lists

The subtree's path is this process's deepest own path plus NAME. Where this
process sits at a hierarchy's root the same path is created below it, so the
node never writes to a cgroup it does not own. A hierarchy where this process
sits on a different, non-root path is refused: kubelet takes one cgroupRoot for
all of them.
"""
import os
import signal
import sys
import time


def mounts():
    """{mount point: (fstype, set of controllers or names)} of cgroup mounts."""
    out = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, right = line.rstrip("\n").split(" - ", 1)
            fields = left.split()
            fstype, _source, opts = right.split()[:3]
            if fstype not in ("cgroup", "cgroup2"):
                continue
            names = set()
            for o in opts.split(","):
                names.add(o)
            root = fields[3]
            out[fields[4]] = (fstype, names, root)
    return out


def own_paths():
    """{hierarchy key: own path}: key is a frozenset of controller names, or
    'v2' for the unified hierarchy."""
    out = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _hid, ctrls, path = line.rstrip("\n").split(":", 2)
            key = "v2" if ctrls == "" else frozenset(ctrls.split(","))
            out[key] = path
    return out


def hierarchies():
    """[(mount point, own path)] for every cgroup hierarchy mounted once."""
    own = own_paths()
    seen = set()
    result = []
    for mnt, (fstype, opts, root) in sorted(mounts().items()):
        if root != "/":
            continue  # a bind of a sub-tree (e.g. inside a container), not the hierarchy
        if fstype == "cgroup2":
            key = "v2"
        else:
            key = next((k for k in own if k != "v2" and k <= opts), None)
            if key is None:
                continue
        if key in seen:
            continue
        seen.add(key)
        result.append((mnt, own[key]))
    return result


def subtree(name):
    hs = hierarchies()
    deepest = max((p for _, p in hs), key=len)
    for mnt, p in hs:
        if p not in ("/", deepest):
            sys.exit(f"cgroups: this process is at {p} in {mnt} and at {deepest} elsewhere; "
                     "kubelet needs one cgroupRoot for all hierarchies")
    return hs, os.path.join(deepest, name)


def create(name, state):
    hs, root = subtree(name)
    made = open(state, "a")
    for mnt, _ in hs:
        path = mnt
        for part in (root + "/node").strip("/").split("/"):
            parent, path = path, os.path.join(path, part)
            if not os.path.isdir(path):
                os.mkdir(path)
                made.write(path + "\n")
                made.flush()
            # A new cpuset cgroup has no CPUs or memory nodes until given its parent's.
            for f in ("cpuset.cpus", "cpuset.mems"):
                fp = os.path.join(path, f)
                if os.path.exists(fp) and not open(fp).read().strip():
                    with open(os.path.join(parent, f)) as src, open(fp, "w") as dst:
                        dst.write(src.read().strip())


def join(name, pid):
    hs, root = subtree(name)
    for mnt, _ in hs:
        with open(os.path.join(mnt, root.strip("/"), "node", "cgroup.procs"), "w") as f:
            f.write(str(pid))


def walk_pids(name):
    hs, root = subtree(name)
    pids = set()
    for mnt, _ in hs:
        top = os.path.join(mnt, root.strip("/"))
        for d, _dirs, files in os.walk(top):
            if "cgroup.procs" in files:
                try:
                    with open(os.path.join(d, "cgroup.procs")) as f:
                        pids.update(int(x) for x in f.read().split())
                except OSError:
                    pass
    pids.discard(os.getpid())
    return pids


def rmdir(d):
    for _ in range(50):
        try:
            os.rmdir(d)
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.1)  # the last task's exit is still being accounted
    sys.exit(f"cgroups: cannot remove {d}")


def remove(name, state):
    hs, root = subtree(name)
    deadline = time.monotonic() + 30
    while True:
        pids = walk_pids(name)
        if not pids:
            break
        if time.monotonic() > deadline:
            sys.exit(f"cgroups: processes {sorted(pids)} survive SIGKILL in {root}")
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.2)
    for mnt, _ in hs:
        top = os.path.join(mnt, root.strip("/"))
        if not os.path.isdir(top):
            continue
        for d, _dirs, _files in sorted(os.walk(top, topdown=False), key=lambda t: -len(t[0])):
            rmdir(d)
    if os.path.exists(state):
        for d in sorted(set(open(state).read().split()), key=len, reverse=True):
            rmdir(d)
        os.remove(state)


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    cmd, name = argv[1], argv[2]
    if cmd == "root":
        print(subtree(name)[1])
    elif cmd == "create" and len(argv) == 4:
        create(name, argv[3])
    elif cmd == "join" and len(argv) == 4:
        join(name, int(argv[3]))
    elif cmd == "pids":
        for pid in sorted(walk_pids(name)):
            print(pid)
    elif cmd == "remove" and len(argv) == 4:
        remove(name, argv[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
