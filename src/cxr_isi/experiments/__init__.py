"""The experiment runner: the paper's whole study from one config, resumable, local or on Ray."""

from cxr_isi.experiments.config import ExperimentConfig, load_experiment

__all__ = ["ExperimentConfig", "load_experiment"]
