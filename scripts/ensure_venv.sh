#!/usr/bin/env bash
# Create or update a virtual environment from a pinned lock file, once per lock content.
#   scripts/ensure_venv.sh VENV_DIR LOCK_FILE
# PIP_EXTRA_ARGS adds flags to the install (the Rasa lock needs --ignore-requires-python).
# The environment is rebuilt only when the sha256 of the lock file (and of the flags) differs
# from the stamp written after the last successful install (VENV_DIR/.lock-sha256).
set -euo pipefail
venv=$1
lock=$2
python=${PYTHON:-python3.11}
want=$( (cat "$lock"; echo "${PIP_EXTRA_ARGS:-}") | sha256sum | cut -d' ' -f1)
stamp="$venv/.lock-sha256"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$venv/bin/python" ]; then
  exit 0
fi
echo ">> building $venv from $lock (a few minutes on a fresh machine)"
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
# A fully pinned lock: never let the resolver choose anything (--no-deps).
# shellcheck disable=SC2086
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --prefer-binary \
  ${PIP_EXTRA_ARGS:-} -r "$lock" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
echo "$want" > "$stamp"
echo ">> $venv ready"
