#!/usr/bin/env bash
# Per-image stages on a real single-node Slurm cluster (munged, slurmctld and
# slurmd from Debian, started by scripts/slurm/local-cluster.sh and stopped at
# exit), through the launcher scripts/slurm/wsss-submit:
#   - wsss-data synth as a 4-task array plus merge: byte-identical to the local run;
#   - wsss-pseudo with two shards killed mid-run (kill -9 of the stage, scancel
#     of the task): the merge job never runs, `wsss-data merge` names both
#     shards, `wsss-submit --resubmit` runs those two alone, resuming their
#     journals, and the result equals the local run byte for byte;
#   - the array's overhead per shard, printed for the record (bench/slurm.sh
#     measures it properly).
# Skips (77) only when it cannot start daemons: not root and no password-less sudo.
source "$WSSS_SOURCE/tests/cli/lib.sh"
export WSSS_SUBMIT_POLL=0.2  # wsss-submit --wait polls squeue this often
cluster=$WSSS_SOURCE/scripts/slurm/local-cluster.sh
submit=$WSSS_SOURCE/scripts/slurm/wsss-submit

if [ "$(id -u)" -ne 0 ] && ! { command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; }; then
  echo "SKIP: starting slurmctld, slurmd and munged needs root or password-less sudo"
  exit 77
fi

# The cluster's directory holds the munge socket, whose path must be short.
C=$(mktemp -d /tmp/wsss-slurm-test.XXXXXX)
cleanup() {
  local rc=$?
  if [ $rc -ne 0 ] && [ -d "$C/log" ]; then
    for f in "$C"/log/*.log; do echo "--- $f (last lines)"; tail -n 20 "$f"; done
  fi
  "$cluster" stop --purge "$C" || rc=1
  if [ -n "${WSSS_KEEP_TMP:-}" ]; then echo "kept $T"; else rm -rf "$T"; fi
  exit $rc
}
trap cleanup EXIT
# elapsed T0: seconds since T0 (from date +%s.%N).
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }'; }
t_start=$(date +%s.%N)
# 4 CPUs whatever the machine has (slurm.conf's word is taken): the kill test
# needs shards 2 and 3 running at once. batch_sched_delay=0: a task starts
# about 0.3 s after a slot frees instead of about 2 s (bench/slurm.sh).
conf=$("$cluster" start --cpus 4 --sched batch_sched_delay=0 "$C") || fail "local-cluster.sh start failed"
export SLURM_CONF=${conf#SLURM_CONF=}
echo "cluster up in $(elapsed "$t_start") s"
[ "$(sinfo -h -o %T)" = idle ] || fail "node not idle after start"

# assert_same_outputs LOCAL SLURM: the same files, byte for byte, leaving out
# what only the Slurm run has (log/, the shard manifests the merge read) and
# provenance (meta*.json hold times and argv).
assert_same_outputs() {
  local a=$1 b=$2
  list() { (cd "$1" && find . -type f ! -path './log/*' ! -name 'meta*.json' ! -name 'manifest.*-of-*.jsonl' | sort); }
  diff <(list "$a") <(list "$b") || fail "file lists differ: $a vs $b"
  [ -n "$(list "$a")" ] || fail "$a is empty"
  while IFS= read -r f; do
    cmp -s "$a/$f" "$b/$f" || fail "contents differ: $f ($a vs $b)"
  done < <(list "$a")
}
# epoch_of LOG WHAT: the epoch of '# Started' or '# Ended' in a task log.
epoch_of() { sed -n "s/^# $2 .*epoch \([0-9.]*\)).*/\1/p" "$1" | tail -n 1; }

# --- 1. A generator stage as a 4-task array plus merge --------------------------
t0=$(date +%s.%N)
wsss-data synth -q --count 16 --size 48x40 --seed 3 local_synth
local_s=$(elapsed "$t0")

t0=$(date +%s.%N)
expect_exit 0 "$submit" --shards 4 --wait synth -- wsss-data synth --count 16 --size 48x40 --seed 3 synth
slurm_s=$(elapsed "$t0")
assert_grep '^array_job=[0-9]+$' "$T/out"
assert_grep '^merge_job=[0-9]+$' "$T/out"
[ "$(wc -l <"$T/out")" = 2 ] || fail "stdout holds more than the two job ids"
assert_grep 'merged into .*/synth/manifest.jsonl' "$T/err"
for j in 1 2 3 4; do
  log=synth/log/data-synth.$j.log
  assert_grep "^# wsss-data synth --count 16 --size 48x40 --seed 3 synth -j 1 --shard $j/4$" "$log"
  assert_grep "^# Started at .* \\(job [0-9]+_$j, epoch [0-9.]+\\)\$" "$log"
  assert_grep "done 4, skipped 0, failed 0 of 4" "$log"
  assert_grep '^# Accounting: time=[0-9.]+ seconds$' "$log"
  assert_grep '^# Ended \(code 0\) at ' "$log"
done
assert_grep "^# .*wsss-data merge $T/synth$" synth/log/data-synth.merge.log
assert_grep '^# Ended \(code 0\)' synth/log/data-synth.merge.log
assert_same_outputs local_synth synth

# The overhead of this run, for the record (bench/slurm.sh measures it properly).
tasks_s=$(cat synth/log/data-synth.[1-4].log | awk '/^# Accounting: time=/ { split($3, t, "="); s += t[2] } END { printf "%.2f", s }')
first=$(for j in 1 2 3 4; do epoch_of synth/log/data-synth.$j.log Started; done | sort -n | head -n 1)
echo "synth 16 images: local ${local_s} s; Slurm 4 shards + merge ${slurm_s} s (the tasks' own time ${tasks_s} s" \
     "on 4 Slurm CPUs, $(nproc) cores; first task started $(awk -v a="$t0" -v b="$first" 'BEGIN { printf "%.2f", b - a }') s after submission)"

# --shard auto in a job script of one's own: a 0-based array gives shards 1..4 of 4.
expect_exit 0 sbatch --wait --array=0-3 --output="$T/auto.%a.log" \
  --wrap "wsss-data synth -q -j 1 --count 16 --size 48x40 --seed 3 --shard auto auto_synth"
for j in 1 2 3 4; do [ -e auto_synth/manifest.$j-of-4.jsonl ] || fail "--shard auto: no shard $j of 4"; done
expect_exit 0 wsss-data merge auto_synth
assert_same_outputs local_synth auto_synth

# --after: the array waits for another job, and is dropped when that job fails.
dep=$(sbatch --parsable --output=/dev/null --wrap "sleep 2; date +%s.%N > $T/dep.done")
expect_exit 0 "$submit" --shards 2 --after "$dep" --wait synth2 -- wsss-data synth --count 4 --size 48x40 synth2
for j in 1 2; do
  awk -v a="$(cat dep.done)" -v b="$(epoch_of synth2/log/data-synth.$j.log Started)" 'BEGIN { exit !(b > a) }' \
    || fail "shard $j of synth2 started before the job it was to wait for ended"
done
bad=$(sbatch --parsable --output=/dev/null --wrap "exit 3")
expect_exit 1 "$submit" --shards 2 --after "$bad" --wait synth3 -- wsss-data synth --count 4 --size 48x40 synth3
assert_grep '2 / 2 shards failed: 1 \(not-started\), 2 \(not-started\); logs in .*/synth3/log/data-synth.\{1,2\}.log' "$T/err"
assert_grep 'wsss-submit --resubmit synth3' "$T/err"
expect_exit 2 "$submit" --shards 2 --sbatch=--dependency=afterok:1 synth3 -- wsss-data synth --count 4 synth3
assert_grep 'give dependencies with --after' "$T/err"

# Usage and refusals before anything reaches the cluster.
expect_exit 2 "$submit" --shards 4 elsewhere -- wsss-data synth --count 4 synthx
assert_grep 'elsewhere is not an argument of the stage command' "$T/err"
expect_exit 2 "$submit" --shards 4 synthx -- wsss-data synth --count 4 --shard 1/2 synthx
assert_grep 'must not give --shard' "$T/err"
expect_exit 2 "$submit" synthx -- wsss-data synth --count 4 synthx
assert_grep '--shards N is required' "$T/err"
expect_exit 1 "$submit" --shards 4 synth -- wsss-data synth --count 16 --size 48x40 --seed 3 synth
assert_grep 'synth/manifest.jsonl exists: the stage is done' "$T/err"
expect_exit 1 "$submit" --resubmit synth
assert_grep 'all shards are merged, nothing to resubmit' "$T/err"

# --shard auto outside an array job is a usage error that says why.
expect_exit 2 env -u SLURM_ARRAY_TASK_ID wsss-data synth --count 4 --shard auto auto_out
assert_grep 'SLURM_ARRAY_TASK_ID is not set: not a Slurm array task' "$T/err"

# --- 2. Killed shards, resubmitted alone ----------------------------------------
# Score maps for wsss-pseudo, written with Python's standard library only.
wsss-data synth -q --count 16 --size 48x40 --seed 5 data
/usr/bin/python3 - <<'PY'
import array, json, os
os.makedirs("cams/cam", exist_ok=True)
def npy(path, shape, values):
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }" % ", ".join(map(str, shape))
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"  # data aligned to 64 bytes
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode("latin1"))
        f.write(array.array("f", values).tobytes())
out = []
for n, line in enumerate(open("data/manifest.jsonl")):
    r = json.loads(line)
    w, h = 48, 40
    maps = [((x * 7 + y * 13 + c * 31 + n * 17) % 100) / 100.0
            for c in r["labels"] for y in range(h) for x in range(w)]
    npy(f"cams/cam/{r['id']}.npy", (len(r["labels"]), h, w), maps)
    r.update(image="../data/" + r["image"], mask="../data/" + r["mask"], cam=f"cam/{r['id']}.npy",
             cam_classes=r["labels"])
    out.append(json.dumps(r))
open("cams/manifest.jsonl", "w").write("\n".join(out) + "\n")
open("ids.txt", "w").write("".join(json.loads(r)["id"] + "\n" for r in out))
PY
cp data/classes.json cams/
expect_exit 0 wsss-pseudo -q -j1 --bg-threshold 0.5 cams/manifest.jsonl local_p

# Shard 2 holds items 5-8 and shard 3 items 9-12. A FIFO in place of item 7's
# and item 10's score map blocks those shards in open() after 2 and 1 items
# are in their journals: a deterministic point at which to kill them.
mapfile -t ids <ids.txt
mkdir cams/real
for k in 6 9; do
  mv "cams/cam/${ids[$k]}.npy" cams/real/ && mkfifo "cams/cam/${ids[$k]}.npy"
done
expect_exit 0 "$submit" --shards 4 p -- wsss-pseudo --bg-threshold 0.5 cams/manifest.jsonl p
array=$(sed -n 's/^array_job=//p' "$T/out")
merge=$(sed -n 's/^merge_job=//p' "$T/out")

# wait_lines FILE N: until FILE has N lines (60 s at most).
wait_lines() {
  for _ in $(seq 600); do
    [ "$(cat "$1" 2>/dev/null | wc -l)" -ge "$2" ] && return 0
    sleep 0.1
  done
  fail "$1: fewer than $2 lines after 60 s"
}
wait_lines p/.journal.2-of-4.jsonl 2
wait_lines p/.journal.3-of-4.jsonl 1
# While its jobs run, OUT_DIR takes neither a new submission nor a resubmission.
expect_exit 1 "$submit" --shards 4 p -- wsss-pseudo --bg-threshold 0.5 cams/manifest.jsonl p
assert_grep 'jobs of .*/p are still queued or running' "$T/err"
expect_exit 1 "$submit" --resubmit p
assert_grep 'jobs of .*/p are still queued or running' "$T/err"
# Shard 2: kill -9 of the stage process (as the OOM killer would), found among
# the task's processes that Slurm lists.
task2=$(squeue -h -r -j "${array}_2" -o %A)  # listpids wants the task's own job id
victim=""
for pid in $(scontrol listpids "$task2" | awk 'NR > 1 {print $1}'); do
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q '^wsss-pseudo .*--shard 2/4 $' && victim=$pid
done
[ -n "$victim" ] || { scontrol listpids "$task2"; fail "no wsss-pseudo process among the pids of task ${array}_2"; }
kill -9 "$victim"
# Shard 3: cancelled through Slurm.
scancel "${array}_3"
# Shards 1 and 4 finish; the merge job must be dropped, not left pending.
for _ in $(seq 600); do
  [ -z "$(squeue -h -r -j "$array,$merge" 2>/dev/null)" ] && break
  sleep 0.1
done
[ -z "$(squeue -h -r -j "$array,$merge" 2>/dev/null)" ] || { squeue -r; fail "jobs still queued 60 s after the kill"; }
[ -e p/manifest.1-of-4.jsonl ] && [ -e p/manifest.4-of-4.jsonl ] || fail "shards 1 and 4 did not finish"
[ ! -e p/manifest.2-of-4.jsonl ] && [ ! -e p/manifest.3-of-4.jsonl ] || fail "a killed shard wrote its manifest"
[ ! -e p/manifest.jsonl ] || fail "the merge ran despite the failed shards"
[ ! -e p/log/pseudo.merge.log ] || fail "the merge job ran: $(cat p/log/pseudo.merge.log)"
assert_grep '^# Ended \(code 137\)' p/log/pseudo.2.log
assert_grep 'CANCELLED' p/log/pseudo.3.log
assert_no_grep '^# Ended' p/log/pseudo.3.log

expect_exit 0 "$submit" --status p
assert_grep '^1 done$' "$T/out"
assert_grep '^2 failed 137$' "$T/out"
assert_grep '^3 cancelled$' "$T/out"
assert_grep '^4 done$' "$T/out"
assert_grep '^merged no$' "$T/out"

# The merge refuses the incomplete set and names what is missing, and why.
expect_exit 1 wsss-data merge p
assert_grep '2 of 4 shard manifests missing: manifest.2-of-4.jsonl \(interrupted: .journal.2-of-4.jsonl\), manifest.3-of-4.jsonl \(interrupted: .journal.3-of-4.jsonl\)' "$T/err"
[ ! -e p/manifest.jsonl ] || fail "a refused merge left a manifest"

# A fresh submission over the unfinished run is refused; --resubmit runs 2 and 3 alone.
expect_exit 1 "$submit" --shards 4 p -- wsss-pseudo --bg-threshold 0.5 cams/manifest.jsonl p
assert_grep 'holds shards of an earlier run .*--resubmit' "$T/err"
for k in 6 9; do rm "cams/cam/${ids[$k]}.npy" && mv "cams/real/${ids[$k]}.npy" cams/cam/; done
cp p/log/pseudo.1.log log1.before
expect_exit 0 "$submit" --resubmit --wait p
assert_grep "submitted shards 2,3 of 4 as job" "$T/err"
cmp -s log1.before p/log/pseudo.1.log || fail "--resubmit ran shard 1 again"
assert_grep '--skip-existing --shard 2/4$' p/log/pseudo.2.log
assert_grep 'done 2, skipped 2, failed 0 of 4' p/log/pseudo.2.log
assert_grep 'done 3, skipped 1, failed 0 of 4' p/log/pseudo.3.log
assert_grep '^# Ended \(code 137\)' p/log/pseudo.2.log.prev
[ "$(wc -l <p/log/pseudo.jobs)" = 2 ] || fail "pseudo.jobs should list two submissions"
assert_same_outputs local_p p
echo PASS
