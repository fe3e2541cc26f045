#!/usr/bin/env bash
# The whole test suite: system packages (when root), build, then vitest — unit tests and
# integration tests on real loop devices (as root). Ends with a plain "N passed, N failed"
# line, the one summary every CI reader understands.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh
npm run --silent build
npm run --silent typecheck
report="$(mktemp /tmp/clonestation-vitest.XXXXXX.json)"
trap 'rm -f "$report"' EXIT
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@" || status=$?
node -e '
const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
const skipped = r.numPendingTests + r.numTodoTests;
console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
' "$report" || echo "0 passed, 1 failed"
exit $status
