#!/usr/bin/env bash
# The web UI of a running `avad serve` in real headless Chromium (Debian `chromium`, driven by Playwright from PyPI):
# crates/avad-serve/tests/browser/ui_test.py signs in, uploads CLIP, waits for the report, checks the timeline and
# seeking, and that an HTML-looking file name is shown as text; it saves screenshots into SCREENSHOT_DIR.
# The test crates/avad-cli/tests/serve_ui.rs starts a server and runs this script.
#
#   scripts/serve_ui_browser.sh http://127.0.0.1:8080 "$SUBMIT_TOKEN" fixtures/media/CLIP target/serve-ui/screenshots
#
# Needs python3 with venv and /usr/bin/chromium (Debian: python3, python3-venv, chromium; AVAD_CHROMIUM to use
# another binary). Playwright is installed on first use into a virtual environment under target/ (AVAD_SERVE_VENV);
# it drives the system Chromium, so no browser is downloaded.
set -euo pipefail
cd "$(dirname "$0")/.."
usage="usage: scripts/serve_ui_browser.sh URL TOKEN CLIP SCREENSHOT_DIR"
url=${1:?$usage}; token=${2:?$usage}; clip=${3:?$usage}; shots=${4:?$usage}
chromium=${AVAD_CHROMIUM:-/usr/bin/chromium}
[ -x "$chromium" ] || { echo "serve_ui_browser: $chromium is missing: apt-get install chromium" >&2; exit 2; }
venv=${AVAD_SERVE_VENV:-target/serve-venv}
version=1.65.2
if ! "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('playwright') != '$version')" 2>/dev/null; then
  command -v python3 >/dev/null || { echo "serve_ui_browser: python3 is missing: apt-get install python3 python3-venv" >&2; exit 2; }
  python3 -m venv "$venv" || { echo "serve_ui_browser: cannot create a venv: apt-get install python3-venv" >&2; exit 2; }
  "$venv/bin/pip" install -q --disable-pip-version-check "playwright==$version"
fi
start=$(date +%s)
AVAD_CHROMIUM="$chromium" "$venv/bin/python" crates/avad-serve/tests/browser/ui_test.py "$url" "$token" "$clip" "$shots"
echo "serve_ui_browser: passed in $(( $(date +%s) - start )) s"
