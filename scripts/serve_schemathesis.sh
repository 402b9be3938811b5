#!/usr/bin/env bash
# schemathesis (PyPI) against a running `avad serve`: generates requests from the server's own /openapi.json and
# fails on any 5xx answer or any answer that contradicts the document (status codes, content types, bodies,
# headers; `--checks all`). The test crates/avad-cli/tests/serve_schemathesis.rs starts a server and runs this script.
#
#   scripts/serve_schemathesis.sh http://127.0.0.1:8080 "$SUBMIT_TOKEN" [more schemathesis options]
#
# Needs python3 with venv (Debian: python3, python3-venv) and PyPI: schemathesis is installed on first use into a
# virtual environment under target/ (AVAD_SERVE_VENV to change it). Examples per operation: AVAD_SCHEMATHESIS_EXAMPLES
# (20).
set -euo pipefail
cd "$(dirname "$0")/.."
url=${1:?usage: scripts/serve_schemathesis.sh URL TOKEN [schemathesis options]}
token=${2:?usage: scripts/serve_schemathesis.sh URL TOKEN [schemathesis options]}
shift 2
venv=${AVAD_SERVE_VENV:-target/serve-venv}
version=4.32.5
if ! "$venv/bin/python" -c "import schemathesis, sys; sys.exit(schemathesis.__version__ != '$version')" 2>/dev/null; then
  command -v python3 >/dev/null || { echo "serve_schemathesis: python3 is missing: apt-get install python3 python3-venv" >&2; exit 2; }
  python3 -m venv "$venv" || { echo "serve_schemathesis: cannot create a venv: apt-get install python3-venv" >&2; exit 2; }
  "$venv/bin/pip" install -q --disable-pip-version-check "schemathesis==$version"
fi
# The document itself needs a token: fetch it first, then test the server it describes.
schema=$(mktemp --suffix=.json)
trap 'rm -f "$schema"' EXIT
"$venv/bin/python" - "$url/openapi.json" "$token" "$schema" <<'PY'
import sys, urllib.request
req = urllib.request.Request(sys.argv[1], headers={"Authorization": "Bearer " + sys.argv[2]})
with urllib.request.urlopen(req, timeout=30) as r, open(sys.argv[3], "wb") as f:
    f.write(r.read())
PY
start=$(date +%s)
# Run in a scratch folder: schemathesis and Hypothesis keep caches (.schemathesis/, .hypothesis/) in the working
# folder.
venv=$(cd "$venv" && pwd)
work=$(mktemp -d)
trap 'rm -f "$schema"; rm -rf "$work"' EXIT
cd "$work"
"$venv/bin/schemathesis" --no-color run "$schema" --url "$url" \
  --header "Authorization: Bearer $token" \
  --checks all \
  --max-examples "${AVAD_SCHEMATHESIS_EXAMPLES:-20}" \
  --seed 1 \
  --generation-database none \
  "$@"
echo "serve_schemathesis: passed in $(( $(date +%s) - start )) s"
