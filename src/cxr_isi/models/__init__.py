"""Classifiers: a registry with one factory per model and one surface for all (timm-style)."""

from cxr_isi.models.registry import MODELS, Classifier, create_model, list_models, register_model

__all__ = ["MODELS", "Classifier", "create_model", "list_models", "register_model"]
