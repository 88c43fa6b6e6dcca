"""Writes that a full card, a read-only card or a power cut cannot tear.

An append to a CSV file either adds whole rows or leaves the file as it was: a torn last line
from an earlier power cut is cut off before the next append, and a write that fails half-way
(ENOSPC) is cut back to the old length. `storage_problem` turns the error into the short
sentence the screen shows ("SD card full: ...").
"""

from __future__ import annotations

import csv
import errno
import io
import os
from collections.abc import Sequence
from pathlib import Path


def fsync_directory(directory: Path) -> None:
    """Makes a rename or a new file in directory durable (best effort where unsupported)."""
    try:
        dfd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass  # some file systems refuse fsync on directories; the rename is still atomic there
    finally:
        os.close(dfd)


def storage_problem(error: OSError, directory: Path, what: str = "sessions") -> str:
    """A short sentence for the screen and the status: what is wrong with the card."""
    if error.errno == errno.ENOSPC or error.errno == errno.EFBIG:
        return f"SD card full: {what} not saved"
    if error.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return f"SD card read-only: {what} not saved"
    return f"Cannot write {directory}: {what} not saved"


def append_csv_rows(csv_path: Path, fields: Sequence[str], rows: Sequence[dict]) -> None:
    """Appends rows (header first into an empty file) so that a failed or killed write leaves the file whole.

    A torn last line (a power cut in an earlier append) is cut off first, and a failed write is
    cut back to the old length, so the file is always whole lines. Raises OSError."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(fields), lineterminator="\n")
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(csv_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        size = whole_lines_length(fd)
        if size == 0:
            writer.writeheader()
        writer.writerows(rows)
        data = buf.getvalue().encode("utf-8")
        try:
            os.lseek(fd, size, os.SEEK_SET)
            os.ftruncate(fd, size)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except OSError:
            try:
                os.ftruncate(fd, size)  # no half row stays behind
            except OSError:
                pass
            raise
    finally:
        os.close(fd)
    if size == 0:
        fsync_directory(csv_path.parent)


def whole_lines_length(fd: int) -> int:
    """The length of the file up to its last newline (0 for a file without one)."""
    end = os.lseek(fd, 0, os.SEEK_END)
    position = end
    while position > 0:
        start = max(0, position - 4096)
        os.lseek(fd, start, os.SEEK_SET)
        chunk = os.read(fd, position - start)
        cut = chunk.rfind(b"\n")
        if cut >= 0:
            return start + cut + 1
        position = start
    return 0
