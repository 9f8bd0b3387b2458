"""cxr-isi: did a chest X-ray classifier learn the disease, or where the images came from?

The package follows the protocol's flow, one subpackage per stage, imports in one direction:
``data -> synth -> audit -> lungs -> models -> train -> evaluate -> explain -> probes -> verdict ->
remedies -> study -> studies -> report``, with the training-loop monitor (``monitor``, its
adapters ``lightning``, ``ignite``, ``keras``), ``cli`` and the API on top. The study gathers
evidence, the verdict decides, the report renders.
"""

from cxr_isi._version import __version__

# The Python API (cxr_isi.api), exported lazily so that ``import cxr_isi`` stays fast.
_API = ("audit_dataset", "audit", "phantoms", "import_dataset", "read_manifest", "run_experiment", "load_run",
        "write_report", "sweep", "error_rates", "judge", "RunResult", "Report", "DatasetVerdict", "SweepResult",
        "ErrorRatesResult", "external", "ExternalResult", "remedy", "RemedyResult", "model_card", "fails_gate")
__all__ = ["__version__", "AuditResult", "ModelVerdict", "ShortcutMonitor", *_API]


def __getattr__(name: str):
    if name == "audit":  # the stage package, still callable as the old ci.audit() (see cxr_isi.audit)
        import importlib

        return importlib.import_module("cxr_isi.audit")
    if name in _API:
        from cxr_isi import api

        return getattr(api, name)
    if name == "ModelVerdict":  # ci.judge's result, defined beside what makes it
        from cxr_isi.study.judge import ModelVerdict

        return ModelVerdict
    if name == "ShortcutMonitor":  # what a model reads while it trains (adapters: cxr_isi.lightning, ...)
        from cxr_isi.monitor import ShortcutMonitor

        return ShortcutMonitor
    if name == "AuditResult":
        from cxr_isi.audit import AuditResult

        return AuditResult
    raise AttributeError(f"module 'cxr_isi' has no attribute {name!r}")
