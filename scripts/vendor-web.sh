#!/usr/bin/env bash
# Refresh the browser libraries vendored under src/earlgate/web/vendor/.
#
# The pages fetch nothing at run time and nothing is built: each library is a
# pinned npm release copied as published, with its licence beside it.
#
#   bash scripts/vendor-web.sh          # install into a temp dir, copy, list what was written
#
# To move to another release, change the version below, run the script, look
# at the diff and run the browser tests (tests/browser/, tests/js/).
set -euo pipefail

PEERJS_VERSION=1.5.5      # the same release tests/rtc runs against (PEERJS.md)
SMOL_TOML_VERSION=1.9.1   # TOML 1.0 parser, ESM, no dependencies

root="$(cd "$(dirname "$0")/.." && pwd)"
vendor="$root/src/earlgate/web/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

npm install --prefix "$work" --no-audit --no-fund --ignore-scripts --save-exact \
    "peerjs@$PEERJS_VERSION" "smol-toml@$SMOL_TOML_VERSION" >/dev/null

modules="$work/node_modules"
check_version() {  # package, wanted
    local got
    got="$(node -p "require('$modules/$1/package.json').version")"
    [[ "$got" == "$2" ]] || { echo "$1: npm gave $got, wanted $2" >&2; exit 1; }
}
check_version peerjs "$PEERJS_VERSION"
check_version smol-toml "$SMOL_TOML_VERSION"

rm -rf "$vendor/peerjs" "$vendor/smol-toml"
mkdir -p "$vendor/peerjs" "$vendor/smol-toml"
cp "$modules/peerjs/dist/peerjs.min.js" "$vendor/peerjs/peerjs.min.js"
cp "$modules/peerjs/LICENSE" "$vendor/peerjs/LICENSE"
# smol-toml's ESM build is a handful of modules that import each other relatively.
cp "$modules/smol-toml/dist/"*.js "$vendor/smol-toml/"
cp "$modules/smol-toml/LICENSE" "$vendor/smol-toml/LICENSE"
# peerjs.min.js ends with a source-map comment whose map is not shipped.
sed -i 's|//# sourceMappingURL=.*$||' "$vendor/peerjs/peerjs.min.js"
for f in "$vendor"/smol-toml/*.js; do sed -i 's|//# sourceMappingURL=.*$||' "$f"; done

echo "vendored into ${vendor#$root/}:"
(cd "$vendor" && find peerjs smol-toml -type f | sort | while read -r f; do
    printf '  %-28s %8d bytes\n' "$f" "$(stat -c %s "$f")"
done)
