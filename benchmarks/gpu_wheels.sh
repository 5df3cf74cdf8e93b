#!/usr/bin/env bash
# The wheels a lent GPU machine lacks for `python -m benchmarks.gpu_check`.
#
# Its image has python3 3.12 with torch (CUDA), numpy, pandas, scikit-learn, scipy, pyyaml,
# matplotlib, onnx and onnxruntime, but not pydantic, and it cannot reach a package index.
# Run this here (it can), then carry the folder:
#
#   bash benchmarks/gpu_wheels.sh                  # -> .wheels/ (git-ignored)
#   device run, carry [".wheels"]:
#     python3 -m pip install -q --no-index --find-links .wheels pydantic &&
#     python3 -m benchmarks.gpu_check --out "$OUT" --runs-dir /tmp/gpu-runs
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(python -c 'import pydantic; print(pydantic.VERSION)')
rm -rf .wheels
python -m pip download -q --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux2014_x86_64 -d .wheels "pydantic==$version"
ls .wheels
