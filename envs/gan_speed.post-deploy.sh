#!/usr/bin/env bash
# Snakemake runs this once, inside the new environment, after creating it
# (--software-deployment-method conda), from the workflow's working directory: the
# repository root. conda-forge provides every dependency, so hepdl is installed without
# pip's (which would add pythia8mc and xgboost-cpu from PyPI beside conda's builds), and
# editable, so the environment follows the checkout.
set -euo pipefail
python -m pip install --no-deps --no-build-isolation --editable "${HEPDL_SOURCE:-.}"
