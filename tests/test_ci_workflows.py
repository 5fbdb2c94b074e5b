"""The macOS workflow (.github/workflows/macos.yml) runs the README's own commands on an Apple
silicon runner, so the two cannot drift apart. No GitHub runner is here: this reads files only
(docs/developer/macos_ci.md says what the workflow checks)."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")  # PyYAML comes with the docs extra (myst-parser)

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "macos.yml"
README = (ROOT / "README.md").read_text()

VENV = "python3 -m venv .venv && . .venv/bin/activate"
DEMO = "python -m mlx_sparse"
TESTS = "python -m pytest -q"
GPU_TESTS = "MLX_SPARSE_TEST_DEVICE=gpu python -m pytest -q"
CLT = "/Library/Developer/CommandLineTools"


def readme_mac_install() -> str:
    """The README's install command for a Mac (plain mlx, no [cpu] extra)."""
    m = re.search(r"on a Mac plain `mlx` has\s+everything, `([^`]+)`", README)
    assert m, "README no longer says how to install on a Mac ('on a Mac plain `mlx` has everything, `...`')"
    return m[1]


@pytest.fixture(scope="module")
def job():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads the key `on` as True
    assert set(triggers) >= {"push", "pull_request", "workflow_dispatch"}
    (job,) = workflow["jobs"].values()
    return job


def runs(job):
    """(index, step, lines of its run script, stripped) for each step with a script."""
    return [(i, s, [line.strip() for line in s["run"].splitlines()])
            for i, s in enumerate(job["steps"]) if "run" in s]


def step_running(job, command):
    found = [(i, s) for i, s, lines in runs(job) if command in lines]
    assert found, f"no step of macos.yml runs `{command}` as a line of its own"
    return found[0]


def test_the_commands_are_the_readmes():
    for command in (VENV, DEMO, TESTS, GPU_TESTS, readme_mac_install()):
        assert command in README, command
    assert "python benchmarks/bench_gpu.py" in README and "--json" in README
    assert readme_mac_install() == 'pip install -e ".[test]"'  # the Mac has no [cpu] extra


def test_runner_is_arm64_macos_with_a_timeout(job):
    # GitHub's arm64 macOS labels: macos-14 and later, and their -xlarge; -large and -intel are x86
    assert re.fullmatch(r"macos-(1[4-9]|[2-9]\d)(-xlarge)?", job["runs-on"]), job["runs-on"]
    assert 0 < job["timeout-minutes"] <= 30


def test_python_has_mlx_wheels(job):
    (setup,) = [s for s in job["steps"] if s.get("uses", "").startswith("actions/setup-python@")]
    version = str(setup["with"]["python-version"])
    assert re.fullmatch(r"3\.1[0-4]", version), version  # MLX 0.32.4's macOS wheels: 3.10-3.14
    assert '"mlx==0.32.4"' in (ROOT / "pyproject.toml").read_text()


def test_installs_with_the_command_line_tools_only(job):
    clt = step_running(job, f"sudo xcode-select --switch {CLT}")[0]
    install, step = step_running(job, readme_mac_install())
    assert clt < install, "the Command Line Tools must be selected before the build"
    script = job["steps"][clt]["run"]
    assert "xcrun -f metal" in script and f"DEVELOPER_DIR={CLT}" in script
    assert step.get("id") == "install" and VENV in [line.strip() for line in step["run"].splitlines()]
    installs = [line for _, _, lines in runs(job) for line in lines if "pip install" in line]
    assert installs == [readme_mac_install()], "the workflow installs only what the README says"


def test_runs_demo_metal_compile_gpu_suite_benchmark_cpu_suite(job):
    demo = step_running(job, DEMO)[0]
    compile_all = [i for i, s, _ in runs(job) if "metal_compile_all()" in s["run"]]
    assert compile_all and "def metal_compile_all(" in (ROOT / "mlx_sparse" / "_device.py").read_text()
    gpu = step_running(job, GPU_TESTS)[0]
    cpu = step_running(job, TESTS)[0]
    (bench, step), = [(i, s) for i, s, lines in runs(job)
                      if any(line.startswith("python benchmarks/bench_gpu.py") for line in lines)]
    out = re.search(r"--json (\S+)", step["run"])[1]
    uploads = [i for i, s in enumerate(job["steps"])
               if s.get("uses", "").startswith("actions/upload-artifact@") and s["with"]["path"] == out]
    assert uploads and uploads[0] > bench
    install = step_running(job, readme_mac_install())[0]
    for i in (demo, compile_all[0], gpu, bench, uploads[0], cpu):
        assert i > install and "steps.install.outcome == 'success'" in job["steps"][i]["if"]


def test_scripts_parse(job):
    for _, step, _ in runs(job):
        script = step["run"]
        for code in re.findall(r"<<'PY'\n(.*?)^PY$", script, re.S | re.M):
            compile(code, step["name"], "exec")
        if shutil.which("bash"):
            check = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True)
            assert check.returncode == 0, (step["name"], check.stderr)
