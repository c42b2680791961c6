#!/usr/bin/env bash
# A 10-minute soak (not part of the unit suite): does the emulator's own
# memory stay flat? Prints the fitted slope and r^2 of the RSS and of every
# thread's heap that summary.json judged (scripts/soak-slopes.mjs), with the
# machine's load before and after (figures taken while others load the
# machine are noisy: say so when you quote them). scripts/soak-1h.sh is the
# hour-long one.
#
#   scripts/soak-10min.sh [OUT_DIR] [extra soak flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-$(mktemp -d -t hvaemu-soak10-XXXXXX)}"
shift || true
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)"
code=0
node bin/hvaemu.mjs soak --cpus 4 --duration 10m --stat-interval 10s --audit-every 6 \
  --out "$out" --force "$@" || code=$?
echo "load after:  $(cut -d' ' -f1-3 /proc/loadavg)"
# the slopes are printed whatever they say; the exit status is the soak's
node scripts/soak-slopes.mjs "$out" || true
exit "$code"
