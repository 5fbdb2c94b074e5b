"""``benchmark-table`` directive: a table from a benchmarks/results/*.json file, so the docs
show the saved numbers without copying them. CPU files are rendered by benchmarks/run.py's
own ``markdown``; GPU files (bench_gpu.py, which needs torch) by ``gpu_markdown`` here."""

import json
import sys
from pathlib import Path
from types import SimpleNamespace

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective


def cpu_markdown(data) -> str:
    bench = Path(__file__).resolve().parents[2] / "benchmarks"
    sys.path.insert(0, str(bench))
    try:
        import run
    finally:
        sys.path.remove(str(bench))
    return run.markdown([SimpleNamespace(**r) for r in data["rows"]], data["machine"])


def gpu_markdown(data) -> str:
    lines = [f"GPU: {data['gpu']}; each cell: per call / in-graph (ms)", "",
             "| case | ours (ms) | torch (ms) | speed-up | note |", "|---|---:|---:|---:|---|"]
    for r in data["rows"]:
        pair = lambda v, f: " / ".join(f.format(x) for x in v)  # noqa: E731
        lines.append(f"| {r['case']} | {pair(r['ours_ms'], '{:.3f}')} | "
                     f"{pair(r['torch_ms'], '{:.3f}')} | {pair(r['ratio'], '{:.2f}x')} | "
                     f"{r.get('note', '')} |")
    return "\n".join(lines)


class BenchmarkTable(SphinxDirective):
    required_arguments = 1

    def run(self):
        rel, path = self.env.relfn2path(self.arguments[0])
        self.env.note_dependency(rel)
        data = json.loads(Path(path).read_text())
        text = cpu_markdown(data) if "machine" in data else gpu_markdown(data)
        box = nodes.container()
        self.state.nested_parse(StringList(text.splitlines(), source=path), self.content_offset, box)
        return box.children


def setup(app):
    app.add_directive("benchmark-table", BenchmarkTable)
    return {"parallel_read_safe": True}
