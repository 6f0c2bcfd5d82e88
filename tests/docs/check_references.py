#!/usr/bin/env python3
"""Fails on any reference to documentation the repository lacks.

Every tracked text file is read. Three kinds of reference are checked:
  - a path ending in .md (a bare name such as "NOTES.md" or "docs/x.md"),
    resolved from the repository root, or beside the citing file;
  - a section of docs/design.md ("docs/design.md §2.3", "§2.3, §3.1",
    "§3.1–3.5a"), which must be a numbered heading of that file;
  - a relative link in a Markdown file ("[text](path)"), resolved beside it.
Prints one line per broken reference (file:line: what) and exits 1 if any.

usage: check_references.py [REPO]"""
import os
import re
import subprocess
import sys

REPO = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                       os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DESIGN = "docs/design.md"

MD_PATH = re.compile(r"(?<![\w./-])([\w./-]*\w\.md)\b")
SECTION = r"§(\d+(?:\.\d+)?a?)(?:[–-](\d+(?:\.\d+)?a?))?"
# docs/design.md followed (across comment markers and line breaks) by a run
# of sections joined by commas, "and" or "or".
DESIGN_REF = re.compile(re.escape(DESIGN) + r"((?:(?:\s|//|#|\*|,|;|\(|and\b|or\b)*" + SECTION + r")*)")
MD_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(\d+(?:\.\d+)?a?)[.\s]", re.M)


def tracked_files():
    try:
        out = subprocess.run(["git", "-C", REPO, "ls-files", "-z"], check=True,
                             capture_output=True).stdout.decode()
        return [f for f in out.split("\0") if f]
    except (OSError, subprocess.CalledProcessError):
        found = []
        for root, dirs, files in os.walk(REPO):
            dirs[:] = [d for d in dirs if not d.startswith((".", "build"))]
            found += [os.path.relpath(os.path.join(root, f), REPO) for f in files]
        return found


def read_text(rel):
    try:
        with open(os.path.join(REPO, rel), "rb") as f:
            data = f.read()
        if b"\0" in data:
            return None
        return data.decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def exists(rel_from, target):
    target = target.split("#", 1)[0]
    if not target:
        return True
    return any(os.path.exists(os.path.normpath(os.path.join(base, target)))
               for base in (REPO, os.path.join(REPO, os.path.dirname(rel_from))))


def main():
    design_text = read_text(DESIGN) or ""
    sections = set(HEADING.findall(design_text))
    problems = []
    checked = 0
    for rel in tracked_files():
        if os.path.abspath(os.path.join(REPO, rel)) == os.path.abspath(__file__):
            continue
        text = read_text(rel)
        if text is None:
            continue

        def line_of(pos):
            return text.count("\n", 0, pos) + 1

        for m in MD_PATH.finditer(text):
            checked += 1
            if not exists(rel, m.group(1)):
                problems.append("%s:%d: %s is not in the repository" % (rel, line_of(m.start()), m.group(1)))
        for m in DESIGN_REF.finditer(text):
            for first, last in re.findall(SECTION, m.group(1)):
                for number in (first, last):
                    if not number:
                        continue
                    checked += 1
                    if number not in sections:
                        problems.append("%s:%d: %s has no section §%s" % (rel, line_of(m.start()), DESIGN, number))
        if rel.endswith(".md"):
            for m in MD_LINK.finditer(text):
                target = m.group(1)
                if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
                    continue
                checked += 1
                if not exists(rel, target):
                    problems.append("%s:%d: link to %s, which is not in the repository" % (rel, line_of(m.start()), target))
    for p in problems:
        print(p)
    print("references checked: %d, broken: %d" % (checked, len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
