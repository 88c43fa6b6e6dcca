// Cable strain relief: a clamp bar screwed over a cable onto two bosses behind each entry. The
// assembly holds two (RS-485 and 5 V): print it twice. Prints ridge up, no supports.
include <params.scad>

// export.sh sets these: pose "print" (on the bed), "assembly" (in place) or "from_print" (the
// printed STL print_stl put back in place).
pose = "print";
print_stl = "";

module clamp(cx) {
  difference() {
    union() {
      bx([cx - clamp_size[0] / 2, clamp_y - clamp_size[1] / 2, clamp_z0],
         [cx + clamp_size[0] / 2, clamp_y + clamp_size[1] / 2, clamp_z0 + clamp_size[2]]);
      // ridge that bites into the cable sheath
      bx([cx - 3.5, clamp_y - 0.6, clamp_z0 - 0.6], [cx + 3.5, clamp_y + 0.6, clamp_z0 + 0.01]);
    }
    for (dx = [-clamp_screw_dx, clamp_screw_dx])
      zcyl(cx + dx, clamp_y, clamp_z0 - 1, clamp_z0 + clamp_size[2] + 1, screw_clear_mm);
  }
}

// One clamp as printed, and the way back into place for each cable (export.sh makes the assembled
// STL from the printed one, which is cheaper than rendering the clamps again).
module print_pose() translate([0, 0, clamp_z0 + clamp_size[2]]) rotate([180, 0, 0]) children();
module in_place() for (cx = cable_x)
  translate([cx, 0, 0]) rotate([180, 0, 0]) translate([0, 0, -clamp_z0 - clamp_size[2]]) children();

if (pose == "assembly") for (cx = cable_x) clamp(cx);
else if (pose == "from_print") in_place() import(print_stl);
else print_pose() clamp(0);
