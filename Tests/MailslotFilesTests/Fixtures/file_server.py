#!/usr/bin/env python3
"""A mailslot server written with nothing but file calls: it creates the mailslot with
open(O_CREAT | O_EXCL | O_RDONLY), waits with poll(2), reads one message per read(2) and prints each
as one line of hex, then closes (which deletes the mailslot).

usage: file_server.py PATH COUNT
Prints "ready" once the mailslot exists, then one hex line per message, then "done".
"""
import os
import select
import sys

path, count = sys.argv[1], int(sys.argv[2])
fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDONLY, 0o622)
print("ready", flush=True)
poller = select.poll()
poller.register(fd, select.POLLIN)
for _ in range(count):
    if not poller.poll(60_000):
        print("timeout", flush=True)
        sys.exit(1)
    message = os.read(fd, 1 << 20)
    print(message.hex(), flush=True)
os.close(fd)
print("done", flush=True)
