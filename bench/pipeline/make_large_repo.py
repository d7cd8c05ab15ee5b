#!/usr/bin/env python3
"""Writes a git fast-import stream for a large code repository to stdout.

Shape (issue 2's benchmark): >= 20,000 files, >= 1,000 commits, >= 100 MB of
working tree, with a Makefile honouring the make contract. Content is
pseudo-random (seeded) so that it does not compress away and the figures are
repeatable. Tags v1.0.0 (commit 990) and v1.1.0 (the last commit).
"""
import random
import sys

FILES = 20_000
COMMITS = 1_000
FILE_BYTES = 5_300  # 20,000 x 5,300 B = 106 MB

MAKEFILE = b"""VERSION := $(shell cat VERSION)
.PHONY: setup lint all-tests deploy
setup:
\t@echo setup $(VERSION)
lint:
\t@test -f settings.yaml
all-tests:
\t@echo tests passed
deploy:
\t@mkdir -p $(TARGET) && echo $(VERSION) > $(TARGET)/$(SLIPWAY_ENV).txt
"""

out = sys.stdout.buffer
rng = random.Random(42)
alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789 \n"


def blob(data):
    out.write(b"data %d\n" % len(data))
    out.write(data)
    out.write(b"\n")


def content(n):
    return bytes(rng.choice(alphabet) for _ in range(64)) * (n // 64)


def commit(i, files, version=None):
    when = 1_700_000_000 + i * 60
    out.write(b"commit refs/heads/main\n")
    out.write(b"mark :%d\n" % (i + 1))
    out.write(b"committer Bench <bench@slipway.invalid> %d +0000\n" % when)
    blob(b"commit %d" % i)
    if i > 0:
        out.write(b"from :%d\n" % i)
    for path, data in files:
        out.write(b"M 100644 inline %s\n" % path)
        blob(data)
    if version is not None:
        out.write(b"M 100644 inline VERSION\n")
        blob(version + b"\n")


first = [(b"Makefile", MAKEFILE)]
for f in range(FILES):
    first.append((b"src/m%03d/f%05d.txt" % (f // 100, f), content(FILE_BYTES)))
commit(0, first, b"0.0.0")
for i in range(1, COMMITS):
    changed = [(b"src/m%03d/f%05d.txt" % ((f := rng.randrange(FILES)) // 100, f), content(FILE_BYTES))
               for _ in range(3)]
    version = b"1.0.0" if i == 990 else (b"1.1.0" if i == COMMITS - 1 else None)
    commit(i, changed, version)
out.write(b"reset refs/tags/v1.0.0\nfrom :991\n\n")
out.write(b"reset refs/tags/v1.1.0\nfrom :%d\n\n" % COMMITS)
