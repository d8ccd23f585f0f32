#!/usr/bin/env bash
# Regenerates the expected dumps of the v1 golden image. Run only when the dump output format
# changes on purpose; never because the image changed (the image is frozen).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gunzip -c "$here/v1.img.gz" > "$tmp/v1.img"
strata="$here/../../bin/strata"
( cd "$tmp" && "$strata" dump super v1.img ) > "$here/expect.super"
( cd "$tmp" && "$strata" dump ls -R v1.img / ) > "$here/expect.ls"
( cd "$tmp" && "$strata" dump btree v1.img ) > "$here/expect.btree"
