"""The engine package: its public API and its independence from Django."""

import subprocess
import sys

import engine


def test_all_is_sorted_and_complete():
    assert engine.__all__ == sorted(engine.__all__)
    for name in engine.__all__:
        assert hasattr(engine, name), name


def test_engine_never_imports_django():
    code = "import sys, engine, engine.runner, engine.actions; print('django' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_errors_pickle_with_their_details():
    import pickle

    err = engine.StepTimeout("a.b", "timed out after 1 s")
    back = pickle.loads(pickle.dumps(err))
    assert isinstance(back, TimeoutError) and back.path == "a.b" and back.message == err.message
    invalid = engine.WorkflowInvalid([engine.Issue(1, 2, "steps[0]", "bad")], "f.yaml")
    assert pickle.loads(pickle.dumps(invalid)).issues == invalid.issues


def _imports_of_engine_modules() -> dict[str, set[str]]:
    """Module → the engine modules it imports (anywhere in it, function bodies too)."""
    import ast
    from pathlib import Path

    root = Path(engine.__file__).parent
    names = {}
    for file in root.rglob("*.py"):
        parts = list(file.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = file
    graph = {}
    for name, file in names.items():
        package = name if file.name == "__init__.py" else name.rsplit(".", 1)[0]
        found = set()
        for node in ast.walk(ast.parse(file.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = package
                for _ in range(node.level - 1):
                    base = base.rsplit(".", 1)[0]
                if node.level == 0:
                    base = node.module or ""
                elif node.module:
                    base = f"{base}.{node.module}"
                targets = [f"{base}.{a.name}" for a in node.names] + [base]
            for target in targets:
                if target in names and target != name:
                    found.add(target)
        graph[name] = found
    return graph


def test_no_import_circle_inside_the_engine():
    """``engine/__init__`` is the facade (it imports everything): left out; every other module
    and package may only import modules below it in some order."""
    graph = {k: v - {"engine"} for k, v in _imports_of_engine_modules().items() if k != "engine"}
    seen, done, cycles = set(), set(), []

    def visit(node, path):
        if node in done:
            return
        if node in seen:
            cycles.append(path[path.index(node):] + [node])
            return
        seen.add(node)
        for nxt in sorted(graph.get(node, ())):
            visit(nxt, path + [node])
        done.add(node)

    for module in sorted(graph):
        visit(module, [])
    assert not cycles, " ; ".join(" → ".join(c) for c in cycles[:5])
