# Sourced by the side-by-side scripts. `interleave ROUNDS PREVIOUS_BLT CURRENT_BLT` calls the
# script's `run NAME BINARY` for both binaries once per round, previous first in odd rounds and
# current first in even ones, so that the drift of a shared VM falls on both alike.
interleave() {
  local r
  for ((r = 1; r <= $1; r++)); do
    if (( r % 2 )); then run previous "$2"; run current "$3"
    else run current "$3"; run previous "$2"; fi
  done
}
