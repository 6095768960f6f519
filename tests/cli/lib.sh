# Shared helpers for the CLI tests (sourced). Each test runs the real binaries
# from $WSSS_BIN in a fresh temporary directory.
set -euo pipefail
: "${WSSS_BIN:?WSSS_BIN must point at the built binaries}"
: "${WSSS_SOURCE:?WSSS_SOURCE must point at the source tree}"
export PATH="$WSSS_BIN:$PATH"
mkdir -p "${WSSS_TEST_TMP:-/tmp}"
T=$(mktemp -d "${WSSS_TEST_TMP:-/tmp}/cli.XXXXXX")
trap 'rm -rf "$T"' EXIT
cd "$T"

fail() { echo "FAIL: $*" >&2; exit 1; }

# expect_exit CODE CMD...: runs CMD with stdout in $T/out and stderr in $T/err.
expect_exit() {
  local want=$1; shift
  set +e
  "$@" >"$T/out" 2>"$T/err"
  local got=$?
  set -e
  if [ "$got" != "$want" ]; then
    echo "--- stdout"; cat "$T/out"; echo "--- stderr"; cat "$T/err"
    fail "'$*' exited $got, expected $want"
  fi
}

# assert_grep PATTERN FILE: extended regex must match somewhere in FILE.
assert_grep() { grep -Eq -- "$1" "$2" || { echo "--- $2:"; cat "$2"; fail "no match for '$1' in $2"; }; }
assert_no_grep() { ! grep -Eq -- "$1" "$2" || { echo "--- $2:"; cat "$2"; fail "unexpected match for '$1' in $2"; }; }

# assert_same_tree A B: same relative file list and byte-identical contents,
# ignoring provenance files (meta*.json hold times and argv).
assert_same_tree() {
  local a=$1 b=$2
  diff <(cd "$a" && find . -type f ! -name 'meta*.json' | sort) \
       <(cd "$b" && find . -type f ! -name 'meta*.json' | sort) >/dev/null \
    || fail "file lists differ: $a vs $b"
  while IFS= read -r f; do
    cmp -s "$a/$f" "$b/$f" || fail "contents differ: $f ($a vs $b)"
  done < <(cd "$a" && find . -type f ! -name 'meta*.json' | sort)
}

# Last stderr line must be the standard summary.
assert_summary() { tail -n 1 "$T/err" | grep -Eq "done [0-9]+, skipped [0-9]+, failed [0-9]+ of [0-9]+ in [0-9.]+s" \
  || { cat "$T/err"; fail "no summary line"; }; }
