#!/usr/bin/env bash
# Rebuild the vendored front-end files from the pinned versions in package.json.
# Needs node/npm and the npm registry; the results are committed, so pages never need either.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --silent 2>/dev/null || npm install --no-audit --no-fund --silent
esbuild=node_modules/.bin/esbuild
"$esbuild" src/codemirror.js --bundle --format=esm --minify --legal-comments=eof --outfile=codemirror.js
"$esbuild" src/yaml.js --bundle --format=esm --minify --legal-comments=eof --outfile=yaml.js
"$esbuild" src/dagre.js --bundle --format=esm --minify --legal-comments=eof --outfile=dagre.js
cp node_modules/sortablejs/modular/sortable.esm.js sortable.esm.js
cp node_modules/axe-core/axe.min.js axe.min.js
for lic in sortablejs codemirror yaml axe-core; do
  cp "node_modules/$lic/LICENSE"* "LICENSE.$lic" 2>/dev/null || true
done
cp node_modules/@dagrejs/dagre/LICENSE LICENSE.dagre
cp node_modules/@dagrejs/graphlib/LICENSE LICENSE.graphlib
echo "vendored: $(ls *.js | tr '\n' ' ')"
