#!/usr/bin/env bash
# Data-parallel training on a real single-node Slurm cluster (munged,
# slurmctld and slurmd from Debian, started by scripts/slurm/local-cluster.sh
# and stopped at exit), the ranks found from Slurm's variables alone:
#   - `srun --ntasks 2 wsss-classify train` (frozen BatchNorm) equals the
#     1-process run within 1e-5 relative, and only rank 0 wrote;
#   - a job script `sbatch --ntasks 2` that resumes, through srun, a run a
#     single process stopped after its first epoch (--resume with another world
#     size) gives the same model;
#   - a trainer started in that job script without srun trains on one process
#     and says why.
# (The per-image arrays, the merge and a killed shard resubmitted are
# tests/slurm/test_slurm_array.sh.) Skips (77) only when it cannot start
# daemons: not root and no password-less sudo.
source "$WSSS_SOURCE/tests/cli/lib.sh"
cluster=$WSSS_SOURCE/scripts/slurm/local-cluster.sh

if [ "$(id -u)" -ne 0 ] && ! { command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; }; then
  echo "SKIP: starting slurmctld, slurmd and munged needs root or password-less sudo"
  exit 77
fi
if ! /usr/bin/python3 -c "import numpy" 2>/dev/null; then echo "SKIP: /usr/bin/python3 lacks numpy"; exit 77; fi

C=$(mktemp -d /tmp/wsss-slurm-ddp.XXXXXX)
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
t_start=$(date +%s.%N)
conf=$("$cluster" start --cpus 4 --sched batch_sched_delay=0 "$C") || fail "local-cluster.sh start failed"
export SLURM_CONF=${conf#SLURM_CONF=}
[ "$(sinfo -h -o %T)" = idle ] || fail "node not idle after start"

rel() { /usr/bin/python3 "$WSSS_SOURCE/tests/cli/weights_diff.py" "$1" "$2" | sed -n 's/^max_rel=\([^ ]*\).*/\1/p'; }
assert_close() {
  local r; r=$(rel "$1" "$2")
  echo "$3: max relative difference $r"
  /usr/bin/python3 -c "import sys; sys.exit(0 if float('$r') <= 1e-5 else 1)" || fail "$3: $r > 1e-5 ($1 vs $2)"
}

wsss-data synth -q --count 16 --size 56x56 --seed 1 d
CLS=(wsss-classify train -j1 --arch resnet18 --width 8 --frozen-stages 1 --momentum 0.9 --lr 0.05
     --resize-long 48:64 --crop 48 --batch 4 --epochs 2 --seed 5)
expect_exit 0 "${CLS[@]}" d/manifest.jsonl local

# --- srun --ntasks 2: ranks from SLURM_PROCID, SLURM_NTASKS and the step's first host.
expect_exit 0 srun --ntasks 2 --kill-on-bad-exit=1 "${CLS[@]}" d/manifest.jsonl srun2
assert_grep "data-parallel: rank 0 of 2 \\(slurm, rendezvous at $(hostname -s):[0-9]+\\)" "$T/err"
assert_no_grep '\[rank 1\]' "$T/err"
assert_close local/model.safetensors srun2/model.safetensors "srun --ntasks 2 vs 1 process"
[ "$(cd local && ls)" = "$(cd srun2 && ls)" ] || fail "srun wrote other files: $(cd srun2 && ls)"

# --- A job script: 1 epoch on one process here, the second as 2 Slurm tasks.
expect_exit 0 "${CLS[@]}" --stop-after 1 d/manifest.jsonl resumed
cat > job.sh <<EOF
#!/bin/bash
# Outside srun the job script is one process, whatever --ntasks says.
${CLS[*]} d/manifest.jsonl in-script
srun --kill-on-bad-exit=1 ${CLS[*]} --resume d/manifest.jsonl resumed
EOF
expect_exit 0 sbatch --wait --ntasks 2 --output="$T/job.log" job.sh
assert_grep 'SLURM_NTASKS=2 but this is the job script, not an srun step: training on one process' "$T/job.log"
assert_grep 'resuming after epoch 1 of 2' "$T/job.log"
assert_grep 'data-parallel: rank 0 of 2 \(slurm' "$T/job.log"
[ -s in-script/model.safetensors ] || fail "the job script's own training wrote no model"
assert_close local/model.safetensors resumed/model.safetensors "1 epoch on 1 process + 1 epoch on 2 Slurm tasks"

echo "test_slurm_ddp: $(awk -v a="$t_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
