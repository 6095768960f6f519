#!/usr/bin/env bash
# The Table-1 experiment on a real single-node Slurm cluster (issue #16's "one
# switch"): `scripts/pipeline.sh EXP all` with LAUNCH=slurm SHARDS=2 runs every
# per-image stage as a 2-task array plus merge (scripts/slurm/wsss-submit
# --wait) and every trainer as one sbatch job, at tiny sizes; its outputs equal
# the local run's byte for byte (the checkpoints' resume state names its own
# paths), and the table is the same.
# Skips (77) only when it cannot start daemons: not root and no password-less sudo.
source "$WSSS_SOURCE/tests/cli/lib.sh"
export WSSS_SUBMIT_POLL=0.2
cluster=$WSSS_SOURCE/scripts/slurm/local-cluster.sh
if [ "$(id -u)" -ne 0 ] && ! { command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; }; then
  echo "SKIP: starting slurmctld, slurmd and munged needs root or password-less sudo"
  exit 77
fi
C=$(mktemp -d /tmp/wsss-slurm-exp.XXXXXX)
cleanup() {
  local rc=$?
  if [ $rc -ne 0 ] && [ -d "$C/log" ]; then
    for f in "$C"/log/*.log; do echo "--- $f (last lines)"; tail -n 20 "$f"; done
  fi
  "$cluster" stop --purge "$C" || rc=1
  rm -rf "$T"
  exit $rc
}
trap cleanup EXIT
conf=$("$cluster" start --cpus 4 --sched batch_sched_delay=0 "$C") || fail "local-cluster.sh start failed"
export SLURM_CONF=${conf#SLURM_CONF=}

export TRAIN_COUNT=24 VAL_COUNT=8 CLS_EPOCHS=1 SEG_ITERS=3 ROWS="cam crf" SEG_ROWS=cam J=2
P() { WSSS_BIN="$WSSS_BIN" "$WSSS_SOURCE/scripts/pipeline.sh" "$@"; }
# Both runs in the same directory (models record their --init path), one after the other.
expect_exit 0 P exp all
mv exp local
expect_exit 0 env LAUNCH=slurm SHARDS=2 "$WSSS_SOURCE/scripts/pipeline.sh" exp all
mv exp slurm
assert_grep '^LAUNCH=slurm$' slurm/config.sh
# Per-image stages went through arrays, trainers through single jobs.
assert_grep 'wsss-submit -n 2 .*--name cam exp/cam -- wsss-cam' slurm/log/cam.log
[ -f slurm/cam/log/cam.1.log ] && [ -f slurm/cam/log/cam.2.log ] || fail "no array task logs for cam"
assert_grep '^\+ sbatch --wait .*wsss-classify\\? train' slurm/log/classify.log
[ -s slurm/log/classify.slurm.log ] || fail "no Slurm job log for classify"
# The outputs are the local run's.
list() { (cd "$1" && find . -type f ! -path './log/*' ! -path '*/log/*' ! -path './times/*' ! -path './cmd/*' \
            ! -name 'meta*.json' ! -name 'manifest.*-of-*.jsonl' ! -name 'config.*' ! -name 'results.*' ! -name report.html ! -name checkpoint.state \
            ! -name '*.tmp' | sort); }
diff <(list local) <(list slurm) || fail "file lists differ"
while IFS= read -r f; do cmp -s "local/$f" "slurm/$f" || fail "contents differ: $f"; done < <(list local)
diff <(grep -oE '"(pseudo|seg)_miou_[a-z]+": [0-9.null]+' local/results.json) \
     <(grep -oE '"(pseudo|seg)_miou_[a-z]+": [0-9.null]+' slurm/results.json) || fail "tables differ"
echo ok
