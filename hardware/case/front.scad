// Front: the part in front of the shoulder that passes through the cover's 45 mm window, with the
// LCD window and the button hole. Two screws from behind the lid hold it.
// Prints face down, no supports (the window's 45 degree chamfer faces the bed).
include <params.scad>

// export.sh sets these: pose "print" (on the bed), "assembly" (in place) or "from_print" (the
// printed STL print_stl put back in place).
pose = "print";
print_stl = "";

module front_part() {
  wx = lcd_view[0] + 2 * window_margin_mm;
  wy = lcd_view[1] + 2 * window_margin_mm;
  ch = 1.0;   // chamfer depth of the window's outer edge
  difference() {
    union() {
      difference() {
        bx([-case_w / 2, -front_h / 2, shoulder_mm], [case_w / 2, front_h / 2, front_face_mm]);
        bx([-inner_w / 2, -front_h / 2 + wall_mm, shoulder_mm - 1],
           [inner_w / 2, front_h / 2 - wall_mm, face_z0]);
      }
      for (s = [-1, 1]) zcyl(s * front_screw_x, 0, shoulder_mm, face_z0 + 0.01, front_boss_d);
    }
    // display window, chamfered towards the user
    translate([lcd_view_centre[0], lcd_view_centre[1], 0]) {
      bx([-wx / 2, -wy / 2, face_z0 - 1], [wx / 2, wy / 2, front_face_mm + 1]);
      hull() {
        bx([-wx / 2, -wy / 2, front_face_mm - ch], [wx / 2, wy / 2, front_face_mm - ch + 0.01]);
        bx([-wx / 2 - ch - 1, -wy / 2 - ch - 1, front_face_mm + 1],
           [wx / 2 + ch + 1, wy / 2 + ch + 1, front_face_mm + 1.01]);
      }
    }
    zcyl(button_x, 0, face_z0 - 1, front_face_mm + 1, button_hole_mm + 0.3, $fn = 48);
    for (s = [-1, 1]) zcyl(s * front_screw_x, 0, shoulder_mm - 1, shoulder_mm + 10, screw_pilot_mm);
  }
}

// The part as printed, and the way back into place (export.sh makes the assembled STL from the
// printed one, which is cheaper than rendering the part again).
module print_pose() translate([0, 0, front_face_mm]) rotate([180, 0, 0]) children();
module in_place() rotate([180, 0, 0]) translate([0, 0, -front_face_mm]) children();

if (pose == "assembly") front_part();
else if (pose == "from_print") in_place() import(print_stl);
else print_pose() front_part();
