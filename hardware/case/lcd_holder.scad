// LCD holder: a frame between the lid and the display's PCB. The lid presses it forward, so the
// display's glass rests against the inside of the front face. Prints pocket up, no supports.
include <params.scad>

// export.sh sets these: pose "print" (on the bed), "assembly" (in place) or "from_print" (the
// printed STL print_stl put back in place).
pose = "print";
print_stl = "";

module lcd_holder_part() {
  c = component_clearance_mm + 0.1;
  x0 = lcd_origin[0];
  x1 = lcd_origin[0] + lcd_size[0];
  top = lcd_pcb_z + 1.2;
  difference() {
    bx([x0 - c - 1.4, -front_h / 2 + wall_mm + fit_mm, shoulder_mm],
       [x1 + c + 1.6, front_h / 2 - wall_mm - fit_mm, top]);
    // pocket that locates the PCB
    bx([x0 - c, lcd_origin[1] - c, lcd_pcb_z], [x1 + c, lcd_origin[1] + lcd_size[1] + c, top + 1]);
    // opening for the connector, the cable and the parts on the PCB's back
    bx([lcd_conn_x - c - 0.1, -15, shoulder_mm - 1], [x1 - 1.5, 15, top + 1]);
  }
}

// The part as printed, and the way back into place (export.sh makes the assembled STL from the
// printed one, which is cheaper than rendering the part again).
module print_pose() translate([0, 0, -shoulder_mm]) children();
module in_place() translate([0, 0, shoulder_mm]) children();

if (pose == "assembly") lcd_holder_part();
else if (pose == "from_print") in_place() import(print_stl);
else print_pose() lcd_holder_part();
