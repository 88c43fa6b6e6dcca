"""The DIN-rail housing, checked on the STL files that hardware/case/export.sh makes with openscad.

One export per test session (about 8 s of CPU; the next run reuses it while the models are
unchanged), then: every part is a closed solid that prints without supports, the assembled case
fits the DIN 43880 envelope, the clip holds on a TS35 rail, and the bought parts (Pi, LCD,
converter, LOG module, button, cables) keep their clearance to every wall.
"""

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
CASE = ROOT / "hardware" / "case"
PARTS = ["base", "front", "lid", "lcd_holder", "pi_mount", "strain_relief"]
KEEPOUTS = ["pi", "lcd", "converter", "log_module", "button", "cables"]
BODIES = ["pi", "lcd", "converter", "log_module", "button"]
EMPTY_MM3 = 1e-3  # touching faces give zero volume; anything above this is a real overlap


def _param(name):
    text = (CASE / "params.scad").read_text()
    match = re.search(rf"^{name}\s*=\s*([0-9.]+)\s*;", text, re.MULTILINE)
    assert match, f"params.scad has no numeric {name}"
    return float(match.group(1))


def _export_key() -> str:
    """What the export depends on: openscad's version and every file of hardware/case/ (the
    models, params.scad and export.sh itself)."""
    version = subprocess.run(["openscad", "--version"], capture_output=True, text=True, timeout=60)
    digest = hashlib.sha256((version.stdout + version.stderr).encode())
    for path in sorted(p for p in CASE.iterdir() if p.is_file()):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:20]


def _keep(out: Path, log: str, kept: Path) -> None:
    """Keeps a successful export for the next run (replacing the one of older models)."""
    (out / "export.log").write_text(log)
    for old in kept.parent.iterdir():
        shutil.rmtree(old, ignore_errors=True)
    partial = kept.parent / f".{kept.name}.{os.getpid()}"
    shutil.copytree(out, partial)
    try:
        partial.rename(kept)
    except OSError:  # another run kept the same export first
        shutil.rmtree(partial, ignore_errors=True)


@pytest.fixture(scope="session")
def exported(tmp_path_factory, pytestconfig):
    """The export of the models as they are. openscad gives the same files for the same models,
    so a run whose models, export.sh and openscad are unchanged reuses the previous run's export
    from pytest's cache directory (.pytest_cache/d/case-export; -p no:cacheprovider or a change to
    any of them exports again). export.sh itself runs every time in the broken-model test."""
    if shutil.which("openscad") is None:
        pytest.fail("openscad is not installed: apt-get install openscad")
    cache = getattr(pytestconfig, "cache", None)
    kept = cache.mkdir("case-export") / _export_key() if cache is not None else None
    if kept is not None and (kept / "export.log").is_file():
        return kept, (kept / "export.log").read_text()
    out = tmp_path_factory.mktemp("case")
    run = subprocess.run(
        [str(CASE / "export.sh"), str(out)], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, f"export.sh failed:\n{run.stdout}\n{run.stderr}"
    if kept is not None:
        _keep(out, run.stdout, kept)
    return out, run.stdout


def _load(path):
    mesh = trimesh.load(path, force="mesh")
    assert isinstance(mesh, trimesh.Trimesh), path
    return mesh


@pytest.fixture(scope="session")
def assembled(exported):
    out, _ = exported
    return {p: _load(out / "assembly" / f"{p}.stl") for p in PARTS}


@pytest.fixture(scope="session")
def components(exported):
    out, _ = exported
    names = {c: f"{c}.stl" for c in BODIES + ["lcd_view", "rail", "cables"]}
    names.update({f"{c}_keepout": f"{c}_keepout.stl" for c in KEEPOUTS})
    return {name: _load(out / "components" / file) for name, file in names.items()}


def overlap_mm3(a, b):
    """Volume two solids share (manifold3d boolean)."""
    if not _bounds_touch(a, b):
        return 0.0
    common = trimesh.boolean.intersection([a, b], engine="manifold")
    if not len(common.faces):
        return 0.0
    with np.errstate(divide="ignore", invalid="ignore"):  # a flat sliver has no centre of mass
        return float(common.volume)


def _bounds_touch(a, b):
    return bool(np.all(a.bounds[0] <= b.bounds[1]) and np.all(b.bounds[0] <= a.bounds[1]))


def box(lo, hi):
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    return trimesh.creation.box(extents=hi - lo, transform=trimesh.transformations.translation_matrix((lo + hi) / 2))


# ---- the export -------------------------------------------------------------------------------


def test_export_reports_every_part_and_writes_stl_and_previews(exported):
    out, log = exported
    for part in PARTS:
        assert f"ok  {part} (" in log
        assert f"ok  {part} (assembled)" in log
        assert (out / f"{part}.stl").stat().st_size > 1000
    for preview in PARTS + ["assembly", "assembly_exploded", "assembly_front"]:
        with Image.open(out / "previews" / f"{preview}.png") as image:
            assert image.size == (900, 675)
            # something was drawn: shaded faces covering a good part of the picture
            colours = sorted(image.convert("RGB").getcolors(maxcolors=1 << 20), reverse=True)
            background = colours[0][0]
            assert len(colours) >= 3, preview
            assert 900 * 675 - background > 0.05 * 900 * 675, preview


def test_export_fails_loudly_on_a_broken_model(tmp_path):
    broken = tmp_path / "case"
    shutil.copytree(CASE, broken, ignore=shutil.ignore_patterns("out", "previews"))
    (broken / "lid.scad").write_text((broken / "lid.scad").read_text() + "\nundefined_module_call(;\n")
    # Every other model is a small cube here: export.sh still runs all its jobs and must name the
    # lid, but the healthy parts no longer cost a full export (the session export checks those).
    for other in [p for p in PARTS if p != "lid"] + ["components"]:
        (broken / f"{other}.scad").write_text("cube(1);\n")
    run = subprocess.run(
        [str(broken / "export.sh"), str(tmp_path / "out")],
        capture_output=True, text=True, timeout=300, env={"CASE_PREVIEWS": "0", "PATH": "/usr/bin:/bin"},
    )
    assert run.returncode != 0
    assert "FAILED lid" in run.stderr
    assert "ok  base (" in run.stdout  # the stubbed parts did export: only the lid failed
    assert "FAILED" not in run.stderr.replace("FAILED lid", "")


@pytest.mark.parametrize("part", PARTS)
def test_in_place_undoes_the_print_pose(part, tmp_path):
    """export.sh makes each assembled STL by moving the printed one back (in_place), instead of
    rendering the part again: a marker block taken through print_pose() and in_place() lands
    where it started (the strain relief's clamp once at each cable)."""
    model = tmp_path / "marker.scad"
    model.write_text(f"use <{CASE / part}.scad>\nin_place() print_pose() translate([5, 7, 9]) cube([1, 2, 3]);\n")
    out = tmp_path / "marker.stl"
    run = subprocess.run(["openscad", "--hardwarnings", "-o", str(out), str(model)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    lo, hi = np.array([5, 7, 9]), np.array([6, 9, 12])
    if part == "strain_relief":
        xs = [float(x) for x in re.search(r"^cable_x\s*=\s*\[([^\]]*)\]", (CASE / "params.scad").read_text(),
                                           re.MULTILINE).group(1).split(",")]
        lo, hi = lo + [min(xs), 0, 0], hi + [max(xs), 0, 0]
    np.testing.assert_allclose(_load(out).bounds, [lo, hi], atol=1e-4)


# ---- every part -------------------------------------------------------------------------------


@pytest.mark.parametrize("part", PARTS)
@pytest.mark.parametrize("pose", ["print", "assembly"])
def test_part_is_a_closed_valid_solid(exported, part, pose):
    out, _ = exported
    mesh = _load(out / (f"{part}.stl" if pose == "print" else f"assembly/{part}.stl"))
    assert mesh.is_watertight, f"{part} ({pose}) has holes in its surface"
    assert mesh.is_winding_consistent, f"{part} ({pose}) has flipped faces"
    assert mesh.is_volume
    assert mesh.volume > 100, f"{part} ({pose}) volume {mesh.volume:.1f} mm3"


def unsupported_overhang_mm2(mesh, max_angle_deg=45):
    """Area of faces hanging over air more steeply than max_angle_deg from vertical, except the
    faces on the bed and flat ceilings (bridges, which print without support over short spans)."""
    normals_z = mesh.face_normals[:, 2]
    face_min_z = mesh.vertices[mesh.faces][:, :, 2].min(axis=1)
    limit = -np.sin(np.radians(max_angle_deg)) - 0.01
    steep = (normals_z < limit) & (normals_z > -0.999) & (face_min_z > 0.01)
    return float(mesh.area_faces[steep].sum())


@pytest.mark.parametrize("part", PARTS)
def test_part_lies_on_the_bed_and_needs_no_supports(exported, part):
    out, _ = exported
    mesh = _load(out / f"{part}.stl")
    assert abs(mesh.bounds[0][2]) < 1e-6, f"{part} does not start on the bed (z = 0)"
    assert max(mesh.extents[:2]) < 200, f"{part} does not fit a 200 x 200 mm bed"
    assert unsupported_overhang_mm2(mesh) < 1.0


def test_overhang_check_finds_a_part_printed_the_wrong_way_up(exported):
    out, _ = exported
    front = _load(out / "front.stl")
    upside_down = front.copy()
    upside_down.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 6, [1, 0, 0]))
    upside_down.apply_translation([0, 0, -upside_down.bounds[0][2]])
    assert unsupported_overhang_mm2(upside_down) > 100


# ---- the assembled case in the DIN 43880 envelope ------------------------------------------------


def _case(assembled):
    return trimesh.util.concatenate([assembled[p] for p in PARTS])


def test_width_is_a_whole_number_of_modules(assembled):
    modules = _param("module_count")
    width = _case(assembled).extents[0]
    assert width == pytest.approx(modules * 17.5, abs=0.01)
    assert modules == int(modules)


def test_height_depth_and_front_fit_the_distribution_board(assembled, components):
    case = _case(assembled)
    (x0, y0, z0), (x1, y1, z1) = case.bounds
    assert y1 - y0 <= 90.0 + 1e-6
    assert z1 <= 58.0 + 1e-6, f"front face at {z1:.2f} mm from the rail"
    assert components["button"].bounds[1][2] <= 63.0, "the button cap sticks out past 63 mm"
    assert z0 >= -7.5 + 2, "the back would touch the mounting plate behind the rail"
    # in front of the shoulder (43 mm) only the 45 mm window
    for part in PARTS:
        for side in (-1, 1):
            outside = box([x0 - 1, 22.5 if side > 0 else y0 - 1, 43.0],
                          [x1 + 1, y1 + 1 if side > 0 else -22.5, z1 + 1])
            assert overlap_mm3(assembled[part], outside) < EMPTY_MM3, f"{part} outside the window"


def test_envelope_check_finds_a_front_that_is_too_tall(assembled):
    tall = assembled["front"].copy()
    tall.apply_scale([1, 1.1, 1])
    outside = box([-100, 22.5, 43.0], [100, 60, 70])
    assert overlap_mm3(tall, outside) > 1


def test_printed_parts_do_not_overlap_each_other(assembled):
    for i, a in enumerate(PARTS):
        for b in PARTS[i + 1:]:
            assert overlap_mm3(assembled[a], assembled[b]) < EMPTY_MM3, f"{a} overlaps {b}"


# ---- the TS35 clip ------------------------------------------------------------------------------


def test_base_clips_onto_the_rail_without_touching_it(assembled, components):
    base, rail = assembled["base"], components["rail"]
    assert overlap_mm3(base, rail) < EMPTY_MM3
    # pulled 1 mm off the rail, both hooks catch the flanges
    pulled = rail.copy()
    pulled.apply_translation([0, 0, 1.0])
    top = box([-200, 0, -10], [200, 50, 10])
    bottom = box([-200, -50, -10], [200, 0, 10])
    caught = trimesh.boolean.intersection([base, pulled], engine="manifold")
    assert overlap_mm3(caught, top) > 1, "the fixed top hook does not hold the rail"
    assert overlap_mm3(caught, bottom) > 1, "the spring latch does not hold the rail"


# ---- the bought parts -----------------------------------------------------------------------------


@pytest.mark.parametrize("body", KEEPOUTS)
def test_parts_keep_their_clearance_to_every_wall(assembled, components, body):
    assert _param("component_clearance_mm") >= 0.5
    keepout = components[f"{body}_keepout"]
    for part in PARTS:
        shared = overlap_mm3(keepout, assembled[part])
        assert shared < EMPTY_MM3, f"{body} comes closer than the clearance to {part} ({shared:.2f} mm3)"


def test_bought_parts_do_not_overlap_each_other(components):
    for i, a in enumerate(BODIES):
        for b in BODIES[i + 1:]:
            assert overlap_mm3(components[a], components[b]) < EMPTY_MM3, f"{a} overlaps {b}"


def test_button_passes_through_its_hole(assembled, components):
    assert overlap_mm3(components["button"], assembled["front"]) < EMPTY_MM3


def test_pi_and_display_rest_on_their_mounts(assembled, components):
    # 0.2 mm closer to their mounts, they would dig in: they sit on them, not in the air
    pi = components["pi"].copy()
    pi.apply_translation([0, 0, -0.2])
    assert overlap_mm3(pi, assembled["pi_mount"]) > 0.5
    lcd = components["lcd"].copy()
    lcd.apply_translation([0, 0, -0.2])
    assert overlap_mm3(lcd, assembled["lcd_holder"]) > 0.5
    lcd_forward = components["lcd"].copy()
    lcd_forward.apply_translation([0, 0, 0.2])
    assert overlap_mm3(lcd_forward, assembled["front"]) > 0.5


def test_visible_area_of_the_display_lies_inside_the_front_window(assembled, components):
    view = components["lcd_view"]
    assert view.extents[0] == pytest.approx(35.04, abs=0.01)
    assert view.extents[1] == pytest.approx(28.03, abs=0.01)
    assert overlap_mm3(view, assembled["front"]) < EMPTY_MM3


@pytest.mark.parametrize(
    "body, shift_mm, part",
    [
        ("lcd_view", [2.0, 0, 0], "front"),      # display off-centre behind the window
        ("lcd_view", [0, -1.5, 0], "front"),
        ("pi_keepout", [-17.0, 0, 0], "base"),    # Pi against the left wall (7 modules: 16 mm of air)
        ("pi_keepout", [0, 0, 3.0], "lid"),       # header wires pressed by the lid
        ("converter_keepout", [0, -3.0, 0], "base"),  # converter on the cradle ribs
        ("log_module_keepout", [1.0, 0, 0], "base"),  # LOG module against the right wall
        ("lcd_keepout", [0, 3.0, 0], "front"),
        ("button_keepout", [20.0, 0, 0], "front"),  # against the right end of the front
        ("cables_keepout", [0, 0, 1.0], "base"),  # cable rubbing the entry's edge
    ],
)
def test_fit_checks_catch_a_misplaced_part(assembled, components, body, shift_mm, part):
    moved = components[body].copy()
    moved.apply_translation(shift_mm)
    assert overlap_mm3(moved, assembled[part]) > 0.01
