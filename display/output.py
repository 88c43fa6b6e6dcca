"""Writing pictures to a folder the user named: a clear message instead of a traceback."""

from __future__ import annotations

from pathlib import Path

from PIL import Image


class OutputError(OSError):
    """A picture folder or file that cannot be written; the message names the fix."""


def _fail(path: Path, error: OSError) -> OutputError:
    reason = error.strerror or str(error)
    return OutputError(f"Cannot write the pictures to {path} ({reason}): choose a folder you may write to, "
                       f"e.g. /tmp/wallbox-pictures.")


def writable_dir(path: str | Path) -> Path:
    """`path` as a folder, made if missing; OutputError if it cannot be."""
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise _fail(folder, e) from e
    return folder


def save(image: Image.Image, path: str | Path, **options) -> Path:
    """`image.save` with OutputError for a file that cannot be written."""
    target = Path(path)
    try:
        image.save(target, **options)
    except OSError as e:
        raise _fail(target, e) from e
    return target
