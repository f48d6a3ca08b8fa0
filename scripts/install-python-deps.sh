#!/usr/bin/env bash
# Installs (pip, into the python3 on the PATH) what the Python package sptrain and its tests need.
set -euo pipefail
py=${PYTHON:-python3}
"$py" -m pip install --quiet --disable-pip-version-check "nanobind>=2.0" "scikit-build-core>=0.10" numpy pandas pytest
