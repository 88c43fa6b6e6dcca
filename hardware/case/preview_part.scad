// Renders one exported STL for its PNG preview: export.sh passes stl="...".
stl = "";
colour = "gold";
color(colour) import(stl);
