#!/bin/sh
# gen-operator-list.sh — README.md's ONNX operator list, generated from the adapter's own table.
#
#   scripts/gen-operator-list.sh [JUNCTION_BIN]           rewrites the block in README.md
#   scripts/gen-operator-list.sh --check [JUNCTION_BIN]   exits 1 (with a diff) when README.md's block differs
#
# The block is everything from the `<!-- operators:begin ... -->` line to the `<!-- operators:end -->` line; its
# text is exactly what `junction model operators --readme` prints. JUNCTION_BIN defaults to build/junction. The
# ctest readme_operators runs --check, so when an operator is added to (or removed from) an ops_*.c table the test
# fails until this script is run again and README.md committed.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
check=0
if [ "${1:-}" = "--check" ]; then
    check=1
    shift
fi
bin=${1:-$here/build/junction}
readme=${README:-$here/README.md}
block=$(mktemp)
trap 'rm -f "$block"' EXIT
"$bin" model operators --readme >"$block"
exec /usr/bin/python3 - "$readme" "$block" "$check" <<'PY'
import difflib, sys
readme, block_file, check = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
text = open(readme, encoding="utf-8").read()
block = open(block_file, encoding="utf-8").read()
lines = text.splitlines(keepends=True)
begin = [i for i, l in enumerate(lines) if l.startswith("<!-- operators:begin")]
end = [i for i, l in enumerate(lines) if l.startswith("<!-- operators:end")]
if len(begin) != 1 or len(end) != 1 or end[0] < begin[0]:
    sys.exit("%s: expected one '<!-- operators:begin' line followed by one '<!-- operators:end' line, found %d and %d"
             % (readme, len(begin), len(end)))
current = "".join(lines[begin[0]:end[0] + 1])
if check:
    if current == block:
        print("%s: the operator list matches the adapter's table" % readme)
        sys.exit(0)
    sys.stdout.writelines(difflib.unified_diff(current.splitlines(keepends=True), block.splitlines(keepends=True),
                                               "README.md", "junction model operators --readme"))
    sys.exit("%s: the operator list differs from the adapter's table; regenerate it with "
             "scripts/gen-operator-list.sh [build/junction] and commit README.md" % readme)
if current != block:
    with open(readme, "w", encoding="utf-8") as f:
        f.write("".join(lines[:begin[0]]) + block + "".join(lines[end[0] + 1:]))
    print("%s: operator list rewritten" % readme)
else:
    print("%s: operator list already up to date" % readme)
PY
