"""Runs tests/fuzz_ops.py (hypothesis over construction and every op, then failing
evaluations in a loop with a CPU load beside them) in a subprocess with a timeout: a crash
or a hang fails this test instead of taking the suite down. MLX_SPARSE_FUZZ_EXAMPLES sets
the number of examples (CI: the default)."""

import os
import pathlib
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent


def test_fuzz_in_a_subprocess():
    examples = os.environ.get("MLX_SPARSE_FUZZ_EXAMPLES", "150")
    cmd = [sys.executable, str(HERE / "fuzz_ops.py"), "--examples", examples, "--failing-loops", "500"]
    try:
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"fuzzing hung (no result in {e.timeout} s):\n{e.stdout}\n{e.stderr}") from None
    assert run.returncode == 0, f"fuzzing failed (exit {run.returncode}):\n{run.stdout}\n{run.stderr[-6000:]}"
    assert "failing_loops: 500 rounds passed" in run.stdout
