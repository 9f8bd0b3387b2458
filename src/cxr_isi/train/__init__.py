"""Training and scoring of the classifiers the protocol compares."""

from cxr_isi.train.config import AugmentConfig, TrainConfig

__all__ = ["AugmentConfig", "TrainConfig"]
