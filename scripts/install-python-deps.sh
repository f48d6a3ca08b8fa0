#!/usr/bin/env bash
# Installs (pip, into the python3 on the PATH) what the Python package sptrain and its tests need
# (onnx and onnxruntime only for the tests of the ONNX export), and Debian's PyTorch (python3-torch,
# CPU) with pytest for the system python3, which runs the sptrain.torch tests (scripts/test-python.sh),
# and Debian's mypy (python3-mypy), with which tests/python/test_stubs.py type-checks the package.
set -euo pipefail
"$(dirname "$0")/install-deps.sh" python3-torch python3-pytest python3-mypy
py=${PYTHON:-python3}
# nanobind 3.1: tests/python/test_stubs.py compares _core.pyi with this version's stub generator,
# whose formatting of types other versions may change (the extension itself builds with >= 2.0).
"$py" -m pip install --quiet --disable-pip-version-check "nanobind>=3.1,<3.2" "scikit-build-core>=0.10" numpy pandas pytest \
  onnx onnxruntime  # tests/python/test_onnx.py: the exported models checked and run
