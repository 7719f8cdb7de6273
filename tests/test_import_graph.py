"""hf_fair's import graph has no circle, and only the entry points import the dispatcher.

Every import statement of every module counts, those inside functions too (a lazy import still
ties the two modules together). A module is a node; so is a top-level package (``hf_fair.generate``
with everything below it) or module (``hf_fair.cli``): a cycle of either kind fails.
"""

import ast
import subprocess
import sys
from pathlib import Path

import hf_fair

ROOT = Path(hf_fair.__file__).resolve().parent
# `python -m hf_fair` (`hf-fair` and `python -m hf_fair.cli` are the dispatcher itself)
ENTRY_POINTS = {"hf_fair.__main__"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def resolve(name: str) -> str:
    """The module (or package) of hf_fair that ``name`` lives in."""
    while name not in MODULES:
        name = name.rpartition(".")[0]
    return name


def imports_of(module: str) -> set[str]:
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {resolve(a.name) for a in node.names if a.name.split(".")[0] == "hf_fair"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from .x import y
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name.split(".")[0] != "hf_fair":
                continue
            # `from hf_fair.x import y` imports the module hf_fair.x.y when there is one
            found |= {resolve(f"{name}.{a.name}") if f"{name}.{a.name}" in MODULES else resolve(name) for a in node.names}
    return found - {module}


GRAPH = {m: imports_of(m) for m in MODULES}


def top_level(module: str) -> str:
    return ".".join(module.split(".")[:2])


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan, iterative)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_walk_sees_lazy_and_relative_imports():
    # the dispatcher imports every command inside functions; the graph must see those edges
    assert "hf_fair.generate.cli" in GRAPH["hf_fair.cli"]
    assert "hf_fair.diffusion.base" in GRAPH["hf_fair.diffusion"]  # a package's __init__
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_itself_round_a_circle():
    assert cycles(GRAPH) == []


def test_no_circle_between_top_level_packages():
    packages: dict[str, set[str]] = {}
    for module, targets in GRAPH.items():
        packages.setdefault(top_level(module), set()).update(top_level(t) for t in targets)
    for name, targets in packages.items():
        targets.discard(name)
    assert cycles(packages) == []


def test_only_the_entry_points_import_the_dispatcher():
    importers = {m for m, targets in GRAPH.items() if "hf_fair.cli" in targets}
    assert importers <= ENTRY_POINTS, f"{sorted(importers - ENTRY_POINTS)} import hf_fair.cli; go through `hf-fair <command>`"


def test_drawing_from_a_base_is_shared_not_borrowed():
    """adapters/ and generate/ both draw through hf_fair.diffusion.draw; adapters/ never imports generate/."""
    adapters = {t for m, targets in GRAPH.items() if m.startswith("hf_fair.adapters") for t in targets}
    assert not {t for t in adapters if t.startswith("hf_fair.generate")}
    assert "hf_fair.diffusion.draw" in GRAPH["hf_fair.adapters.train"]
    assert "hf_fair.diffusion.draw" in GRAPH["hf_fair.generate.core"]


def test_python_dash_m_goes_through_the_dispatcher(tmp_path):
    r = subprocess.run([sys.executable, "-m", "hf_fair", "--version"], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.strip() == f"hf-fair {hf_fair.__version__}", r.stderr[-2000:]
    r = subprocess.run([sys.executable, "-m", "hf_fair", "base", "adherence", "--base", "no/such/base"], capture_output=True, text=True,
                       cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.startswith("error: ") and "Traceback" not in r.stderr
