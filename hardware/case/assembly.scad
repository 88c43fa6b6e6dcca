// The whole appliance as mounted: printed parts in place, bought parts as simple bodies, the rail.
// explode > 0 pulls the parts apart along Z for the exploded preview. Open it in OpenSCAD's GUI
// to look around; export.sh renders it to PNG.
use <base.scad>
use <front.scad>
use <lid.scad>
use <lcd_holder.scad>
use <pi_mount.scad>
use <strain_relief.scad>
use <components.scad>
include <params.scad>

explode = 0;           // mm between layers
show_components = true;

color("silver") rail();
color("gainsboro") base_part();
translate([0, 0, explode * 0.5]) {
  color("khaki") pi_mount_part();
  if (show_components) translate([0, 0, explode * 0.5]) {
    color("green") pi_zero(0);
    color("purple") converter(0);
    color("darkorange") log_module(0);
    color("dimgray") cables(0);
  }
  color("orange") for (cx = cable_x) clamp(cx);
}
translate([0, 0, explode * 2]) color("lightsteelblue") lid_part();
translate([0, 0, explode * 2.5]) {
  color("khaki") lcd_holder_part();
  if (show_components) translate([0, 0, explode * 0.5]) color("royalblue") lcd(0);
}
translate([0, 0, explode * 3.5]) {
  color("gainsboro") front_part();
  if (show_components) color("red") button(0);
}
