"""The Python API: the API reference page's example runs as written (on a tiny config), results are typed,
and ``import cxr_isi`` does not import torch."""

import re
import subprocess
import sys

import pytest

from tests.grids import REPO, tiny, write_config

torch = pytest.importorskip("torch")


def readme_example() -> str:
    text = (REPO / "docs" / "reference" / "api.md").read_text()
    return re.search(r"```python\n(.*?)```", text, re.S).group(1)


def test_the_api_pages_example_runs(tmp_path, monkeypatch, capsys):
    import cxr_isi.audit.imbalance  # noqa: F401 - as in a long session: the stage packages already imported
    import cxr_isi.synth  # noqa: F401

    code = readme_example()
    assert 'CONFIG = "configs/demo.yaml"' in code
    cfg = tiny(variants=["original", "lungs_boxed_out"], cv={"folds": 0}, cross=[])
    code = code.replace('CONFIG = "configs/demo.yaml"', f'CONFIG = r"{write_config(tmp_path / "t.yaml", cfg)}"')
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, "docs/reference/api.md", "exec"), namespace)  # noqa: S102 - our own page
    out = capsys.readouterr().out
    import cxr_isi as ci

    assert isinstance(namespace["audit"], ci.AuditResult) and namespace["audit"].verdict == "severely imbalanced"
    report = namespace["report"]
    assert isinstance(report, ci.Report) and report.path.is_file()
    assert set(report.verdicts) == {"isi", "bal"}
    v = report.verdicts["isi"]
    assert isinstance(v, ci.DatasetVerdict) and v.kind in out and v.auc_lungs_boxed_out == v.auc_lungs_boxed_out
    assert isinstance(namespace["run"], ci.RunResult) and len(namespace["run"].results) == 4


def test_import_stays_light():
    code = "import sys, cxr_isi; cxr_isi.audit; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"


@pytest.mark.slow
def test_an_installed_package_finds_its_configs_and_templates(tmp_path):
    """``pip install .`` (here into a target folder, dependencies from this environment), then the
    shipped demo config is found and checked from a folder outside the source tree."""
    target = tmp_path / "site"
    built = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
                            str(REPO)], capture_output=True, text=True, timeout=600)
    if built.returncode != 0:
        pytest.skip(f"could not build the package here: {built.stderr.strip().splitlines()[-1:]}")
    code = ("import sys, cxr_isi; from cxr_isi.demo import demo_config; from cxr_isi.cli.main import app; "
            "p, _ = demo_config(False, None); assert str(p).startswith(sys.argv[1]), p; "
            "sys.argv = ['cxr-isi', 'run', str(p), '--check']; app()")
    env = {"PYTHONPATH": str(target), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    r = subprocess.run([sys.executable, "-c", code, str(target)], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=900)  # a hang guard, not a time limit
    assert r.returncode == 0, r.stderr[-2000:]
    assert "valid;" in r.stdout
    assert (target / "cxr_isi" / "report" / "templates" / "page.html.j2").is_file()


PUBLIC = ["cxr_isi.evaluate.metrics", "cxr_isi.audit.imbalance", "cxr_isi.audit.acquisition", "cxr_isi.audit.balance",
          "cxr_isi.audit.duplicates", "cxr_isi.lungs.hideseek", "cxr_isi.study.runner",
          "cxr_isi.study.config", "cxr_isi.api", "cxr_isi.monitor", "cxr_isi.probes.evidence", "cxr_isi.evaluate.text"]


@pytest.mark.parametrize("module", PUBLIC)
def test_public_functions_document_parameters_and_returns(module):
    import importlib
    import inspect

    mod = importlib.import_module(module)
    for name, fn in vars(mod).items():
        if name.startswith("_") or not inspect.isfunction(fn) or fn.__module__ != module:
            continue
        doc = inspect.getdoc(fn) or ""
        takes = [p for p in inspect.signature(fn).parameters if p not in ("_", "kwargs")]
        assert "Returns\n-------" in doc, f"{module}.{name}: no Returns section"
        if takes:
            assert "Parameters\n----------" in doc, f"{module}.{name}: no Parameters section"
            assert doc.index("Parameters\n---") < doc.index("Returns\n---"), f"{module}.{name}: numpydoc order"


def test_the_old_audit_call_still_works_and_says_its_new_name(tmp_path):
    """``ci.audit(...)`` was the API's name; ``cxr_isi.audit`` is the stage package. The call
    stays, with a DeprecationWarning, and gives what ``ci.audit_dataset`` gives; the stage does
    not import the API (the import-linter contract)."""
    import cxr_isi as ci

    m = ci.phantoms("isi", n=16, size=32, out=tmp_path / "d")
    new = ci.audit_dataset(m.origin, positive="covid", read_files=False)
    with pytest.warns(DeprecationWarning, match=r"ci.audit_dataset\(...\)"):
        old = ci.audit(m.origin, positive="covid", read_files=False)
    import json

    def as_json(a):
        return json.dumps(a.as_dict(), default=str, sort_keys=True)

    assert as_json(old) == as_json(new) and new.verdict == "severely imbalanced"  # (NaN figures equal as JSON)
    code = "import sys, cxr_isi.audit; print('cxr_isi.api' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"
