#!/usr/bin/python3
"""check-includes.py — the include rules of docs/ARCHITECTURE.md, enforced.

Reads the rules from the one place they are written, the ```include-rules block of docs/ARCHITECTURE.md, resolves
every `#include "..."` of every C source and header in the tree (system headers, <...>, are not checked) and fails,
naming FILE:LINE, the header and the rule, for each include a folder may not make. scripts/test.sh runs it before
building; tests/scripts/test_check_includes.py checks that it catches what it should.

How an include is resolved (as the compiler would, close enough for a tree without duplicate paths):
  1. relative to the including file ("internal.h", "../http/router.h");
  2. else the one file in the tree whose path ends with it ("pb.h" -> broker/pb/pb.h); several -> every one of
     them must be allowed, or the include is reported as ambiguous (write its path);
  3. else a header generated from proto/ ("junction/v1/broker.pb-c.h" from proto/junction/v1/broker.proto): "proto";
  4. else a header from outside the tree (installed libraries): not checked.

Usage: check-includes.py [--root DIR]   (default: the repository this script is in). Exit 0 clean, 1 violations,
2 when the rules cannot be read.
"""
import argparse
import os
import re
import subprocess
import sys

# Includes that break the rules today and are being removed. Each line names who removes it; the check fails when one
# is no longer needed, so that the line goes with the include.
KNOWN_EXCEPTIONS = [
    # (none: add ("path/of/file", "path/of/header") pairs here only with an issue that removes them)
]

SOURCE_SUFFIXES = (".c", ".h", ".inc")
INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def read_rules(doc_path):
    """[(folder pattern, [allowed items])] from the ```include-rules block, in order."""
    try:
        text = open(doc_path, encoding="utf-8").read()
    except OSError as e:
        raise SystemExit(f"check-includes: cannot read the rules: {e}") from e
    m = re.search(r"^```include-rules\n(.*?)^```", text, re.S | re.M)
    if not m:
        print(f"check-includes: {doc_path} has no ```include-rules block", file=sys.stderr)
        sys.exit(2)
    rules = []
    for n, line in enumerate(m.group(1).splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        folder, _, allowed = line.partition(" ")
        items = allowed.split()
        if not items:
            print(f"check-includes: include-rules line {n}: '{line}' names no allowed folders ('-' for none)",
                  file=sys.stderr)
            sys.exit(2)
        rules.append((folder.rstrip("/"), [] if items == ["-"] else items))
    return rules


def part_of(path, rules):
    """(the part a file belongs to, its allowed items): the longest rule folder that contains it; 'X/*' makes each
    direct subfolder of X its own part. None when no rule covers the file."""
    best = None
    for folder, items in rules:
        if folder.endswith("/*"):
            base = folder[:-2]
            rest = path[len(base) + 1:] if path.startswith(base + "/") else None
            if rest is None or "/" not in rest:
                continue
            part = base + "/" + rest.split("/", 1)[0]
        elif path == folder or path.startswith(folder + "/"):
            part = folder
        else:
            continue
        if best is None or len(part) > len(best[0]):
            best = (part, items)
    return best


def allowed(target, target_part, own_part, items):
    if target_part == own_part:
        return True
    for item in items:
        if item == "*":
            return True
        if item == "proto":
            if target_part == "proto":
                return True
            continue
        if item.endswith("/*"):
            item = item[:-2]
        if target == item or target.startswith(item + "/"):
            return True
    return False


def tree_files(root):
    try:
        out = subprocess.run(["git", "-C", root, "ls-files", "--cached", "--others", "--exclude-standard"],
                             check=True, capture_output=True, text=True).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        out = []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if not d.startswith((".", "build"))]
            out += [os.path.relpath(os.path.join(dirpath, f), root) for f in filenames]
    return sorted(p for p in out if p.endswith(SOURCE_SUFFIXES) and os.path.isfile(os.path.join(root, p)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    args = ap.parse_args()
    root = args.root
    rules = read_rules(os.path.join(root, "docs", "ARCHITECTURE.md"))
    files = tree_files(root)
    by_suffix = {}
    for f in files:
        parts = f.split("/")
        for i in range(len(parts)):
            by_suffix.setdefault("/".join(parts[i:]), []).append(f)

    problems = []
    exceptions = set(KNOWN_EXCEPTIONS)
    used_exceptions = set()
    for f in files:
        own = part_of(f, rules)
        if own is None:
            problems.append(f"{f}: no include rule covers this folder: add one to docs/ARCHITECTURE.md")
            continue
        own_part, items = own
        try:
            lines = open(os.path.join(root, f), encoding="utf-8", errors="replace").read().splitlines()
        except OSError as e:
            problems.append(f"{f}: cannot read: {e}")
            continue
        for n, line in enumerate(lines, 1):
            m = INCLUDE_RE.match(line)
            if not m:
                continue
            inc = m.group(1)
            rel = os.path.normpath(os.path.join(os.path.dirname(f), inc))
            if rel in by_suffix.get(rel, []) and os.path.isfile(os.path.join(root, rel)):
                targets = [rel]
            elif inc in by_suffix:
                targets = by_suffix[inc]
            elif inc.endswith(".pb-c.h") and os.path.isfile(os.path.join(root, "proto", inc[:-7] + ".proto")):
                targets = ["proto/" + inc[:-7] + ".proto"]
            else:
                continue  # from outside the tree
            bad = []
            for t in targets:
                tp = part_of(t, rules)
                t_part = tp[0] if tp else t.split("/", 1)[0]
                if allowed(t, t_part, own_part, items):
                    continue
                if (f, t) in exceptions:
                    used_exceptions.add((f, t))
                    continue
                bad.append((t, t_part))
            if not bad:
                continue
            may = " ".join(items) if items else "nothing outside itself"
            if len(targets) > 1:
                problems.append(f"{f}:{n}: #include \"{inc}\" is ambiguous ({', '.join(targets)}) and "
                                f"{own_part} may not include {', '.join(t for t, _ in bad)}: write the path")
            else:
                t, t_part = bad[0]
                problems.append(f"{f}:{n}: #include \"{inc}\" ({t}): {own_part} may not include {t_part} "
                                f"(it may include: {may})")
    for f, t in sorted(exceptions - used_exceptions):
        if f not in files:
            continue  # another tree (the checker's own tests)
        problems.append(f"scripts/check-includes.py: the known exception {f} -> {t} is gone from the tree: "
                        "delete its line from KNOWN_EXCEPTIONS")
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        print(f"check-includes: {len(problems)} include(s) break the rules in docs/ARCHITECTURE.md",
              file=sys.stderr)
        return 1
    print(f"check-includes: {len(files)} files follow the include rules of docs/ARCHITECTURE.md"
          + (f" ({len(used_exceptions)} known exception(s) left)" if used_exceptions else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
