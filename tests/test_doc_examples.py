"""Every ```python block of README.md and docs/**/*.md runs as written: a file's blocks in
order, in one namespace. A block that cannot run here says so on the line above it with
<!-- skip-example: REASON --> (e.g. needs a GPU); it is still compiled, and counted."""

import re
from pathlib import Path

import mlx.core as mx
import pytest

ROOT = Path(__file__).resolve().parents[1]
FILES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
BLOCK = re.compile(r"^(?:<!-- skip-example: (?P<skip>[^>]+?) -->\n)?```python\n(?P<code>.*?)^```$",
                   re.M | re.S)
MAX_SKIPPED = 2  # a skipped example is untested: keep them rare


def examples(path: Path):
    """(line, code, skip reason or None) of each python block."""
    text = path.read_text()
    return [(text.count("\n", 0, m.start("code")) + 1, m["code"], m["skip"])
            for m in BLOCK.finditer(text)]


WITH_EXAMPLES = [f for f in FILES if examples(f)]
# a page whose examples train a model on a real graph takes minutes on the Metal emulator
RUNS = [pytest.param(f, marks=pytest.mark.large) if "train_node_classifier(" in f.read_text()
        else f for f in WITH_EXAMPLES]


def test_examples_are_found_and_few_skipped():
    assert ROOT / "README.md" in WITH_EXAMPLES and len(WITH_EXAMPLES) >= 6
    fences = sum(f.read_text().count("```python\n") for f in FILES)
    found = [e for f in FILES for e in examples(f)]
    assert len(found) == fences  # no block escapes the pattern
    skipped = [reason for _, _, reason in found if reason]
    assert len(skipped) <= MAX_SKIPPED, skipped


@pytest.mark.parametrize("path", RUNS, ids=lambda p: str(p.relative_to(ROOT)))
@pytest.mark.filterwarnings(r"ignore:\[use_gpu\] MLX has no GPU")  # devices.md, on a CPU machine
def test_examples_run(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an example that writes a file writes it here
    device = mx.default_device()
    namespace = {"__name__": "__doc_example__"}
    try:
        for line, code, skip in examples(path):
            compiled = compile("\n" * (line - 1) + code, str(path), "exec")  # tracebacks name the line
            if not skip:
                exec(compiled, namespace)
    finally:
        mx.set_default_device(device)  # devices.md switches devices
