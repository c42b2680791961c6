#!/usr/bin/env bash
# A 10-minute soak (not part of the unit suite): does the emulator's own
# memory stay flat? Prints the RSS and heap slopes that summary.json judged,
# with the machine's load before and after (figures taken while others load
# the machine are noisy: say so when you quote them).
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
node -e '
const s = JSON.parse(require("fs").readFileSync(process.argv[1] + "/summary.json", "utf8"));
const m = s.memory;
const f = (n, j) => `${n}: slope ${j.slopeMBPerHour} MB/h, r^2 ${j.r2}, ${j.firstMB} -> ${j.lastMB} MB (max ${j.maxMB}) over ${Math.round(j.windowMs / 1000)} s after a ${Math.round(j.warmupMs / 1000)} s warm-up: ${j.why}`;
console.log(`verdict ${s.verdict}, ${s.statsLines} stats lines, ${s.audits.periodic} periodic audits (${s.audits.failed} failed, ${s.audits.skipped} skipped)`);
console.log(f("RSS ", m.rss));
console.log(f("heap", m.heapUsed));
console.log(`leak suspected: ${m.leakSuspected}; results in ${process.argv[1]}`);
' "$out"
exit "$code"
