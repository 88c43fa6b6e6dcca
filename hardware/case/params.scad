// DIN-rail housing for the wallbox appliance: every dimension the parts share.
// Edit the values in the first block; everything below it is derived.
// Coordinates (assembly): X along the rail (width), Y up the distribution board (height),
// Z out of the board towards the user, Z = 0 on the front face of the TS35 rail.
// Units: mm.

// ---- change these -------------------------------------------------------------------------
module_count = 7;          // DIN modules of 18 mm pitch; the body is built 0.5 mm narrower per module
module_width_mm = 17.5;    // width built per module (DIN 43880: 18 mm pitch, 17.5 mm body)
wall_mm = 2.0;             // side walls, front face, lid
floor_mm = 2.0;            // back plate in front of the rail
fit_mm = 0.3;              // gap between printed parts that slide into each other
component_clearance_mm = 0.5;  // gap kept between bought parts (Pi, LCD, converter) and the walls
button_hole_mm = 12;       // panel push button: 12 or 16 mm
cable_d_mm = 6.0;          // outer diameter of the RS-485 and the 5 V cable at the entries
cable_squeeze_mm = 1.0;    // how much the strain relief presses the cable
screw_pilot_mm = 2.2;      // M2.5 self-tapping into plastic (or 3.2 for M2.5 heat-set inserts)
screw_clear_mm = 2.9;      // M2.5 through-hole
$fn = 24;                  // keep low: Debian's OpenSCAD 2021 renders with CGAL

// ---- DIN 43880 envelope (size 1, distribution boards) -------------------------------------
body_height_mm = 90;       // total height of the part behind the cover
window_mm = 45;            // cover cut-out the front part passes through
shoulder_mm = 43;          // cover side of the body, measured from the rail's front
front_face_mm = 58;        // front face (DIN: 58 typical, 63 max including a button cap)
front_face_max_mm = 63;

// ---- TS35 rail (EN 60715, 7.5 mm deep) ------------------------------------------------------
rail_width_mm = 35;
rail_depth_mm = 7.5;
rail_sheet_mm = 1.0;
rail_lip_mm = 4.0;         // each flange sticks out 4 mm beside the 27 mm channel

// ---- derived ---------------------------------------------------------------------------------
case_w = module_count * module_width_mm;
case_h = body_height_mm;
front_h = window_mm - 1;             // 0.5 mm air to the cover on each side
lid_z0 = shoulder_mm - wall_mm;      // back face of the lid = top of the base's walls
foot_mm = 3.0;                       // back plate reaches this far behind the rail's front
floor_top = floor_mm;                // inside floor level
clip_gap_mm = 1.3;                   // room for the 1 mm rail flange between hook and back plate
channel_w = rail_width_mm + 2;       // 1 mm air beside the rail flanges
hook_reach_mm = 1.5;                 // hooks reach this far behind the rail's edges
inner_w = case_w - 2 * wall_mm;
inner_h = case_h - 2 * wall_mm;
face_z0 = front_face_mm - wall_mm;   // inside of the front face

// ---- spring latch (bottom hook) --------------------------------------------------------------
latch_w = 14;              // slider width
latch_gap = 1.0;           // slot around the slider
latch_beam_t = 1.0;        // leaf springs: thickness (Y)
latch_beam_y = -26.5;      // leaf springs: centre line
latch_beam_x = 27;         // leaf springs reach from the slider to this |X|
latch_travel = 3.5;        // room below the springs = how far the slider can be pulled
latch_top_y = -channel_w / 2 - 1;    // slider's top end, 1 mm below the channel
notch_d = 7;               // access pocket at the bottom edge for a screwdriver
notch_w = latch_w + 2 * latch_gap;

// ---- bought parts, placed in the assembly ---------------------------------------------------
// Raspberry Pi Zero W: 65 x 30 mm, holes 3.5 mm in from the edges, header on the upper edge.
pi_size = [65, 30, 1.4];
pi_origin = [-43, 11];               // lower left corner (SD card end on the left)
pi_hole_inset = 3.5;
pi_mount_z = floor_top + 3;          // carrier plate sits on two 3 mm bosses
pi_plate_t = 2.5;
pi_standoff_h = 4;
pi_pcb_z = pi_mount_z + pi_plate_t + pi_standoff_h;
pi_ear_x = [pi_origin[0] - 3.2, pi_origin[0] + pi_size[0] + 3.2];
pi_ear_y = pi_origin[1] + pi_size[1] / 2;

// Waveshare 1.8" LCD module, landscape behind the front face.
lcd_size = [56.5, 34, 1.6];
lcd_origin = [-43, -17];              // lower left corner of the PCB
lcd_glass = [46, 34, 2.6];            // panel and backlight on the PCB's front
lcd_glass_dx = 4;                     // glass centre right of the PCB centre (connector end left)
lcd_view = [35.04, 28.03];            // visible area, centred on the glass
lcd_pcb_z = face_z0 - lcd_glass[2] - lcd_size[2];   // back of the PCB
lcd_conn = [6, 18, 6];                // PH2.0 8-pin connector on the back, near the left end
lcd_conn_x = lcd_origin[0] + 2;
lcd_centre_x = lcd_origin[0] + lcd_size[0] / 2;
lcd_view_centre = [lcd_centre_x + lcd_glass_dx, 0];
window_margin_mm = 1.0;               // window is this much larger than the visible area per side

// Push button to the right of the display.
button_x = 32;
button_nut_d = 18;
button_body_d = 14;
button_body_len = 22;                 // behind the face, solder tabs included below

// USB RS-485 converter standing on its long edge in the lower half, terminals to the left.
conv_size = [60, 12, 20];
conv_origin = [-40, -17];             // left end (terminals), lower edge (Y)
conv_socket = [18, 9, 12];            // OTG cable's USB-A socket on the converter's plug

// Second RS-485 module (3.3 V TTL <-> RS-485, auto direction, e.g. a MAX3485 board) for the
// wallbox's CN28 LOG console (basic boxes), flat on the floor in the 7th module on the right, its
// long side along Y, terminals at the bottom towards the cable entries. It sits on the Pi's UART
// (GPIO14/15); its pair runs in the same cable as the meter bus.
log_module_size = [14, 44, 16];       // board with pins and terminal block (X, Y, Z)
log_module_origin = [44.5, -22];      // left edge (X), lower end with the terminals (Y)

// Cable entries in the bottom wall: RS-485 left, 5 V right.
cable_x = [-30, 30];
cable_z = floor_top + cable_d_mm / 2;
clamp_screw_dx = 7;
clamp_y = -case_h / 2 + wall_mm + 6;
clamp_z0 = floor_top + cable_d_mm - cable_squeeze_mm;
clamp_size = [21, 8, 3.5];

// Screws: lid to base in the corners, front to lid at the ends.
corner_boss_d = 6;
// bosses overlap the walls by 0.6 mm: a boss just touching a wall is not a valid solid
corner_screw = [case_w / 2 - wall_mm - corner_boss_d / 2 + 0.6, case_h / 2 - wall_mm - corner_boss_d / 2 + 0.6];
front_boss_d = 5;
front_screw_x = case_w / 2 - wall_mm - front_boss_d / 2 + 0.6;
lid_open = [case_w - 2 * (wall_mm + 5.5), front_h - 2 * wall_mm];

// Axis-aligned box from corner lo to corner hi.
module bx(lo, hi) {
  translate(lo) cube([hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2]]);
}

// Cylinder along Z from z0 to z1.
module zcyl(x, y, z0, z1, d) {
  translate([x, y, z0]) cylinder(d = d, h = z1 - z0);
}

// Horizontal hole along Y with a 45 degree roof, so it prints in a wall without support.
module teardrop_y(x, z, y0, y1, d) {
  translate([x, y1, z]) rotate([90, 0, 0])
    linear_extrude(height = y1 - y0)
      union() {
        circle(d = d);
        rotate(45) square(d / 2);
      }
}
