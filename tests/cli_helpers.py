"""Helpers for tests that drive the installed CLI, and the location of the real data in ../shared."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """../shared/data beside the checkout, or BENCH_SHARED_DATA."""
    override = os.environ.get("BENCH_SHARED_DATA")
    return Path(override) if override else REPO_ROOT.parent / "shared" / "data"


def bench_executable() -> str:
    """The `bench` console script installed beside the running interpreter."""
    candidate = Path(sys.executable).parent / "bench"
    if not candidate.exists():
        pytest.fail(f"the bench console script is not installed beside {sys.executable}: run `pip install -e .`")
    return str(candidate)


def run_bench(*args: str, cwd: Path | None = None, timeout_s: float = 120, check: bool = False) -> subprocess.CompletedProcess:
    """Run the installed CLI as a user would and capture what it prints."""
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    result = subprocess.run(
        [bench_executable(), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout_s
    )
    if check and result.returncode != 0:
        raise AssertionError(f"bench {' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result
