#!/usr/bin/env bash
# Exports the DIN-rail housing: every printed part as STL lying as it prints (OUT_DIR/*.stl), the
# same parts as assembled (OUT_DIR/assembly/), the bought parts' bodies and keep-outs for the fit
# checks (OUT_DIR/components/), and PNG previews (OUT_DIR/previews/).
#
#   hardware/case/export.sh [OUT_DIR]      default OUT_DIR: hardware/case/out
#
# Stops with the openscad log on any error or warning (a warning usually means a part is not a
# closed solid). Previews need a display; without one it starts its own Xvfb (Debian package xvfb).
# CASE_PREVIEWS=0 skips the previews.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
parts=(base front lid lcd_holder pi_mount strain_relief)
components=(pi lcd lcd_view converter log_module button cables rail)
keepouts=(pi lcd converter log_module button cables)

die() { echo "export.sh: $*" >&2; exit 1; }

# scad LABEL OUTPUT INPUT [OPENSCAD ARGS...]: one openscad run, checked.
scad() {
  local label=$1 output=$2 input=$3
  shift 3
  local log="$out/logs/$label.log" start=$SECONDS
  if ! openscad --hardwarnings -o "$output" "$@" "$input" >"$log" 2>&1; then
    { echo "FAILED $label: openscad stopped with an error:"; cat "$log"; } >&2
    return 1
  fi
  if grep -qE '^(ERROR|WARNING|EXPORT-WARNING)' "$log"; then
    { echo "FAILED $label: openscad warned (fix the model; the log follows):"; cat "$log"; } >&2
    return 1
  fi
  if [ ! -s "$output" ]; then
    echo "FAILED $label: openscad wrote nothing to $output" >&2
    return 1
  fi
  echo "ok  $label ($((SECONDS - start)) s)"
}

# Runs the queued openscad jobs, at most one per CPU at a time; fails if any failed.
pids=()
failed=0
max_jobs=$(nproc 2>/dev/null || echo 2)
queue() {
  if [ "${#pids[@]}" -ge "$max_jobs" ]; then
    wait "${pids[0]}" || failed=1
    pids=("${pids[@]:1}")
  fi
  scad "$@" &
  pids+=("$!")
}
finish() {
  local pid
  for pid in "${pids[@]+"${pids[@]}"}"; do wait "$pid" || failed=1; done
  pids=()
  [ "$failed" -eq 0 ] || die "some exports failed (see above)"
}

previews() {
  mkdir -p "$out/previews"
  local size=("--imgsize=900,675" --viewall --autocenter --colorscheme=Tomorrow)
  for p in "${parts[@]}"; do
    queue "preview $p" "$out/previews/$p.png" "$here/preview_part.scad" "${size[@]}" \
      -D "stl=\"$out/$p.stl\""
  done
  queue "preview assembly" "$out/previews/assembly.png" "$here/assembly.scad" "${size[@]}" \
    --camera=0,0,0,-35,0,25,0
  queue "preview assembly exploded" "$out/previews/assembly_exploded.png" "$here/assembly.scad" \
    "${size[@]}" -D explode=30 --camera=0,0,0,-50,0,30,0
  queue "preview assembly front" "$out/previews/assembly_front.png" "$here/assembly.scad" \
    "${size[@]}" --camera=0,0,0,0,0,0,0 --projection=ortho
  finish
}

# with_xvfb COMMAND...: runs COMMAND with DISPLAY set to a private Xvfb. The server picks a free
# display itself (-displayfd), so exports running side by side never race for one, and -noreset
# keeps it from resetting (and refusing connections) each time its last client leaves.
with_xvfb() {
  local number="$out/logs/xvfb.display" waited=0 rc=0
  : >"$number"
  Xvfb -displayfd 3 -noreset -nolisten tcp -screen 0 1280x1024x24 3>"$number" \
    >"$out/logs/xvfb.log" 2>&1 &
  xvfb_pid=$!
  trap 'kill "$xvfb_pid" 2>/dev/null || true' EXIT
  until grep -qE '^[0-9]+$' "$number"; do
    if ! kill -0 "$xvfb_pid" 2>/dev/null || [ "$waited" -ge 100 ]; then
      kill "$xvfb_pid" 2>/dev/null || true
      { echo "export.sh: Xvfb did not start; its log:"; cat "$out/logs/xvfb.log"; } >&2
      exit 1
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  DISPLAY=":$(head -n1 "$number")" XAUTHORITY=/dev/null "$@" || rc=$?
  kill "$xvfb_pid" 2>/dev/null || true
  wait "$xvfb_pid" 2>/dev/null || true
  return "$rc"
}

if [ "${1:-}" = "__previews" ]; then
  out=$2
  previews
  exit 0
fi

command -v openscad >/dev/null || die "openscad is not installed: apt-get install openscad"
out=${1:-"$here/out"}
mkdir -p "$out/assembly" "$out/components" "$out/logs"
out=$(cd "$out" && pwd)
start=$SECONDS
echo "Exporting the housing to $out ($max_jobs at a time)"

for p in "${parts[@]}"; do
  queue "$p" "$out/$p.stl" "$here/$p.scad"
done
for c in "${components[@]}"; do
  queue "component $c" "$out/components/$c.stl" "$here/components.scad" -D "component=\"$c\""
done
clearance=$(sed -n 's/^component_clearance_mm *= *\([0-9.]*\);.*/\1/p' "$here/params.scad")
[ -n "$clearance" ] || die "params.scad has no component_clearance_mm"
for c in "${keepouts[@]}"; do
  queue "keep-out $c" "$out/components/${c}_keepout.stl" "$here/components.scad" \
    -D "component=\"$c\"" -D "grow=$clearance"
done
finish
# Each part in place: its printed STL moved back (the same solid, without rendering it again).
for p in "${parts[@]}"; do
  queue "$p (assembled)" "$out/assembly/$p.stl" "$here/$p.scad" -D 'pose="from_print"' \
    -D "print_stl=\"$out/$p.stl\""
done
finish

if [ "${CASE_PREVIEWS:-1}" = 0 ]; then
  echo "Previews skipped (CASE_PREVIEWS=0)"
elif [ -n "${DISPLAY:-}" ]; then
  previews
elif command -v Xvfb >/dev/null; then
  with_xvfb "$here/export.sh" __previews "$out"
else
  die "PNG previews need a display: install xvfb (apt-get install xvfb), or set CASE_PREVIEWS=0"
fi
echo "Done in $((SECONDS - start)) s: STL files in $out, previews in $out/previews"
