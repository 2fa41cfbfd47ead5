#!/usr/bin/env python3
"""A mailslot writer written with nothing but file calls: one open(O_WRONLY), then COUNT write(2)s of
"TAG N" (one message each), then close.

usage: file_writer.py PATH TAG COUNT
"""
import os
import sys

path, tag, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
fd = os.open(path, os.O_WRONLY)
for n in range(count):
    message = f"{tag} {n}".encode()
    written = os.write(fd, message)
    if written != len(message):
        print(f"short write {written} of {len(message)}", file=sys.stderr)
        sys.exit(1)
os.close(fd)
