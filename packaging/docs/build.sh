#!/usr/bin/env bash
# `make docs`: the API reference as HTML in build/docs/, one part per interface:
#   c/       from include/w3sock.h (header_html.py: every declaration and its comment)
#   python/  from the package's docstrings and type hints (pdoc)
#   node/    from bindings/node/index.d.ts and its doc comments (typedoc)
# The tools install themselves into build/ (build/venv-docs, build/docs-tools),
# pinned. Broken references fail the build: a w3s_/W3S_ name the header does
# not declare, a typedoc warning (an unresolved {@link}, a type not exported),
# and any local link between the generated pages (check_links.py).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
VERSION=$(cat VERSION)
OUT=build/docs
PDOC=pdoc==15.0.4
TYPEDOC=typedoc@0.28.20
TYPESCRIPT=$(node -p "require('./bindings/node/package-lock.json').packages['node_modules/typescript'].version")

[ -x build/venv-docs/bin/python ] || "${PYTHON:-python3}" -m venv build/venv-docs
build/venv-docs/bin/python -c 'import pdoc' 2>/dev/null \
  || build/venv-docs/bin/pip install -q --disable-pip-version-check "$PDOC"
if [ ! -x build/docs-tools/node_modules/.bin/typedoc ]; then
  mkdir -p build/docs-tools
  echo '{"private": true}' > build/docs-tools/package.json
  (cd build/docs-tools && npm install --no-audit --no-fund --loglevel=error "$TYPEDOC" "typescript@$TYPESCRIPT")
fi
# index.d.ts refers to node's types (@types/node, a devDependency of the package)
[ -d bindings/node/node_modules/@types/node ] || (cd bindings/node && npm ci --no-audit --no-fund --loglevel=error)

rm -rf "$OUT"
mkdir -p "$OUT"
echo "== C: include/w3sock.h"
python3 packaging/docs/header_html.py include/w3sock.h "$OUT/c/index.html" "$VERSION"

echo "== Python: pdoc"
# W3SOCK_LIBRARY set, so pdoc does not print this machine's library path
PYTHONPATH=bindings/python W3SOCK_LIBRARY="$ROOT/build/libw3sock.so" \
  build/venv-docs/bin/pdoc -o "$OUT/python" w3sock w3sock.sync w3sock.streams 2>&1 \
  | grep -v 'matches the \$W3SOCK_LIBRARY environment variable' || true
[ -f "$OUT/python/w3sock.html" ] || { echo "docs: pdoc wrote nothing" >&2; exit 1; }

echo "== Node: typedoc"
build/docs-tools/node_modules/.bin/typedoc --options packaging/docs/typedoc.json \
  --name "w3sock $VERSION for Node" --out "$OUT/node"

cat > "$OUT/index.html" <<HTML
<!doctype html><html><head><meta charset="utf-8"><title>w3sock $VERSION API reference</title></head>
<body><h1>w3sock $VERSION API reference</h1><ul>
<li><a href="c/index.html">C</a>: include/w3sock.h</li>
<li><a href="python/w3sock.html">Python</a>: the w3sock package (asyncio), <a href="python/w3sock/sync.html">w3sock.sync</a> (blocking)</li>
<li><a href="node/index.html">Node</a>: the w3sock npm package (index.d.ts)</li>
</ul></body></html>
HTML
echo "== links"
python3 packaging/docs/check_links.py "$OUT"
echo "docs: $OUT/index.html"
