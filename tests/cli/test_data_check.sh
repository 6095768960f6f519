#!/usr/bin/env bash
# wsss-data check reports every problem of a manifest as FILE:LINE: message.
source "$WSSS_SOURCE/tests/cli/lib.sh"
/usr/bin/python3 "$WSSS_SOURCE/tests/cli/data_fixtures.py" folder fake
/usr/bin/python3 - <<'PY'
import numpy as np
from PIL import Image
Image.fromarray(np.zeros((20, 30), np.uint8)).save("ok.png")          # right size
Image.fromarray(np.zeros((21, 30), np.uint8)).save("wrongsize.png")   # one row too many
m = np.zeros((20, 30), np.uint8); m[0, 0] = 255; m[1, 1] = 20
Image.fromarray(m).save("max.png")                                    # 20 and 255 are fine for voc12
m[2, 2] = 21
Image.fromarray(m).save("above.png")                                  # 21 is above K=20
data = open("fake/images/a.jpg", "rb").read()
open("truncated.jpg", "wb").write(data[:len(data) // 2])              # header intact, pixels cut
png = open("ok.png", "rb").read()
open("corrupt.png", "wb").write(png[:40] + b"\0" * 20 + png[60:])     # header intact, data broken
PY
wsss-data vocab voc12 > classes.json
cat > good.jsonl <<'J'
{"id":"a","image":"fake/images/a.jpg","labels":[12,15],"mask":"ok.png"}
{"id":"b","image":"fake/images/b.png","labels":[20],"mask":"max.png"}
J
expect_exit 0 wsss-data check good.jsonl --decode -j 2
assert_grep '^OK good.jsonl: 2 records, 4 files checked, 4 decoded$' "$T/out"

cat > bad.jsonl <<'J'
{"id":"a","image":"fake/images/a.jpg","labels":[12,15],"mask":"ok.png"}
{"id":"b","image":"fake/images/b.png","labels":[21]
{"id":"a","image":"fake/images/a.jpg"}
{"id":"c","image":"fake/images/nosuch.jpg","mask":"wrongsize.png"}
{"id":"d","image":"fake/images/a.jpg","mask":"wrongsize.png"}
{"id":"e","image":"fake/images/a.jpg","labels":[0,21],"mask":"above.png"}
{"id":"f","image":"truncated.jpg","mask":"corrupt.png","pseudo":"gone.png"}
{"image":"fake/images/a.jpg"}
J
# Without --decode: only what the headers and the file system tell.
expect_exit 1 wsss-data check bad.jsonl
assert_grep '^bad.jsonl:2: malformed JSON' "$T/err"
assert_grep "^bad.jsonl:3: duplicate id 'a' \(first on line 1\)$" "$T/err"
assert_grep "^bad.jsonl:4: item 'c': image .*fake/images/nosuch.jpg not found$" "$T/err"
assert_grep "^bad.jsonl:5: item 'd': mask .*wrongsize.png is 30x21 but the image is 30x20$" "$T/err"
assert_grep "^bad.jsonl:6: item 'e': label 0 outside 1..20$" "$T/err"
assert_grep "^bad.jsonl:6: item 'e': label 21 outside 1..20$" "$T/err"
assert_grep "^bad.jsonl:7: item 'f': pseudo .*gone.png not found$" "$T/err"
assert_grep '^bad.jsonl:8: record has no non-empty string "id"$' "$T/err"
assert_no_grep 'value 21 above' "$T/err"
assert_grep '8 problem\(s\) in bad.jsonl' "$T/err"
# With --decode: corrupt files and mask values too, in line order.
expect_exit 1 wsss-data check bad.jsonl --decode -j 2
cp "$T/err" decode_j2.err
assert_grep "^bad.jsonl:6: item 'e': mask .*above.png: value 21 above K=20 and not the ignore id 255$" "$T/err"
assert_grep "^bad.jsonl:7: item 'f': image: .*truncated.jpg: corrupt or truncated JPEG: Premature end of JPEG file" "$T/err"
assert_grep "^bad.jsonl:7: item 'f': mask: .*corrupt.png: corrupt" "$T/err"
assert_grep '11 problem\(s\) in bad.jsonl' "$T/err"
grep -Eo '^bad.jsonl:[0-9]+' "$T/err" | cut -d: -f2 | sort -n -c || fail "problems not in line order"
expect_exit 1 wsss-data check bad.jsonl --decode -j 1
diff <(grep '^bad' "$T/err") <(grep '^bad' decode_j2.err) || fail "report depends on -j"
# --masks-only leaves the image pixels alone.
expect_exit 1 wsss-data check bad.jsonl --decode --masks-only
assert_no_grep 'truncated.jpg: truncated' "$T/err"
assert_grep 'corrupt.png: corrupt' "$T/err"

# --classes overrides classes.json: with coco (K=80) label 21 is fine.
printf '{"id":"x","image":"fake/images/a.jpg","labels":[21,80]}\n' > coco.jsonl
expect_exit 0 wsss-data check coco.jsonl --classes coco
expect_exit 1 wsss-data check coco.jsonl
assert_grep "^coco.jsonl:1: item 'x': label 21 outside 1..20$" "$T/err"

# Empty manifests need --allow-empty; a missing manifest is named.
: > empty.jsonl
expect_exit 1 wsss-data check empty.jsonl
assert_grep '^empty.jsonl: empty manifest \(use --allow-empty' "$T/err"
expect_exit 0 wsss-data check empty.jsonl --allow-empty
expect_exit 1 wsss-data check nosuch.jsonl
assert_grep 'nosuch.jsonl' "$T/err"
echo PASS
