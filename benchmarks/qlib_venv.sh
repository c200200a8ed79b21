#!/usr/bin/env bash
# Creates benchmarks/.qlib-venv with pyqlib 0.9.7 (the baseline for side-by-side benchmarks).
# pyqlib is not a dependency of seqalpha; it lives only in this separate venv.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.qlib-venv"
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import qlib" 2>/dev/null; then
  echo "$venv/bin/python"; exit 0
fi
python3 -m venv "$venv"
"$venv/bin/pip" install -q torch==2.13.0 >&2
"$venv/bin/pip" install -q pyqlib==0.9.7 lightgbm >&2
echo "$venv/bin/python"
