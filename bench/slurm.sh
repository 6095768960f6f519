#!/usr/bin/env bash
# Overhead of running a per-image stage as a Slurm job array (scripts/slurm/
# wsss-submit) on a real single-node cluster started here (scripts/slurm/
# local-cluster.sh, stock scheduler settings), against running the same shards
# and the merge directly, one after the other.
#
#   per-job overhead = (Slurm wall time with one task at a time - local wall time) / (SHARDS + 1)
#
# where the +1 is the merge job; also the latencies behind it, read from the
# tasks' logs: submission to the first task's start, one task's end to the
# next one's start, the last task's end to the merge's start. Then the same
# array with every CPU busy. Needs root or password-less sudo (prints "skipped"
# otherwise). Knobs: SHARDS (8), COUNT (images, 64), SIZE (128x128), SCHED
# (slurm.conf SchedulerParameters, e.g. batch_sched_delay=0; default Slurm's).
set -euo pipefail
BIN=$(cd "${WSSS_BIN:-build/bin}" && pwd)
SRC=$(cd "$(dirname "$0")/.." && pwd)
SHARDS=${SHARDS:-8} COUNT=${COUNT:-64} SIZE=${SIZE:-128x128}
export PATH="$BIN:$PATH" WSSS_SUBMIT_POLL=0.1
cluster=$SRC/scripts/slurm/local-cluster.sh
submit=$SRC/scripts/slurm/wsss-submit

if [ "$(id -u)" -ne 0 ] && ! { command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; }; then
  echo "== slurm benchmark: skipped (needs root or password-less sudo for the daemons)"
  exit 0
fi
W=$(mktemp -d /tmp/wsss-bench-slurm.XXXXXX)
trap '"$cluster" stop --purge "$W/cluster" >/dev/null 2>&1 || true; rm -rf "$W"' EXIT
conf=$("$cluster" start ${SCHED:+--sched "$SCHED"} "$W/cluster" 2>/dev/null)
export SLURM_CONF=${conf#SLURM_CONF=}
cd "$W"
echo "== slurm array overhead ($(nproc) cores, load average $(cut -d' ' -f1 /proc/loadavg)," \
     "$SHARDS shards of wsss-data synth --count $COUNT --size $SIZE, SchedulerParameters=${SCHED:-default})"

now() { date +%s.%N; }
calc() { echo "scale=3; $*" | bc; }
stage=(wsss-data synth -q --count "$COUNT" --size "$SIZE" --seed 1)
epoch() { sed -n "s/^# $2 .*epoch \([0-9.]*\)).*/\1/p" "$1" | tail -n 1; }

# Local: the shards one after the other, then the merge.
t0=$(now)
for j in $(seq "$SHARDS"); do "${stage[@]}" -j 1 --shard "$j/$SHARDS" local; done
wsss-data merge -q local
local_s=$(calc "$(now) - $t0")

# Slurm, one task at a time: the same work plus the scheduling.
t0=$(now)
"$submit" --shards "$SHARDS" --max-running 1 --wait seq -- "${stage[@]}" seq >/dev/null 2>&1
seq_s=$(calc "$(now) - $t0")
gaps=0
for j in $(seq 2 "$SHARDS"); do
  gaps=$(calc "$gaps + $(epoch seq/log/data-synth.$j.log Started) - $(epoch seq/log/data-synth.$((j - 1)).log Ended)")
done
first=$(calc "$(epoch seq/log/data-synth.1.log Started) - $t0")
to_merge=$(calc "$(epoch seq/log/data-synth.merge.log Started) - $(epoch seq/log/data-synth.$SHARDS.log Ended)")

# Slurm, every CPU busy.
t0=$(now)
"$submit" --shards "$SHARDS" --wait par -- "${stage[@]}" par >/dev/null 2>&1
par_s=$(calc "$(now) - $t0")
for d in seq par; do
  mv "$d/log" "$d.log"
  diff -r -x 'meta*.json' local "$d" >/dev/null || { echo "FAIL: $d differs from the local run"; exit 1; }
done

printf '%-52s %8.2f s\n' "local: $SHARDS shards one after the other + merge" "$local_s"
printf '%-52s %8.2f s\n' "Slurm: array --max-running 1 + merge job" "$seq_s"
printf '%-52s %8.2f s\n' "Slurm: array on $(nproc) CPUs + merge job" "$par_s"
printf '%-52s %8.2f s\n' "overhead per job ((one at a time - local) / $((SHARDS + 1)))" \
  "$(calc "($seq_s - $local_s) / ($SHARDS + 1)")"
printf '%-52s %8.2f s\n' "submission -> first task started" "$first"
printf '%-52s %8.2f s\n' "task ended -> next task started (mean)" "$(calc "$gaps / ($SHARDS - 1)")"
printf '%-52s %8.2f s\n' "last task ended -> merge started" "$to_merge"
echo "outputs byte-identical to the local run (meta*.json aside)"
