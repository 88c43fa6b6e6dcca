"""A state directory that can be filled up and made read-only on demand.

As root (the CI container and the Pi) it is a real 256 kB tmpfs: full means ENOSPC from the
kernel, read-only is a remount. The same faults also come from the os seam (os.write stops with
ENOSPC after writing part of the data; os.open for writing fails with EROFS), which is all there
is where mounting is not allowed, and covers every writer that goes through os.write.
"""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

SIZE = "256k"


class Disk:
    def __init__(self, root: Path, monkeypatch) -> None:
        self.path = root / "state"
        self.path.mkdir()
        self.monkeypatch = monkeypatch
        self.mounted = os.geteuid() == 0 and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={SIZE}", "tmpfs", str(self.path)],
            capture_output=True).returncode == 0
        self._full = self._ro = False
        # Also on the tmpfs: a file's last page may still have room there, and "full" here means
        # that not one more byte fits, as on a card whose last block is used.
        self._install_seam()

    def fill(self) -> None:
        self._full = True
        if self.mounted:
            with open(self.path / ".filler", "wb", buffering=0) as f:
                try:
                    while True:
                        f.write(b"\0" * 65536)
                except OSError:
                    pass
            # The last small blocks too, so that even a short row does not fit.
            for i in range(64):
                try:
                    (self.path / f".filler{i}").write_bytes(b"\0" * 512)
                except OSError:
                    break

    def free(self) -> None:
        self._full = False
        if self.mounted:
            for p in self.path.glob(".filler*"):
                p.unlink()

    def read_only(self, on: bool = True) -> None:
        self._ro = on
        if self.mounted:
            subprocess.run(["mount", "-o", f"remount,{'ro' if on else 'rw'}", str(self.path)], check=True)

    def close(self) -> None:
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.path)], capture_output=True)

    def _install_seam(self) -> None:
        real_write, real_open = os.write, os.open
        inside = str(self.path)

        def write(fd, data):
            if self._full and os.readlink(f"/proc/self/fd/{fd}").startswith(inside):
                part = max(0, len(data) // 2)
                if part:
                    real_write(fd, bytes(data[:part]))
                raise OSError(errno.ENOSPC, "No space left on device")
            return real_write(fd, data)

        def open_(path, flags, *args, **kw):
            if self._ro and str(path).startswith(inside) and flags & (os.O_WRONLY | os.O_RDWR):
                raise OSError(errno.EROFS, "Read-only file system", str(path))
            return real_open(path, flags, *args, **kw)

        self.monkeypatch.setattr(os, "write", write)
        self.monkeypatch.setattr(os, "open", open_)
