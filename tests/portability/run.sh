#!/usr/bin/env bash
# One `portability` ctest: the determinism-sensitive unit tests (Catch tag
# [determinism]) and the end-to-end check, under the environment ctest set.
# usage: run.sh UNIT_TESTS TORCH_UNIT_TESTS
set -euo pipefail
"$1" "[determinism]" --use-colour no
if [ -n "$2" ]; then "$2" "[determinism]" --use-colour no; fi
bash "$(dirname "$0")/determinism.sh"
