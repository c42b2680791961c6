#!/usr/bin/env bash
# A 1-hour soak (not part of the unit suite): does the emulator's memory stay
# flat? Every thread writes its own heap figures (src/soak/memstat.ts); the
# leak check fits a line to the process RSS and to each thread's heap after
# the warm-up (src/soak/leak.ts) and this prints the fitted slope and r^2 of
# every series. Exit status: the soak's own if it failed, else 1 when a series
# grows steadily (a plateau, growth that stops, is not a leak), else 0.
#
# Needs the machine to itself: figures taken while others load its cores are
# noisy (the load is printed before and after: say so when you quote them).
#
#   scripts/soak-1h.sh [OUT_DIR] [extra soak flags...]
#   e.g. scripts/soak-1h.sh /tmp/soak1h --duration 2h
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-$(mktemp -d -t hvaemu-soak1h-XXXXXX)}"
shift || true
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)"
code=0
node bin/hvaemu.mjs soak --cpus 4 --duration 1h --stat-interval 10s \
  --out "$out" --force "$@" || code=$?
echo "load after:  $(cut -d' ' -f1-3 /proc/loadavg)"
slopes=0
node scripts/soak-slopes.mjs "$out" || slopes=$?
if [ "$code" -ne 0 ]; then exit "$code"; fi
exit "$slopes"
