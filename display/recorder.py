"""Records what the panel showed during a run: changed frames as PNG files, and an animated GIF.

    recorder = FrameRecorder("out/frames")
    recorder.add(render(snapshot), at_s=12.5)     # kept only if it differs from the last frame
    recorder.write_gif("out/run.gif", speedup=10)
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from display.output import OutputError, save, writable_dir

__all__ = ["FrameRecorder", "OutputError"]


class FrameRecorder:
    """Keeps each new picture as `out_dir/frame-NNNN.png`, with the time it appeared.

    The folder belongs to the recorder: frames left there by an earlier run are removed.
    """

    def __init__(self, out_dir: str | Path, prefix: str = "frame") -> None:
        self.out_dir = writable_dir(out_dir)  # OutputError (an OSError) with the fix, not a traceback
        self.prefix = prefix
        # Frames of an earlier run in the same folder would mix into this one's numbering.
        for stale in self.out_dir.glob(f"{prefix}-[0-9][0-9][0-9][0-9].png"):
            stale.unlink()
        self.frames: list[tuple[float, Path]] = []  # (seconds into the run, file)
        self._last: bytes | None = None

    def add(self, image: Image.Image, at_s: float) -> Path | None:
        """Keep `image` (shown from `at_s` seconds on) if it differs from the last one kept."""
        pixels = image.convert("RGB").tobytes()
        if pixels == self._last:
            return None
        if self.frames and at_s < self.frames[-1][0]:
            raise ValueError(f"Frames must come in time order: {at_s} s after {self.frames[-1][0]} s.")
        path = self.out_dir / f"{self.prefix}-{len(self.frames):04d}.png"
        save(image, path, format="PNG")
        self.frames.append((at_s, path))
        self._last = pixels
        return path

    def write_gif(
        self,
        path: str | Path,
        speedup: float = 1.0,
        last_frame_s: float = 2.0,
        min_frame_s: float = 0.05,
        max_frame_s: float | None = 5.0,
    ) -> Path:
        """An animated GIF of the kept frames, each shown as long as it was on the panel.

        `speedup` plays the run faster; `max_frame_s` shortens long quiet stretches (None: keep
        them); `min_frame_s` keeps very short frames visible.
        """
        if not self.frames:
            raise ValueError("No frames were recorded, so there is no GIF to write.")
        durations_ms = []
        for (at_s, _), (next_s, _) in zip(self.frames, self.frames[1:] + [(None, None)]):
            shown_s = last_frame_s if next_s is None else (next_s - at_s) / speedup
            if max_frame_s is not None:
                shown_s = min(shown_s, max_frame_s)
            durations_ms.append(int(round(max(shown_s, min_frame_s) * 1000)))
        images = [Image.open(p).convert("RGB") for _, p in self.frames]
        out = Path(path)
        writable_dir(out.parent)
        save(images[0], out, format="GIF", save_all=True, append_images=images[1:], duration=durations_ms,
             loop=0, disposal=1)
        for image in images:
            image.close()
        return out
