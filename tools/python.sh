#!/usr/bin/env bash
# Prints the path of a Python 3.8-3.10 interpreter (what allennlp 2.10 supports), or explains
# how to get one and fails. Order: $PYTHON, pythonX.Y and python3 on PATH, pyenv's versions.
set -u
fits() { "$1" -c 'import sys; sys.exit(not ((3, 8) <= sys.version_info[:2] <= (3, 10)))' >/dev/null 2>&1; }
candidates=()
[[ -n ${PYTHON:-} ]] && candidates+=("$PYTHON")
candidates+=(python3.10 python3.9 python3.8 python3)
root=${PYENV_ROOT:-$HOME/.pyenv}
for v in 3.10 3.9 3.8; do
  for dir in $(ls -d "$root"/versions/"$v".* 2>/dev/null | sort -rV); do candidates+=("$dir/bin/python"); done
done
for c in "${candidates[@]}"; do
  if fits "$c"; then command -v "$c" 2>/dev/null || echo "$c"; exit 0; fi
done
cat >&2 <<'MSG'
No Python 3.8, 3.9 or 3.10 found (allennlp 2.10.1 needs one: torch 1.12 has no wheels for 3.11+).
Install one, then run the command again, for example:
  pyenv install 3.10            (https://github.com/pyenv/pyenv), or
  apt-get install python3.10 python3.10-venv   (where your distribution has it), or
  conda create -n stlr python=3.10
or point to one you have:  PYTHON=/path/to/python3.10 make ...
MSG
exit 1
