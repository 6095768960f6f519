#!/usr/bin/env bash
# docs/cli.md is generated from the binaries' --help-all and must be current.
source "$WSSS_SOURCE/tests/cli/lib.sh"
"$WSSS_SOURCE/scripts/gen_cli_docs.sh" "$WSSS_BIN" fresh.md
[ "$(grep -c '^## wsss-' fresh.md)" -ge 9 ] || fail "fewer than 9 binaries documented"
assert_grep '^  --bg-threshold FLOAT:in \[0, 1\]' fresh.md
diff -u "$WSSS_SOURCE/docs/cli.md" fresh.md > cli.diff || { head -40 cli.diff; fail "docs/cli.md is stale: run 'make cli-docs'"; }
