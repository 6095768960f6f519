#!/usr/bin/env bash
# Every floating-point option of every binary declares its range (shown in
# --help as FLOAT:in [A, B], FLOAT:> 0 or FLOAT:>= A), and NaN is refused even
# where one was forgotten (lib/cli/validators.hpp). An option added without a
# range fails here, naming it.
source "$WSSS_SOURCE/tests/cli/lib.sh"
missing=0 checked=0
for bin in "$WSSS_BIN"/wsss-*; do
  name=$(basename "$bin")
  # One start-up per binary: --help-all prints every subcommand's options too.
  while IFS= read -r line; do
    checked=$((checked + 1))
    if ! grep -Eq 'FLOAT:(in \[|> |>= )' <<<"$line"; then
      echo "no declared range: $name:$line" >&2
      missing=$((missing + 1))
    fi
  done < <("$bin" --help-all | grep -E ' FLOAT' || true)
done
[ "$checked" -gt 20 ] || fail "only $checked floating-point options found: is the help format still parsed?"
[ "$missing" -eq 0 ] || fail "$missing floating-point option(s) without a declared range"
echo "$checked floating-point options, all with a declared range"
