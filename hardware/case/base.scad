// Base: back plate with the TS35 clip (fixed hook on top, spring latch at the bottom), walls up to
// the lid, bosses for the Pi carrier, the lid screws and the cable clamps, cable entries.
// Prints on its back, no supports (the rail channel is a 37 mm bridge).
include <params.scad>

// export.sh sets these: pose "print" (on the bed), "assembly" (in place) or "from_print" (the
// printed STL print_stl put back in place).
pose = "print";
print_stl = "";

module latch_slots() {
  // Cut through the back plate: the slider is free except for two leaf springs.
  zl = -foot_mm - 1;
  zh = floor_top + 0.4;   // below the notch's back wall, which bridges the slider
  sx = latch_w / 2;
  for (m = [0, 1]) mirror([m, 0, 0]) {
    // beside the slider, interrupted where the spring starts
    bx([sx, -case_h / 2 - 1, zl], [sx + latch_gap, latch_beam_y - latch_beam_t / 2, zh]);
    bx([sx, latch_beam_y + latch_beam_t / 2, zl], [sx + latch_gap, latch_top_y, zh]);
    // below the spring: room to pull the slider down
    bx([sx, latch_beam_y - latch_beam_t / 2 - latch_travel, zl],
       [latch_beam_x, latch_beam_y - latch_beam_t / 2, zh]);
    // above the spring
    bx([sx + latch_gap, latch_beam_y + latch_beam_t / 2, zl],
       [latch_beam_x, latch_beam_y + latch_beam_t / 2 + 1, zh]);
  }
  // between the slider's top end and the channel
  bx([-sx - latch_gap, latch_top_y, zl], [sx + latch_gap, -channel_w / 2 + 0.01, zh]);
  // eye for a screwdriver
  bx([-4, -case_h / 2 + 1.5, zl], [4, -case_h / 2 + 4.5, zh]);
}

module hook_lip(x0, x1, inner_y, outer_y, chamfer) {
  // Lip behind the rail flange, from the bed (z = -foot) up to the clip gap.
  lip_t = foot_mm - clip_gap_mm;
  s = sign(outer_y - inner_y);
  rotate([0, 90, 0]) translate([0, 0, x0]) linear_extrude(height = x1 - x0)
    // 2D in (-z, y): rotate([0,90,0]) maps 2D x to -Z
    polygon(chamfer
      ? [[foot_mm, outer_y], [foot_mm, inner_y + s * lip_t], [foot_mm - lip_t, inner_y],
         [foot_mm - lip_t, outer_y]]
      : [[foot_mm, outer_y], [foot_mm, inner_y], [foot_mm - lip_t, inner_y],
         [foot_mm - lip_t, outer_y]]);
}

module base_part() {
  difference() {
    union() {
      // back plate: thick outside the rail channel, a bridge over it
      difference() {
        bx([-case_w / 2, -case_h / 2, -foot_mm], [case_w / 2, case_h / 2, floor_top]);
        bx([-case_w / 2 - 1, -channel_w / 2, -foot_mm - 1], [case_w / 2 + 1, channel_w / 2, 0]);
      }
      // walls
      difference() {
        bx([-case_w / 2, -case_h / 2, floor_top - 0.01], [case_w / 2, case_h / 2, lid_z0]);
        bx([-inner_w / 2, -inner_h / 2, floor_top - 1], [inner_w / 2, inner_h / 2, lid_z0 + 1]);
      }
      // lid screw bosses in the corners
      for (sx = [-1, 1], sy = [-1, 1])
        zcyl(sx * corner_screw[0], sy * corner_screw[1], floor_top - 0.01, lid_z0, corner_boss_d);
      // Pi carrier bosses
      for (x = pi_ear_x) zcyl(x, pi_ear_y, floor_top - 0.01, pi_mount_z, 6);
      // cable clamp bosses
      for (cx = cable_x, dx = [-clamp_screw_dx, clamp_screw_dx])
        zcyl(cx + dx, clamp_y, floor_top - 0.01, clamp_z0, 6);
      // cradle ribs for the converter standing on its edge
      for (x = [conv_origin[0] + 10, conv_origin[0] + conv_size[0] - 6])
        for (y = [conv_origin[1] - 0.6 - 2, conv_origin[1] + conv_size[1] + 0.6])
          bx([x - 3, y, floor_top - 0.01], [x + 3, y + 2, floor_top + 6]);
      // walls of the screwdriver pocket
      for (m = [0, 1]) mirror([m, 0, 0])
        bx([notch_w / 2, -case_h / 2, floor_top - 0.01],
           [notch_w / 2 + wall_mm, -case_h / 2 + notch_d + wall_mm, lid_z0]);
      bx([-notch_w / 2 - 0.01, -case_h / 2 + notch_d, floor_top + 0.6],
         [notch_w / 2 + 0.01, -case_h / 2 + notch_d + wall_mm, lid_z0]);
    }
    // screwdriver pocket: no wall above the slider's end
    bx([-notch_w / 2, -case_h / 2 - 1, floor_top], [notch_w / 2, -case_h / 2 + notch_d, lid_z0 + 1]);
    latch_slots();
    // cable entries
    for (cx = cable_x)
      teardrop_y(cx, cable_z, -case_h / 2 - 1, -case_h / 2 + wall_mm + 1, cable_d_mm + 1.4);
    // vents in the top wall
    for (i = [-4 : 4])
      bx([i * 9 - 1, case_h / 2 - wall_mm - 1, 12], [i * 9 + 1, case_h / 2 + 1, 30]);
    // pilot holes
    for (sx = [-1, 1], sy = [-1, 1])
      zcyl(sx * corner_screw[0], sy * corner_screw[1], lid_z0 - 12, lid_z0 + 1, screw_pilot_mm);
    for (x = pi_ear_x) zcyl(x, pi_ear_y, pi_mount_z - 6, pi_mount_z + 1, screw_pilot_mm);
    for (cx = cable_x, dx = [-clamp_screw_dx, clamp_screw_dx])
      zcyl(cx + dx, clamp_y, clamp_z0 - 6, clamp_z0 + 1, screw_pilot_mm);
  }
  // fixed hook on the top rail flange, full width
  hook_lip(-case_w / 2, case_w / 2, rail_width_mm / 2 - hook_reach_mm, channel_w / 2, false);
  // spring latch hook on the slider, chamfered so the case snaps on
  hook_lip(-latch_w / 2, latch_w / 2, -rail_width_mm / 2 + hook_reach_mm, latch_top_y, true);
}

// The part as printed, and the way back into place (export.sh makes the assembled STL from the
// printed one, which is cheaper than rendering the part again).
module print_pose() translate([0, 0, foot_mm]) children();
module in_place() translate([0, 0, -foot_mm]) children();

if (pose == "assembly") base_part();
else if (pose == "from_print") in_place() import(print_stl);
else print_pose() base_part();
