"""One study: the paper's whole protocol from one config (config, plan, jobs, runner, run folder,
results, probes, explanations), resumable, local or on Ray; and the judge, one model's study.

It gathers evidence; :mod:`cxr_isi.verdict` decides; :mod:`cxr_isi.report` renders.
"""

from cxr_isi.study.config import ExperimentConfig, load_experiment

__all__ = ["ExperimentConfig", "load_experiment"]
