// The bought parts as simple bodies, placed as assembled, for the fit checks and the assembly
// preview. grow > 0 makes a keep-out: every face grows by that much except the faces that touch a
// printed part by design (the Pi's PCB on its standoffs, the display on its holder and on the
// front face, the converter on the floor, the button's nut on the face).
include <params.scad>

component = "all";   // pi | lcd | lcd_view | converter | log_module | button | cables | rail | all
grow = 0;

// Box with faces grown by g; k = [xlo, xhi, ylo, yhi, zlo, zhi], 0 keeps that face in place.
module gbox(lo, hi, g, k = [1, 1, 1, 1, 1, 1]) {
  bx([lo[0] - g * k[0], lo[1] - g * k[2], lo[2] - g * k[4]],
     [hi[0] + g * k[1], hi[1] + g * k[3], hi[2] + g * k[5]]);
}

module gcyl(x, y, z0, z1, d, g, kz0 = 1, kz1 = 1) {
  zcyl(x, y, z0 - g * kz0, z1 + g * kz1, d + 2 * g, $fn = 32);
}

module pi_zero(g) {
  x0 = pi_origin[0];
  y0 = pi_origin[1];
  top = pi_pcb_z + pi_size[2];
  union() {
    gbox([x0, y0, pi_pcb_z], [x0 + pi_size[0], y0 + pi_size[1], top], g, [1, 1, 1, 1, 0, 1]);
    gbox([x0, y0, top - 0.01], [x0 + pi_size[0], y0 + pi_size[1], top + 3], g, [1, 1, 1, 1, 0, 1]);
    // SD card sticking out of the left end
    gbox([x0 - 2.5, y0 + 10, top - 0.01], [x0 + 0.01, y0 + 22, top + 1.5], g, [1, 0, 1, 1, 0, 1]);
    // 2x20 header with Dupont housings and the wires bending towards the display
    gbox([x0 + 6.5, y0 + pi_size[1] - 6.2, top - 0.01], [x0 + 58.5, y0 + pi_size[1] - 0.8, 39.5], g,
         [1, 1, 1, 1, 0, 1]);
    // micro-USB plugs (OTG for the converter, power) and their cables turning up
    for (px = [x0 + 41.4, x0 + 54]) {
      gbox([px - 5.5, y0 - 11, top - 2.2], [px + 5.5, y0 + 0.5, top + 4.8], g);
      gbox([px - 3, y0 - 15, top - 1], [px + 3, y0 - 10.99, top + 14], g);
    }
  }
}

module lcd(g) {
  x0 = lcd_origin[0];
  pcb_top = lcd_pcb_z + lcd_size[2];
  gcx = lcd_centre_x + lcd_glass_dx;
  union() {
    gbox([x0, lcd_origin[1], lcd_pcb_z], [x0 + lcd_size[0], lcd_origin[1] + lcd_size[1], pcb_top], g,
         [1, 1, 1, 1, 0, 1]);
    gbox([gcx - lcd_glass[0] / 2, -lcd_glass[1] / 2, pcb_top - 0.01],
         [gcx + lcd_glass[0] / 2, lcd_glass[1] / 2, face_z0], g, [1, 1, 1, 1, 0, 0]);
    gbox([lcd_conn_x, -lcd_conn[1] / 2, lcd_pcb_z - lcd_conn[2]],
         [lcd_conn_x + lcd_conn[0], lcd_conn[1] / 2, lcd_pcb_z + 0.01], g, [1, 1, 1, 1, 1, 0]);
    // cable from the connector back through the lid towards the Pi
    gbox([lcd_conn_x + 1, -4, lid_z0 - 4], [lcd_conn_x + 5, 4, lcd_pcb_z - lcd_conn[2] + 0.01], g,
         [1, 1, 1, 1, 1, 0]);
  }
}

// Line of sight through the visible area: must not touch the front.
module lcd_view_body() {
  translate([lcd_view_centre[0], lcd_view_centre[1], 0])
    bx([-lcd_view[0] / 2, -lcd_view[1] / 2, face_z0], [lcd_view[0] / 2, lcd_view[1] / 2, front_face_mm + 5]);
}

module converter(g) {
  x0 = conv_origin[0];
  y0 = conv_origin[1];
  union() {
    gbox([x0, y0, floor_top], [x0 + conv_size[0], y0 + conv_size[1], floor_top + conv_size[2]], g,
         [1, 1, 1, 1, 0, 1]);
    // OTG cable's USB-A socket on the converter's plug, and its cable turning up
    gbox([x0 + conv_size[0] - 0.01, y0 + 1.5, floor_top + 2],
         [x0 + conv_size[0] + conv_socket[0], y0 + 10.5, floor_top + 18], g, [0, 1, 1, 1, 1, 1]);
    gbox([x0 + conv_size[0] + conv_socket[0] - 0.01, y0 + 2, floor_top + 6],
         [x0 + conv_size[0] + conv_socket[0] + 5, y0 + 10, floor_top + 24], g, [0, 1, 1, 1, 1, 1]);
    // room for the A/B wires at the terminal end
    gbox([x0 - 8, y0, floor_top + 2], [x0 + 0.01, y0 + conv_size[1], floor_top + conv_size[2]], g,
         [1, 0, 1, 1, 1, 1]);
  }
}

module log_module(g) {
  x0 = log_module_origin[0];
  y0 = log_module_origin[1];
  union() {
    gbox([x0, y0, floor_top], [x0 + log_module_size[0], y0 + log_module_size[1], floor_top + log_module_size[2]],
         g, [1, 1, 1, 1, 0, 1]);
    // room for the A/B/GND wires at the terminal end (bottom) and the four Dupont wires at the top
    gbox([x0, y0 - 6, floor_top + 2], [x0 + log_module_size[0], y0 + 0.01, floor_top + 12], g, [1, 1, 1, 0, 1, 1]);
    gbox([x0 + 2, y0 + log_module_size[1] - 0.01, floor_top + 2],
         [x0 + 12, y0 + log_module_size[1] + 4, floor_top + 10], g, [1, 1, 0, 1, 1, 1]);
  }
}

module button(g, thread = true) {
  union() {
    if (thread) {
      zcyl(button_x, 0, face_z0 - 4, front_face_mm + 0.01, button_hole_mm, $fn = 48);
      zcyl(button_x, 0, front_face_mm, front_face_mm + 3, button_hole_mm + 2, $fn = 48);   // cap
    }
    gcyl(button_x, 0, face_z0 - 3, face_z0, button_nut_d, g, 1, 0);
    gcyl(button_x, 0, face_z0 - button_body_len, face_z0 - 2.99, button_body_d, g, 1, 0);
    gcyl(button_x, 0, face_z0 - button_body_len - 4, face_z0 - button_body_len + 0.01, 10, g, 1, 0);
  }
}

module cables(g, entry_only = false) {
  for (cx = cable_x)
    translate([cx, 0, cable_z]) rotate([90, 0, 0])
      if (entry_only)
        translate([0, 0, case_h / 2 - wall_mm - 1]) cylinder(d = cable_d_mm + 2 * g, h = wall_mm + 3);
      else
        translate([0, 0, -clamp_y - 6]) cylinder(d = cable_d_mm, h = case_h / 2 + clamp_y + 12);
}

module rail() {
  l = case_w + 20;
  o = rail_width_mm / 2;
  c = o - rail_lip_mm;   // outer side of the channel
  translate([-l / 2, 0, 0]) rotate([90, 0, 90]) linear_extrude(height = l)
    polygon([[-o, 0], [-c + rail_sheet_mm, 0], [-c + rail_sheet_mm, -rail_depth_mm + rail_sheet_mm],
             [c - rail_sheet_mm, -rail_depth_mm + rail_sheet_mm], [c - rail_sheet_mm, 0], [o, 0],
             [o, -rail_sheet_mm], [c, -rail_sheet_mm], [c, -rail_depth_mm], [-c, -rail_depth_mm],
             [-c, -rail_sheet_mm], [-o, -rail_sheet_mm]]);
}

if (component == "pi") pi_zero(grow);
else if (component == "lcd") lcd(grow);
else if (component == "lcd_view") lcd_view_body();
else if (component == "converter") converter(grow);
else if (component == "log_module") log_module(grow);
else if (component == "button") button(grow, thread = grow == 0);
else if (component == "cables") cables(grow, entry_only = grow > 0);
else if (component == "rail") rail();
else if (component == "all") {
  color("green") pi_zero(0);
  color("royalblue") lcd(0);
  color("white") lcd_view_body();
  color("purple") converter(0);
  color("orange") log_module(0);
  color("red") button(0);
  color("dimgray") cables(0);
  color("silver") rail();
}
