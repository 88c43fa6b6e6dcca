"""Sample pictures and the frame recorder, with real files."""

from __future__ import annotations


from PIL import Image

from display import samples as samples_module
from display.recorder import FrameRecorder
from display.samples import render_all, samples
from display.screens import render


def test_render_all_writes_every_screen_at_1x_and_4x(tmp_path):
    written = render_all(tmp_path / "out")
    names = samples()
    assert len(written) == 2 * len(names)
    for name in names:
        with Image.open(tmp_path / "out" / f"{name}.png") as small, Image.open(tmp_path / "out" / f"{name}@4x.png") as big:
            assert small.size == (160, 128) and big.size == (640, 512)
            # Nearest-neighbour: every 4x4 block is one pixel of the original.
            assert big.convert("RGB").resize((160, 128), Image.Resampling.NEAREST).tobytes() == small.convert("RGB").tobytes()


def test_samples_command_line(tmp_path, capsys):
    assert samples_module.main([str(tmp_path / "a"), "--golden", str(tmp_path / "g"), "--pictures", str(tmp_path / "p")]) == 0
    assert len(list((tmp_path / "g").glob("*.png"))) == len(samples())
    with Image.open(next((tmp_path / "p").glob("*.png"))) as picture:
        assert picture.size == (320, 256)
    assert "pictures written" in capsys.readouterr().err


def test_recorder_keeps_only_changed_frames_and_writes_a_gif(tmp_path):
    (tmp_path / "frames").mkdir()
    (tmp_path / "frames" / "frame-0007.png").write_bytes(b"an earlier run")
    (tmp_path / "frames" / "notes.txt").write_text("not a frame")
    recorder = FrameRecorder(tmp_path / "frames")
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == ["notes.txt"]
    shots = samples()
    first = render(shots["no_car"])
    assert recorder.add(first, 0.0) is not None
    assert recorder.add(first.copy(), 1.0) is None
    assert recorder.add(render(shots["waiting_sun"]), 4.0) is not None
    assert recorder.add(render(shots["charging_pv"]), 64.0) is not None
    assert [at for at, _ in recorder.frames] == [0.0, 4.0, 64.0]
    assert all(path.exists() for _, path in recorder.frames)

    gif = recorder.write_gif(tmp_path / "run.gif", speedup=2.0, max_frame_s=10.0)
    with Image.open(gif) as animation:
        assert animation.n_frames == 3
        durations = []
        for index in range(animation.n_frames):
            animation.seek(index)
            durations.append(animation.info["duration"])
        assert durations == [2000, 10000, 2000]  # 4 s / 2, 60 s / 2 capped at 10 s, last frame
        animation.seek(2)
        assert animation.convert("RGB").getpixel((2, 2))[1] > 150  # green "CHARGING" header


def test_recorder_refuses_an_empty_gif(tmp_path):
    try:
        FrameRecorder(tmp_path).write_gif(tmp_path / "x.gif")
    except ValueError as error:
        assert "No frames" in str(error)
    else:
        raise AssertionError("an empty GIF was written")
