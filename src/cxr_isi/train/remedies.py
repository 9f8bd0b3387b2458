"""What training does differently under a remedy for a source shortcut (``TrainConfig``'s
``source_balance``, ``group_robust`` and ``last_layer``): the mechanics, apart from which remedy
asks for them (:mod:`cxr_isi.remedies`).

Groups are source x label (a source that gives one class is one group). Written here rather than
taken from a library: SubpopBench and the GroupDRO and DFR authors' code are research scripts
around their own loaders and trainers, not importable pieces; what is used from them is the
published update rules (GroupDRO: Sagawa et al. 2020, eq. 4 and Algorithm 1; DFR: Kirichenko et
al. 2022, a logistic head refit on group-balanced held-out features), with scikit-learn's
logistic regression for the refit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from cxr_isi.data.manifest import Manifest
from cxr_isi.errors import CxrIsiError


def group_ids(manifest: Manifest) -> tuple[np.ndarray, list[str]]:
    """Each image's group (source x label) as an index, and the groups' names."""
    names = manifest.frame["source"].astype(str).to_numpy() + "|" + manifest.y.astype(int).astype(str)
    groups = sorted(set(names))
    index = {g: i for i, g in enumerate(groups)}
    return np.array([index[n] for n in names], dtype=np.int64), groups


def sources_with_both(frame: pd.DataFrame, y: np.ndarray, min_per_class: int = 1) -> list[str]:
    """The sources that give at least ``min_per_class`` images of each class, sorted."""
    table = pd.crosstab(frame["source"].astype(str).to_numpy(), y)
    if table.shape[1] < 2:
        return []
    return sorted(str(s) for s, r in table.iterrows() if r.get(0, 0) >= min_per_class and r.get(1, 0) >= min_per_class)


def balance_within_sources(manifest: Manifest, seed: int) -> Manifest:
    """Within each source, as many images of each class as the rarer class has (a seeded draw); a
    source that gives one class keeps nothing. The paper's remedy, the audit's balanced subset
    (:func:`cxr_isi.audit.balance.balance_sources`) used as training data."""
    from cxr_isi.audit.balance import balance_sources

    return balance_sources(manifest, seed=seed)


def balance_weights(manifest: Manifest, by: str) -> np.ndarray:
    """Per-image sampling weights: ``source`` gives the classes of each source equal shares (a
    source that gives one class keeps its share of the whole); ``group`` gives every group (source
    x label) the same total weight. Normalised to sum to 1."""
    frame = manifest.frame
    y = manifest.y.astype(int)
    source = frame["source"].astype(str).to_numpy()
    w = np.zeros(len(frame))
    if by == "group":
        g, _ = group_ids(manifest)
        counts = np.bincount(g)
        w = 1.0 / counts[g]
    else:
        for s in np.unique(source):
            rows = source == s
            classes = np.unique(y[rows])
            for c in classes:
                cell = rows & (y == c)
                w[cell] = rows.sum() / len(classes) / cell.sum()
    return w / w.sum()


class WeightedSampler(torch.utils.data.Sampler):
    """Draws ``len(weights)`` indices a round with replacement by ``weights``, seeded by the seed
    and the epoch (the same draws on every run), split across ``num_replicas`` processes as
    ``DistributedSampler`` splits them."""

    def __init__(self, weights: np.ndarray, seed: int, num_replicas: int = 1, rank: int = 0):
        self.weights = torch.as_tensor(weights, dtype=torch.double)
        self.seed, self.num_replicas, self.rank, self.epoch = seed, num_replicas, rank, 0
        self.per_replica = len(weights) // num_replicas

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.per_replica

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed * 1000 + self.epoch)
        draws = torch.multinomial(self.weights, self.per_replica * self.num_replicas, replacement=True, generator=g)
        return iter(draws[self.rank :: self.num_replicas].tolist())


class GroupDRO:
    """The online GroupDRO objective (Sagawa et al. 2020): group weights ``q`` raised by
    ``exp(step * group loss)`` each step and renormalised; the loss is their weighted sum of the
    groups' mean losses, so the worst group leads."""

    def __init__(self, n_groups: int, step: float, device):
        self.q = torch.full((n_groups,), 1.0 / n_groups, device=device)
        self.step = step

    def loss(self, per_image: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
        n = len(self.q)
        sums = torch.zeros(n, device=per_image.device).index_add(0, groups, per_image)
        counts = torch.bincount(groups, minlength=n).float()
        present = counts > 0
        group_loss = torch.where(present, sums / counts.clamp(min=1), torch.zeros_like(sums))
        with torch.no_grad():
            self.q = self.q * torch.exp(self.step * group_loss.detach() * present)
            self.q = self.q / self.q.sum()
        return (self.q * group_loss).sum()


class WithGroups(torch.utils.data.Dataset):
    """A dataset's ``(x, y)`` with the image's group index added: ``(x, y, g)``."""

    def __init__(self, data, groups: np.ndarray):
        self.data, self.groups = data, groups
        self.labels = data.labels
        self.paths = data.paths

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i):
        x, y = self.data[i]
        return x, y, int(self.groups[i])


def pooled_features(model, loader, device) -> np.ndarray:
    """The input of a :class:`~cxr_isi.models.classifier.Classifier`'s head for every image."""
    model.eval()
    out = []
    with torch.inference_mode():
        for batch in loader:
            f = model.forward_features(batch[0].to(device))
            out.append(torch.flatten(model.pool(f), 1).float().cpu().numpy())
    return np.concatenate(out) if out else np.empty((0, 0), np.float32)


def refit_head(features: np.ndarray, y: np.ndarray, groups: np.ndarray, seed: int, c: float = 1.0) -> dict:
    """Deep feature reweighting's last step: a logistic regression on features of a held-out part,
    every group (source x label) drawn down to the smallest group's size, standardised; returned
    as the linear head's ``weight`` and ``bias`` on the raw features, with what it was fitted on.

    L2 with ``C=1`` (scikit-learn's default) where the DFR paper tunes an L1 penalty on a second
    held-out half: the held-out parts here are tens of images, too few to tune on."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    present = np.unique(groups)
    if len(np.unique(y)) < 2:
        raise CxrIsiError("the held-out part has one class: the last layer cannot be refitted on it")
    n = min(int((groups == g).sum()) for g in present)
    pick = np.sort(np.concatenate([rng.permutation(np.flatnonzero(groups == g))[:n] for g in present]))
    x, t = features[pick], y[pick]
    if len(np.unique(t)) < 2:
        raise CxrIsiError("the group-balanced held-out part has one class: the last layer cannot be refitted")
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    clf = LogisticRegression(C=c, max_iter=2000).fit((x - mean) / scale, t)
    w = clf.coef_[0] / scale
    b = float(clf.intercept_[0] - (clf.coef_[0] * mean / scale).sum())
    return {"weight": w.astype(np.float32), "bias": b, "n_images": int(len(pick)), "per_group": n,
            "n_groups": int(len(present))}
