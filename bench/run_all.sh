#!/usr/bin/env bash
# Runs every benchmark in bench/ (each bench/*.sh but this one) and reports
# which failed. Binaries come from $WSSS_BIN (default build/bin).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export WSSS_BIN=${WSSS_BIN:-build/bin}
failed=()
for script in "$here"/*.sh; do
  [ "$(basename "$script")" = "run_all.sh" ] && continue
  echo "### $(basename "$script")"
  bash "$script" || failed+=("$(basename "$script")")
  echo
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "failed: ${failed[*]}"
  exit 1
fi
