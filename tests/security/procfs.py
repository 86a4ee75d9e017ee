"""Who listens where, and with which command line, read from /proc (the way `ss -ltnp` and `ps` see it)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import List, Set, Tuple

LISTEN = "0A"


def _decode(hex_addr: str) -> str:
    raw = bytes.fromhex(hex_addr)
    if len(raw) == 4:
        return ".".join(str(b) for b in reversed(raw))
    # IPv6: four little-endian 32-bit words.
    words = [raw[i:i + 4][::-1] for i in range(0, 16, 4)]
    flat = b"".join(words)
    return ":".join(flat[i:i + 2].hex() for i in range(0, 16, 2))


def listeners(port: int) -> List[Tuple[str, str]]:
    """(address, socket inode) of every TCP socket listening on ``port``, IPv4 and IPv6."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            addr, hex_port = fields[1].rsplit(":", 1)
            if fields[3] == LISTEN and int(hex_port, 16) == port:
                found.append((_decode(addr), fields[9]))
    return found


def pids_of(inodes: Set[str]) -> Set[int]:
    pids = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            for fd in os.listdir(f"/proc/{entry}/fd"):
                target = os.readlink(f"/proc/{entry}/fd/{fd}")
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    pids.add(int(entry))
                    break
        except OSError:  # gone, or not ours to look at
            continue
    return pids


def command_line(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
