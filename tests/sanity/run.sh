#!/usr/bin/env bash
# Run `ansible-test sanity` on this collection, offline except for PyPI.
#
# Usage (from anywhere; `make sanity` calls it from the repo root):
#   bash tests/sanity/run.sh [extra ansible-test sanity options, e.g. --test pep8]
#
# Environment:
#   SANITY_MODE     venv (default) or local: how ansible-test runs its controller.
#   SANITY_PYTHON   Python version to test (default 3.11).
#   SANITY_ROOT     build dir for the copy (default tests/output/sanity-root under the repo).
#
# What it does, and why:
# 1. ansible-test refuses a collection that is not at a real
#    .../ansible_collections/<namespace>/<name> path (symlinks are resolved), so the
#    checkout is copied, fresh every run, into $SANITY_ROOT/ansible_collections/pourtrait/ops.
#    Only the files git would consider part of the tree are copied (tracked and untracked,
#    minus .gitignore'd ones such as .venv, .collections, .sandbox), and without .git, so
#    ansible-test sees exactly the working tree, including files not yet committed.
# 2. ansible-test bootstraps pip in each virtual environment it creates with a get-pip
#    script downloaded from a host this machine cannot reach. It first looks in
#    ~/.ansible/test/cache/get_pip_<version>.py; we put a stand-in there that uses the
#    interpreter's bundled ensurepip and then pip-installs the requested pip from PyPI.
# 3. The per-test requirement venvs (pylint, pycodestyle, voluptuous, ...) are created by
#    ansible-test under ~/.ansible/test/venv and reused by later runs (keyed by a hash
#    of their requirements), so only the first run on a machine pays for the installs.
# 4. Results (JUnit/JSON) are copied back to tests/output/sanity/ in the checkout.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SANITY_MODE="${SANITY_MODE:-venv}"
SANITY_PYTHON="${SANITY_PYTHON:-3.11}"
SANITY_ROOT="${SANITY_ROOT:-$REPO/tests/output/sanity-root}"
COLLECTION_DIR="$SANITY_ROOT/ansible_collections/pourtrait/ops"
RESULTS_DIR="$REPO/tests/output/sanity"

# Prefer the project's venv (make puts it first on PATH already; this covers direct calls).
if [ -x "$REPO/.venv/bin/ansible-test" ]; then
  PATH="$REPO/.venv/bin:$PATH"
  export PATH
fi
ANSIBLE_TEST="$(command -v ansible-test || true)"
if [ -z "$ANSIBLE_TEST" ]; then
  echo "run.sh: ansible-test not found (run 'make setup' first)" >&2
  exit 2
fi
PY="$(dirname "$ANSIBLE_TEST")/python"
[ -x "$PY" ] || PY="$(command -v python3)"

log() { printf '== sanity: %s\n' "$*"; }

# --- 1. fresh copy of the working tree ------------------------------------------------
log "copying $REPO -> $COLLECTION_DIR"
case "$COLLECTION_DIR" in
  */ansible_collections/pourtrait/ops) ;;
  *) echo "run.sh: refusing odd build dir $COLLECTION_DIR" >&2; exit 2 ;;
esac
case "$SANITY_ROOT" in
  /|"$REPO"|"$HOME") echo "run.sh: refusing to clean $SANITY_ROOT" >&2; exit 2 ;;
esac
rm -rf "$SANITY_ROOT"
mkdir -p "$COLLECTION_DIR"
(
  cd "$REPO"
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # tracked + untracked-not-ignored; drop tracked files deleted in the working tree
    git ls-files -z --cached --others --exclude-standard \
      | while IFS= read -r -d '' f; do
          if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
        done \
      | tar --null --no-recursion -T - -cf - \
      | tar -xf - -C "$COLLECTION_DIR"
  else
    tar --exclude=./.venv --exclude=./.collections --exclude=./.sandbox --exclude=./.git \
        --exclude=./tests/output --exclude=./.pytest_cache --exclude='__pycache__' \
        --exclude='*.pyc' -cf - . | tar -xf - -C "$COLLECTION_DIR"
  fi
)
log "copied $(find "$COLLECTION_DIR" -type f | wc -l) files"

# --- 2. offline stand-in for the get-pip bootstrap script ------------------------------
# The cache file name follows the pip version ansible-test pins (get_venv_packages()).
PIP_VERSION="$("$PY" - <<'EOF'
import re, ansible_test._internal.python_requirements as m, inspect
src = inspect.getsource(m.get_venv_packages)
found = re.search(r"pip=['\"]([0-9.]+)['\"]", src)
print(found.group(1) if found else '')
EOF
)"
if [ -z "$PIP_VERSION" ]; then
  echo "run.sh: could not find the pip version ansible-test pins" >&2
  exit 2
fi
GET_PIP="$HOME/.ansible/test/cache/get_pip_${PIP_VERSION//./_}.py"
mkdir -p "$(dirname "$GET_PIP")"
cat > "$GET_PIP.tmp" <<'EOF'
"""Stand-in for get-pip.py written by tests/sanity/run.sh (pourtrait.ops).

ansible-test runs it as `python get_pip_X.py [pip options] pip==X [--no-setuptools] [--no-wheel]`
in a venv created without pip. Bootstrap pip from the interpreter's bundled wheel (ensurepip),
then install the requested packages from the package index.
"""
import subprocess
import sys

args = [a for a in sys.argv[1:] if a not in ('--no-setuptools', '--no-wheel')]
subprocess.check_call([sys.executable, '-m', 'ensurepip', '--upgrade', '--default-pip'],
                      stdout=subprocess.DEVNULL)
packages = [a for a in args if not a.startswith('-')]
if packages:
    cmd = [sys.executable, '-m', 'pip', 'install', '--quiet'] + args
    if subprocess.call(cmd) != 0:
        sys.stderr.write('get-pip stand-in: %s failed; keeping the bundled pip\n' % ' '.join(packages))
EOF
if ! cmp -s "$GET_PIP.tmp" "$GET_PIP" 2>/dev/null; then
  mv "$GET_PIP.tmp" "$GET_PIP"
  log "wrote get-pip stand-in $GET_PIP"
else
  rm -f "$GET_PIP.tmp"
fi

# --- 3. run ansible-test -----------------------------------------------------------------
case "$SANITY_MODE" in
  venv) mode_opt=(--venv) ;;
  local) mode_opt=(--local) ;;
  *) echo "run.sh: SANITY_MODE must be venv or local" >&2; exit 2 ;;
esac
cmd=("$ANSIBLE_TEST" sanity "${mode_opt[@]}" --python "$SANITY_PYTHON" --color no "$@")
log "cd $COLLECTION_DIR && ${cmd[*]}"
start=$SECONDS
rc=0
(cd "$COLLECTION_DIR" && "${cmd[@]}") || rc=$?
log "ansible-test exited $rc after $((SECONDS - start)) s"

# --- 4. keep the results ----------------------------------------------------------------
rm -rf "$RESULTS_DIR"
if [ -d "$COLLECTION_DIR/tests/output" ]; then
  mkdir -p "$RESULTS_DIR"
  cp -r "$COLLECTION_DIR/tests/output/." "$RESULTS_DIR/"
fi
exit "$rc"
