#!/usr/bin/env bash
# Run `ansible-test sanity` on this collection with nothing fetched but PyPI packages.
#
# Usage (from anywhere; `make sanity` calls it from the repo root):
#   bash tests/sanity/run.sh [extra ansible-test sanity options, e.g. --test pep8 -v]
#
# Environment:
#   SANITY_MODE     local (default) or venv: where ansible-test runs its controller.
#                   local uses the project's .venv (about 15 s once cached); venv builds a
#                   throw-away controller venv each run (about 35 s). Results are the same:
#                   in both modes each test with requirements runs in its own cached venv.
#   SANITY_PYTHON   Python version to test (default 3.11).
#   SANITY_ROOT     build dir for the copy (default tests/output/sanity-root in the checkout).
#
# What it does, and why:
# 1. ansible-test refuses a collection that is not at a real
#    .../ansible_collections/<namespace>/<name> path (symlinks are resolved), so the working
#    tree is copied, afresh every run, to $SANITY_ROOT/ansible_collections/pourtrait/ops.
#    Copied: what git counts as the tree (tracked files still present, plus untracked files
#    that .gitignore does not exclude, so .venv, .collections, .sandbox, tests/output stay out).
#    The copy gets an empty git repo of its own: ansible-test lists files with
#    `git ls-files --cached --others --exclude-standard` from the nearest .git upwards, and
#    would otherwise use the checkout's repo, which ignores tests/output/ and so the copy.
# 2. ansible-test bootstraps pip in every venv it creates with a get-pip script downloaded
#    from a host outside PyPI, which is not reachable; it first looks for
#    ~/.ansible/test/cache/get_pip_<version>.py. We write a stand-in there that bootstraps pip
#    with the interpreter's bundled ensurepip, then pip-installs the pinned pip from PyPI.
# 3. Test requirements (pylint, pycodestyle, voluptuous, yamllint, antsibull-*, ...) are
#    installed by ansible-test from PyPI into venvs under ~/.ansible/test/venv, keyed by a hash
#    of the requirements, and reused by later runs: only the first run on a machine pays
#    (about 2 min cold, 15 s warm on 2 cores).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SANITY_MODE="${SANITY_MODE:-local}"
SANITY_PYTHON="${SANITY_PYTHON:-3.11}"
SANITY_ROOT="${SANITY_ROOT:-$REPO/tests/output/sanity-root}"
COLLECTION_DIR="$SANITY_ROOT/ansible_collections/pourtrait/ops"

log() { printf '== sanity: %s\n' "$*"; }
die() { printf 'tests/sanity/run.sh: %s\n' "$*" >&2; exit 2; }

# Prefer the project's venv (make already puts it first on PATH; this covers direct calls).
if [ -x "$REPO/.venv/bin/ansible-test" ]; then
  PATH="$REPO/.venv/bin:$PATH"
  export PATH
fi
ANSIBLE_TEST="$(command -v ansible-test || true)"
[ -n "$ANSIBLE_TEST" ] || die "ansible-test not found (run 'make setup' first)"
PY="$(dirname "$ANSIBLE_TEST")/python"
[ -x "$PY" ] || PY="$(command -v python3)"

case "$SANITY_MODE" in
  local) mode_opt=(--local) ;;
  venv) mode_opt=(--venv) ;;
  *) die "SANITY_MODE must be local or venv, not '$SANITY_MODE'" ;;
esac

# --- 1. fresh copy of the working tree ------------------------------------------------------
case "$SANITY_ROOT" in
  / | "$REPO" | "$HOME" | "") die "refusing to use '$SANITY_ROOT' as the build dir" ;;
esac
# One run at a time per build dir (and per ~/.ansible/test venv cache): a second `make sanity`
# started meanwhile would delete the tree under the first one's feet. It waits instead.
mkdir -p "$(dirname "$SANITY_ROOT")"
if command -v flock >/dev/null; then
  exec 9>"$SANITY_ROOT.lock"
  if ! flock -n 9; then
    log "another sanity run holds $SANITY_ROOT.lock; waiting for it"
    flock 9
  fi
fi
log "copying $REPO -> $COLLECTION_DIR"
rm -rf "$SANITY_ROOT"
mkdir -p "$COLLECTION_DIR"
if git -C "$REPO" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  (
    cd "$REPO"
    git ls-files -z --cached --others --exclude-standard |
      while IFS= read -r -d '' f; do
        # skip tracked files deleted in the working tree, and playbooks/collections (a link to the
        # checkout itself, left out of the built collection too: galaxy.yml build_ignore)
        case "$f" in playbooks/collections/*) continue ;; esac
        if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
      done |
      tar --null --no-recursion -T - -cf - | tar -xf - -C "$COLLECTION_DIR"
  )
else
  (
    cd "$REPO"
    tar --exclude=./.git --exclude=./.venv --exclude=./.collections --exclude=./.sandbox \
        --exclude=./playbooks/collections \
        --exclude=./tests/output --exclude=./.pytest_cache --exclude=./reports --exclude=./backups \
        --exclude=__pycache__ --exclude='*.pyc' -cf - . | tar -xf - -C "$COLLECTION_DIR"
  )
fi
if command -v git >/dev/null; then
  git -C "$COLLECTION_DIR" init -q
fi
log "copied $(find "$COLLECTION_DIR" -path "$COLLECTION_DIR/.git" -prune -o -type f -print | wc -l) files"

# --- 2. offline stand-in for the get-pip bootstrap script -----------------------------------
# The cache file is named after the pip version ansible-test pins in get_venv_packages().
PIP_VERSION="$("$PY" - <<'EOF'
import inspect
import re

from ansible_test._internal import python_requirements

found = re.search(r"pip=['\"]([0-9.]+)['\"]", inspect.getsource(python_requirements.get_venv_packages))
print(found.group(1) if found else '')
EOF
)" || true
[ -n "$PIP_VERSION" ] || die "could not find the pip version ansible-test pins (ansible-test changed?)"
GET_PIP="$HOME/.ansible/test/cache/get_pip_${PIP_VERSION//./_}.py"
mkdir -p "$(dirname "$GET_PIP")"
cat >"$GET_PIP.tmp" <<'EOF'
"""Stand-in for get-pip.py, written by pourtrait.ops tests/sanity/run.sh.

ansible-test runs it as `python get_pip_X.py [pip options] pip==X [--no-setuptools] [--no-wheel]`
inside a venv created without pip. Bootstrap pip from the interpreter's bundled wheel
(ensurepip, no network), then install the requested packages from the package index.
"""
import subprocess
import sys

args = [a for a in sys.argv[1:] if a not in ('--no-setuptools', '--no-wheel')]
subprocess.check_call([sys.executable, '-m', 'ensurepip', '--upgrade', '--default-pip'],
                      stdout=subprocess.DEVNULL)
if [a for a in args if not a.startswith('-')]:
    if subprocess.call([sys.executable, '-m', 'pip', 'install', '--quiet'] + args) != 0:
        sys.stderr.write('get-pip stand-in: pip install %s failed; keeping the bundled pip\n' % ' '.join(args))
EOF
if cmp -s "$GET_PIP.tmp" "$GET_PIP"; then
  rm -f "$GET_PIP.tmp"
else
  mv "$GET_PIP.tmp" "$GET_PIP"
  log "wrote get-pip stand-in $GET_PIP"
fi

# --- 3. run ansible-test ---------------------------------------------------------------------
cmd=("$ANSIBLE_TEST" sanity "${mode_opt[@]}" --python "$SANITY_PYTHON" --color no "$@")
log "cd $COLLECTION_DIR && ${cmd[*]}"
start=$SECONDS
rc=0
(cd "$COLLECTION_DIR" && "${cmd[@]}") || rc=$?
if [ "$rc" = 0 ]; then
  log "passed in $((SECONDS - start)) s"
else
  log "FAILED (ansible-test exit $rc) after $((SECONDS - start)) s"
fi
exit "$rc"
