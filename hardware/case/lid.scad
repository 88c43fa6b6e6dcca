// Lid: closes the base at the shoulder, carries the front. Four corner screws into the base (hidden
// by the distribution board's cover), two screws from behind into the front. A lip inside the base's
// walls centres it. Prints shoulder face down, no supports.
include <params.scad>

// export.sh sets these: pose "print" (on the bed), "assembly" (in place) or "from_print" (the
// printed STL print_stl put back in place).
pose = "print";
print_stl = "";

module lid_part() {
  lip = 1.2;
  difference() {
    union() {
      bx([-case_w / 2, -case_h / 2, lid_z0], [case_w / 2, case_h / 2, shoulder_mm]);
      difference() {
        bx([-inner_w / 2 + fit_mm, -inner_h / 2 + fit_mm, lid_z0 - 2],
           [inner_w / 2 - fit_mm, inner_h / 2 - fit_mm, lid_z0 + 0.01]);
        bx([-inner_w / 2 + fit_mm + lip, -inner_h / 2 + fit_mm + lip, lid_z0 - 3],
           [inner_w / 2 - fit_mm - lip, inner_h / 2 - fit_mm - lip, lid_z0 + 1]);
      }
    }
    // opening behind the front (display, button, wires)
    bx([-lid_open[0] / 2, -lid_open[1] / 2, lid_z0 - 3], [lid_open[0] / 2, lid_open[1] / 2, shoulder_mm + 1]);
    // access to the latch's screwdriver eye, and room for the pocket's walls
    bx([-notch_w / 2, -case_h / 2 - 1, lid_z0 - 3], [notch_w / 2, -case_h / 2 + notch_d, shoulder_mm + 1]);
    bx([-notch_w / 2 - wall_mm - fit_mm, -case_h / 2 - 1, lid_z0 - 3],
       [notch_w / 2 + wall_mm + fit_mm, -case_h / 2 + notch_d + wall_mm + fit_mm, lid_z0]);
    // corner screws, with room for the bosses under the lip
    for (sx = [-1, 1], sy = [-1, 1]) {
      zcyl(sx * corner_screw[0], sy * corner_screw[1], lid_z0 - 3, shoulder_mm + 1, screw_clear_mm);
      zcyl(sx * corner_screw[0], sy * corner_screw[1], lid_z0 - 3, lid_z0, corner_boss_d + 2 * fit_mm);
    }
    for (s = [-1, 1]) zcyl(s * front_screw_x, 0, lid_z0 - 3, shoulder_mm + 1, screw_clear_mm);
  }
}

// The part as printed, and the way back into place (export.sh makes the assembled STL from the
// printed one, which is cheaper than rendering the part again).
module print_pose() translate([0, 0, shoulder_mm]) rotate([180, 0, 0]) children();
module in_place() rotate([180, 0, 0]) translate([0, 0, -shoulder_mm]) children();

if (pose == "assembly") lid_part();
else if (pose == "from_print") in_place() import(print_stl);
else print_pose() lid_part();
