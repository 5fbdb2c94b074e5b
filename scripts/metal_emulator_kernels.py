"""Prepare the Metal kernels (metal/*.metal) for the Metal emulator (metal/emu,
docs/developer/metal_emulator.md).

    python metal_emulator_kernels.py METAL_DIR OUT_DIR       # sources and registry TUs
    python metal_emulator_kernels.py --transform IN OUT      # one file, sources only

1. Threadgroup storage. The emulator defines `threadgroup` as nothing, so threadgroup
   pointers (parameters, casts, members) are plain pointers; a storage declaration at kernel
   scope (`threadgroup float prod[N];`) is rewritten here to `static`, one copy that the
   threadgroup's threads share (threadgroups run one after another), which
   ms_emu::threadgroup_storage fills with garbage as each threadgroup starts (as uninitialised
   as on a GPU). Every other use of the word is an error. Each METAL_DIR/*.metal and *.h goes
   to OUT_DIR/src/ (same line numbers).
2. Registry adapters. For every `[[kernel]]` template of metal/<family>.metal, an adapter
   calls it with its buffers from args[i] by `[[buffer(i)]]` and its position attributes from
   ms_emu::ThreadPos; OUT_DIR/kernels_<family>.cpp includes the family with MS_EMU_REGISTRY,
   so that instantiate_kernel (metal/emu/include/mlx/.../defines.h) registers each host name.
   OUT_DIR/families.cpp links every family in. A signature it cannot map is an error.
"""

import re
import sys
from pathlib import Path

WORD = r"[A-Za-z_]\w*"
TYPE = rf"(?:const\s+)?{WORD}(?:::{WORD})*(?:\s*<[^;{{}}()]*?>)?"
STORAGE = re.compile(rf"\bthreadgroup\s+{TYPE}\s+(?P<name>{WORD})\s*(?:\[[^\];]*\]\s*)*;")
POINTER = re.compile(rf"\bthreadgroup\s+{TYPE}\s*(?:const\s*)?[*&]")
ANY = re.compile(r"\bthreadgroup\b")

# Position attributes: ThreadPos member and whether it is a 3-vector.
POSITIONS = {
    "thread_position_in_grid": True, "threads_per_grid": True,
    "thread_position_in_threadgroup": True, "threadgroup_position_in_grid": True,
    "threadgroups_per_grid": True, "threads_per_threadgroup": True,
    "thread_index_in_threadgroup": False, "thread_index_in_simdgroup": False,
    "simdgroup_index_in_threadgroup": False, "simdgroups_per_threadgroup": False,
    "threads_per_simdgroup": False,
}


def fail(where: str, what: str):
    raise SystemExit(f"metal_emulator_kernels: {where}: {what}")


def code_only(text: str) -> str:
    """The text with comments and string literals blanked (same length and lines)."""
    blank = lambda m: re.sub(r"[^\n]", " ", m.group(0))
    return re.sub(r'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"', blank, text, flags=re.S)


def line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def transform(text: str, name: str) -> str:
    """Storage declarations become static; pointers stay; anything else is an error."""
    code = code_only(text)
    out, last = [], 0
    for m in ANY.finditer(code):
        if POINTER.match(code, m.start()):
            continue
        d = STORAGE.match(code, m.start())
        if not d:
            fail(f"{name}:{line_of(code, m.start())}",
                 "`threadgroup` is neither a storage declaration (`threadgroup T name[N];`) "
                 "nor a pointer or reference type")
        out.append(text[last:m.start()] + "static" + text[m.end():d.end()] +
                   f" ms_emu::threadgroup_storage(&{d['name']}, sizeof({d['name']}));")
        last = d.end()
    return "".join(out) + text[last:]


def matching(code: str, open_at: int, opening: str, closing: str) -> int:
    depth = 0
    for i in range(open_at, len(code)):
        depth += code[i] == opening
        depth -= code[i] == closing
        if depth == 0:
            return i
    raise ValueError("unbalanced")


def split_top(text: str) -> list[str]:
    """Splits at commas outside (), <>, [] and [[...]]."""
    parts, depth, start = [], 0, 0
    for i, c in enumerate(text):
        depth += c in "(<["
        depth -= c in ")>]"
        if c == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


PARAM = re.compile(rf"^(?P<type>.+?)\s*\b(?P<name>{WORD})\s*"
                   rf"\[\[\s*(?P<attr>{WORD})\s*(?:\(\s*(?P<index>\d+)\s*\))?\s*\]\]$", re.S)


def argument(param: str, where: str, buffers: dict) -> str:
    """The adapter's expression for one kernel parameter."""
    m = PARAM.match(" ".join(param.split()))
    if not m:
        fail(where, f"parameter without an attribute the emulator knows: {param!r}")
    ptype, attr = m["type"].strip(), m["attr"]
    # the adapters follow kernels_end.h: no address-space words there
    ptype = re.sub(r"\b(?:device|thread|threadgroup)\s*", "", ptype)
    ptype = re.sub(r"\bconstant\b", "const", ptype)
    if attr == "buffer":
        i = int(m["index"])
        if i in buffers:
            fail(where, f"[[buffer({i})]] bound twice")
        buffers[i] = param
        if ptype.endswith("*"):
            return f"static_cast<{ptype}>(args[{i}])"
        if ptype.endswith("&"):
            return f"*static_cast<{ptype[:-1].strip()}*>(args[{i}])"
        fail(where, f"buffer parameter neither pointer nor reference: {param!r}")
    if attr not in POSITIONS:
        fail(where, f"unknown attribute [[{attr}]] on {param!r}")
    vector = POSITIONS[attr]
    if ptype == "uint3" and vector:
        return f"t.{attr}"
    if ptype in ("uint", "ushort"):
        return f"{ptype}(t.{attr}{'.x' if vector else ''})"
    fail(where, f"[[{attr}]] as {ptype!r}: the emulator maps uint3 (vector attributes), "
                "uint and ushort")


KERNEL = re.compile(rf"\[\[\s*kernel\s*\]\]\s*void\s+({WORD})\s*\(")
TEMPLATE = re.compile(r"template\s*<([^<>]*)>\s*$")


def kernels(text: str, name: str):
    """(kernel, template parameter list, template argument names, the call's arguments,
    number of buffers) for each [[kernel]] template."""
    code = code_only(text)
    for m in KERNEL.finditer(code):
        where = f"{name}:{line_of(code, m.start())} ({m[1]})"
        t = TEMPLATE.search(code[:m.start()].rstrip() + "\n")
        if not t or code[t.end():m.start()].strip():
            fail(where, "not a template: instantiate_kernel names template instances")
        tparams = split_top(t[1])
        targs = []
        for p in tparams:
            if "=" in p:
                fail(where, f"template parameter with a default: {p!r}")
            targs.append(re.findall(WORD, p)[-1])
        close = matching(code, m.end() - 1, "(", ")")
        buffers = {}
        args = [argument(p, where, buffers) for p in split_top(code[m.end():close])]
        if sorted(buffers) != list(range(len(buffers))):
            fail(where, f"buffer indices {sorted(buffers)} are not 0..{len(buffers) - 1}")
        yield m[1], ", ".join(tparams), ", ".join(targs), args, len(buffers)


def registry_tu(family: str, text: str) -> str:
    ks = list(kernels(text, f"{family}.metal"))
    if not ks:
        fail(f"{family}.metal", "no [[kernel]] templates")
    decl = "template <{tp}>\nvoid ms_emu_adapter_{k}(void* const* args, const ms_emu::ThreadPos& t)"
    head = [f"// Generated by scripts/metal_emulator_kernels.py from metal/{family}.metal: "
            "do not edit.",
            '#include "registry.h"', '#include "runtime.h"', "",
            "#define MS_EMU_REGISTRY 1"]
    for k, tp, _, _, nbuf in ks:
        head += [decl.format(tp=tp, k=k) + ";",
                 f"inline constexpr size_t ms_emu_buffers_{k} = {nbuf};"]
    # the adapters come after kernels_end.h, which takes back the attribute macros
    body = ["", f'#include "src/{family}.metal"', "", '#include "kernels_end.h"', ""]
    for k, tp, ta, args, _ in ks:
        call = f"  {k}<{ta}>(\n      " + ",\n      ".join(args) + ");"
        body += [decl.format(tp=tp, k=k) + " {", "  (void)args;", "  (void)t;", call, "}", ""]
    tail = [f"void ms_emu_link_{family}() {{}} // families.cpp calls it: links this file in", ""]
    return "\n".join(head + body + tail)


def write(path: Path, text: str):
    """Writes only when changed, so that builds stay incremental."""
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def main(argv: list[str]):
    if len(argv) == 3 and argv[0] == "--transform":
        src = Path(argv[1])
        write(Path(argv[2]), transform(src.read_text(), src.name))
        return
    if len(argv) != 2:
        raise SystemExit(__doc__)
    metal, out = Path(argv[0]), Path(argv[1])
    (out / "src").mkdir(parents=True, exist_ok=True)
    families = sorted(p.stem for p in metal.glob("*.metal"))
    for src in sorted([*metal.glob("*.metal"), *metal.glob("*.h")]):
        write(out / "src" / src.name, transform(src.read_text(), src.name))
    for family in families:
        text = (metal / f"{family}.metal").read_text()
        write(out / f"kernels_{family}.cpp", registry_tu(family, text))
    links = "".join(f"void ms_emu_link_{f}();\n" for f in families)
    calls = "".join(f"  ms_emu_link_{f}();\n" for f in families)
    write(out / "families.cpp",
          "// Generated by scripts/metal_emulator_kernels.py: do not edit.\n"
          f'#include "registry.h"\n\n{links}\nvoid ms_emu::link_families() {{\n{calls}}}\n')


if __name__ == "__main__":
    main(sys.argv[1:])
