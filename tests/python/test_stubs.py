"""The type stubs: python/sptrain/_core.pyi against the built extension, and mypy over the package.

mypy's stubtest cannot check a nanobind extension (its functions are nanobind.nb_func objects that
inspect.signature does not read, so stubtest reports each one as "not a function" and compares no
parameter). nanobind's own stub generator reads the signatures the extension was compiled with
(__nb_signature__); the hand-written stub must have the same names, parameters (names, kinds,
defaults, order) and types, where it may refine a bare dict, list or tuple with type arguments,
object with Any, and leave out nanobind's Annotated metadata of an ndarray.
"""
import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import sptrain._core

from conftest import ROOT

STUB = ROOT / "python" / "sptrain" / "_core.pyi"


def _generated_stub(tmp_path):
    """The stub nanobind.stubgen writes for the imported extension (private names included)."""
    try:
        import nanobind.stubgen  # noqa: F401
    except ImportError:
        pytest.skip("no nanobind in this Python (scripts/install-python-deps.sh installs it)")
    out = tmp_path / "_core.pyi"
    pkg_parent = Path(sptrain._core.__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-m", "nanobind.stubgen", "-q", "-P", "-i", str(pkg_parent), "-m", "sptrain._core",
                    "-o", str(out)], check=True, capture_output=True)
    return out.read_text()


def _unqualified(s):
    """An annotation without module paths: collections.abc.Sequence[str] -> Sequence[str]."""
    return re.sub(r"\b[A-Za-z_]\w*\.", "", s)


def _annotation(node):
    if node is None:
        return None
    if (isinstance(node, ast.Subscript) and isinstance(node.value, (ast.Name, ast.Attribute))
            and _unqualified(ast.unparse(node.value)) == "Annotated"):
        node = node.slice.elts[0]  # nanobind's ndarray metadata (shape, order, device) is no type
    return _unqualified(ast.unparse(node))


def _signature(fn):
    """(parameter kind, name, annotation, default) of each parameter in order, and the return annotation."""
    a = fn.args
    params = []
    positional = a.posonlyargs + a.args
    defaults = [None] * (len(positional) - len(a.defaults)) + [ast.unparse(d) for d in a.defaults]
    for i, p in enumerate(positional):
        params.append(("positional-only" if i < len(a.posonlyargs) else "positional", p.arg, _annotation(p.annotation),
                       defaults[i]))
    if a.vararg:
        params.append(("*args", a.vararg.arg, _annotation(a.vararg.annotation), None))
    for p, d in zip(a.kwonlyargs, a.kw_defaults):
        params.append(("keyword-only", p.arg, _annotation(p.annotation), None if d is None else ast.unparse(d)))
    if a.kwarg:
        params.append(("**kwargs", a.kwarg.arg, _annotation(a.kwarg.annotation), None))
    return params, _annotation(fn.returns)


def _members(body):
    """{name: ("function", signature) | ("property", signature) | ("class", members)} of a module or class body."""
    out = {}
    for node in body:
        if isinstance(node, ast.FunctionDef):
            kind = "property" if any(ast.unparse(d) == "property" for d in node.decorator_list) else "function"
            out[node.name] = (kind, _signature(node))
        elif isinstance(node, ast.ClassDef):
            out[node.name] = ("class", _members(node.body))
    return out


def _refines(stub, generated):
    """Whether the stub's annotation says what the extension's does, or more."""
    if generated is None or stub == generated:
        return True
    if generated in ("dict", "list", "tuple") and stub is not None and stub.startswith(generated + "["):
        return True
    return generated == "object" and stub == "Any"


def _differences(stub, gen, where=""):
    out = []
    for name in sorted(set(stub) | set(gen)):
        at = where + name
        if name not in gen:
            out.append(f"{at}: in the stub, not in the extension")
            continue
        if name not in stub:
            out.append(f"{at}: in the extension, not in the stub")
            continue
        (sk, s), (gk, g) = stub[name], gen[name]
        if sk != gk:
            out.append(f"{at}: a {sk} in the stub, a {gk} in the extension")
        elif sk == "class":
            out += _differences(s, g, at + ".")
        else:
            (sp, sr), (gp, gr) = s, g
            if [p[:2] + p[3:] for p in sp] != [p[:2] + p[3:] for p in gp]:
                out.append(f"{at}: parameters {[p[:2] + p[3:] for p in sp]} in the stub, "
                           f"{[p[:2] + p[3:] for p in gp]} in the extension")
            else:
                for p, q in zip(sp, gp):
                    if not _refines(p[2], q[2]):
                        out.append(f"{at}: parameter {p[1]} is {p[2]} in the stub, {q[2]} in the extension")
            if not _refines(sr, gr):
                out.append(f"{at}: returns {sr} in the stub, {gr} in the extension")
    return out


def test_stub_matches_the_extension(tmp_path):
    gen = _members(ast.parse(_generated_stub(tmp_path)).body)
    stub = _members(ast.parse(STUB.read_text()).body)
    assert len(gen) >= 10  # the generator saw the extension's functions and classes
    assert _differences(stub, gen) == []


def test_the_comparison_sees_a_wrong_stub(tmp_path):
    # A renamed parameter, a dropped default, a wrong type and a missing name are each reported.
    gen = _members(ast.parse("def f(a: int, b: str = 'x') -> dict: ...\nclass C:\n    @property\n"
                             "    def p(self) -> int: ...\n").body)
    ok = _members(ast.parse("def f(a: int, b: str = 'x') -> dict[str, Any]: ...\nclass C:\n    @property\n"
                            "    def p(self) -> int: ...\n").body)
    assert _differences(ok, gen) == []
    for bad in ["def f(a: int, c: str = 'x') -> dict: ...\nclass C:\n    @property\n    def p(self) -> int: ...\n",
                "def f(a: int, b: str) -> dict: ...\nclass C:\n    @property\n    def p(self) -> int: ...\n",
                "def f(a: float, b: str = 'x') -> dict: ...\nclass C:\n    @property\n    def p(self) -> int: ...\n",
                "def f(a: int, b: str = 'x') -> dict: ...\nclass C: ...\n"]:
        assert _differences(_members(ast.parse(bad).body), gen) != [], bad


def _python_with_mypy():
    """An interpreter that has mypy: this one, else Debian's (python3-mypy)."""
    for py in [sys.executable, shutil.which("python3"), "/usr/bin/python3"]:
        if py and subprocess.run([py, "-c", "import mypy"], capture_output=True).returncode == 0:
            return py
    pytest.skip("no mypy (scripts/install-python-deps.sh installs Debian's python3-mypy)")


def test_mypy_passes_on_the_package(tmp_path):
    py = _python_with_mypy()
    r = subprocess.run([py, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), "--cache-dir",
                        str(tmp_path / "mypy-cache"), str(ROOT / "python" / "sptrain")],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
