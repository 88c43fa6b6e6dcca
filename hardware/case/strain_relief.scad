// Cable strain relief: a clamp bar screwed over a cable onto two bosses behind each entry. The
// assembly holds two (RS-485 and 5 V): print it twice. Prints ridge up, no supports.
include <params.scad>

pose = "print";

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

if (pose == "assembly") for (cx = cable_x) clamp(cx);
else translate([0, 0, clamp_z0 + clamp_size[2]]) rotate([180, 0, 0]) clamp(0);
