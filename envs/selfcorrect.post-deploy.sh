#!/usr/bin/env bash
# Snakemake runs this once, in the new environment, from the working directory (the clone).
set -euo pipefail
grep -qs '^name = "selfcorrect"' pyproject.toml \
  || { echo "selfcorrect env: run snakemake from the selfcorrect clone (no pyproject.toml in $PWD)" >&2; exit 1; }
# these rules need no GPU: the CPU build of torch is a tenth of the CUDA one's size
python -m pip install --quiet torch --index-url https://download.pytorch.org/whl/cpu
python -m pip install --quiet -e .
