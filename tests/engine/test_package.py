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
