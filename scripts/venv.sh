# Sourced by scripts/demo and scripts/test: create or reuse ./.venv and install medscribe
# with the extras given in $MEDSCRIBE_EXTRAS, re-installing only when pyproject.toml changed.
# Needs only Python 3.11+ on PATH (python3.11, else python3).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1
py=${PYTHON:-}
if [ -z "$py" ]; then
  for candidate in python3.11 python3.12 python3.13 python3; do
    if command -v "$candidate" >/dev/null; then py=$candidate; break; fi
  done
fi
[ -n "$py" ] || { echo "medscribe: Python 3.11 or newer is needed (none found on PATH)" >&2; exit 1; }
"$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "medscribe: $py is older than Python 3.11" >&2; exit 1; }
[ -x .venv/bin/python ] || "$py" -m venv .venv
# shellcheck disable=SC1091
source .venv/bin/activate
# MEDSCRIBE_EXTRAS must install; MEDSCRIBE_OPTIONAL_EXTRAS are tried (e.g. `mic` needs PortAudio).
stamp=".venv/.medscribe-installed"
hash=$(sha256sum pyproject.toml | cut -d' ' -f1)
{ read -r had_hash had_extras < "$stamp"; } 2>/dev/null || { had_hash=; had_extras=; }
need_install=0
[ "$had_hash" = "$hash" ] || { need_install=1; had_extras=; }
for extra in ${MEDSCRIBE_EXTRAS//,/ }; do
  case ",$had_extras," in *",$extra,"*) ;; *) need_install=1 ;; esac
done
if [ $need_install = 1 ]; then
  echo "medscribe: installing into .venv (once; again only when pyproject.toml changes) ..." >&2
  python -m pip install -q --upgrade pip
  extras=${MEDSCRIBE_EXTRAS:-}
  python -m pip install -q -e ".${extras:+[$extras]}"
  for extra in ${MEDSCRIBE_OPTIONAL_EXTRAS//,/ }; do
    if python -m pip install -q -e ".[$extra]"; then
      extras="${extras:+$extras,}$extra"
    else
      echo "medscribe: the optional '$extra' extra did not install; what needs it will skip" >&2
    fi
  done
  echo "$hash $extras" > "$stamp"
fi
