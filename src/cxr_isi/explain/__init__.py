"""Explanations: where a model looks (LIME, Grad-CAM), and how much of it falls inside the lungs."""

from cxr_isi.explain.attention import attention_summary, lung_attention
from cxr_isi.explain.base import Explainer

__all__ = ["Explainer", "attention_summary", "lung_attention"]
