import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# A small two-state spec with displacement features, shared by the tests.
SPEC_TEXT = """
length = 50
dims = 2
[states]
D = [0.25, 2.0]
[switching]
model = "poisson"
rate = 0.05
[features]
kind = "displacements"
"""


@pytest.fixture(scope="session")
def root():
    return ROOT


@pytest.fixture(scope="session")
def cli():
    """The sptrain binary (SPTRAIN_CLI, else build-cpu/bin or build/bin, else PATH)."""
    for c in [os.environ.get("SPTRAIN_CLI"), ROOT / "build-cpu/bin/sptrain", ROOT / "build/bin/sptrain",
              shutil.which("sptrain")]:
        if c and Path(c).is_file():
            return str(c)
    pytest.skip("no sptrain binary (set SPTRAIN_CLI)")
