#!/usr/bin/env bash
# Snakemake runs this once, in the new environment, from the working directory (the clone).
set -euo pipefail
grep -qs '^name = "selfcorrect"' pyproject.toml \
  || { echo "train env: run snakemake from the selfcorrect clone (no pyproject.toml in $PWD)" >&2; exit 1; }
python -m pip install --quiet -e ".[vllm,deepspeed,tracking]"
