// Pi Zero mount: carrier plate with four M2.5 standoffs (58 x 23 mm pattern), screwed onto two
// bosses of the base. Prints flat, standoffs up, no supports.
include <params.scad>

// export.sh sets these: pose "print" (on the bed), "assembly" (in place) or "from_print" (the
// printed STL print_stl put back in place).
pose = "print";
print_stl = "";

module pi_mount_part() {
  x0 = pi_origin[0];
  y0 = pi_origin[1];
  top = pi_mount_z + pi_plate_t;
  difference() {
    union() {
      bx([x0, y0, pi_mount_z], [x0 + pi_size[0], y0 + pi_size[1], top]);
      for (x = pi_ear_x) bx([x - 3, pi_ear_y - 3.5, pi_mount_z], [x + 3, pi_ear_y + 3.5, top]);
      for (x = [x0 + pi_hole_inset, x0 + pi_size[0] - pi_hole_inset],
           y = [y0 + pi_hole_inset, y0 + pi_size[1] - pi_hole_inset])
        zcyl(x, y, top - 0.01, pi_pcb_z, 5.5);
    }
    for (x = [x0 + pi_hole_inset, x0 + pi_size[0] - pi_hole_inset],
         y = [y0 + pi_hole_inset, y0 + pi_size[1] - pi_hole_inset])
      zcyl(x, y, pi_mount_z + 0.8, pi_pcb_z + 1, screw_pilot_mm);
    for (x = pi_ear_x) zcyl(x, pi_ear_y, pi_mount_z - 1, top + 1, screw_clear_mm);
    // save material under the Pi
    bx([x0 + 9, y0 + 8, pi_mount_z - 1], [x0 + pi_size[0] - 9, y0 + pi_size[1] - 8, top + 1]);
  }
}

// The part as printed, and the way back into place (export.sh makes the assembled STL from the
// printed one, which is cheaper than rendering the part again).
module print_pose() translate([0, 0, -pi_mount_z]) children();
module in_place() translate([0, 0, pi_mount_z]) children();

if (pose == "assembly") pi_mount_part();
else if (pose == "from_print") in_place() import(print_stl);
else print_pose() pi_mount_part();
