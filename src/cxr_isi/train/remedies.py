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


# -- the hooks: what a remedy changes in one training run -----------------------------------------
DFR_MIN_GROUP = 5  # the smallest group (source x label) of the held-out part DFR refits on


class TrainingRemedy:
    """What one remedy changes in a training run: one hook per place the training loop lets a
    remedy in (as pytorch-grad-cam's methods override one hook of ``BaseCAM``); the base changes
    nothing. :func:`training_remedies` builds them from a ``TrainConfig``; a new remedy that
    changes training overrides the hooks it needs (``docs/guide/extending.md``).

    Attributes
    ----------
    name : str
        The key its record is written under (``metrics.json``, the checkpoint).
    reweights : bool
        Whether it weights the classes itself (its sampler or its loss): the loop's class
        weighting is then off.
    """

    name = "none"
    reweights = False

    def training_part(self, part: Manifest, seed: int) -> Manifest:
        """The training rows it trains on (before any image is read)."""
        return part

    def sampling_weights(self, part: Manifest) -> np.ndarray | None:
        """Per-row sampling weights of the training rows (None: the usual shuffle)."""
        return None

    def training_set(self, dataset, part: Manifest, kept: np.ndarray, device):
        """The training dataset it trains on (``kept``: the rows the dataset kept, by index)."""
        return dataset

    def loss(self, logits: torch.Tensor, y: torch.Tensor, batch) -> torch.Tensor | None:
        """The batch's loss where it sets its own (None: the loop's cross-entropy)."""
        return None

    def after_training(self, model, data: dict, parts: dict, loader, device, seed: int) -> dict | None:
        """Changes to the best model once training ended (``loader``: a dataset's loader in a
        fixed order); the record of what it did, or None."""
        return None


class SourceBalance(TrainingRemedy):
    """Each source's classes to equal shares: a seeded subsample, or sampling weights."""

    name = "source_balance"

    def __init__(self, mode: str):
        self.mode = mode
        self.reweights = mode == "weight"

    def training_part(self, part: Manifest, seed: int) -> Manifest:
        return balance_within_sources(part, seed) if self.mode == "subsample" else part

    def sampling_weights(self, part: Manifest) -> np.ndarray | None:
        return balance_weights(part, "source") if self.mode == "weight" else None


class GroupRobust(TrainingRemedy):
    """Source x label groups: GroupDRO's online loss, or every group drawn equally often."""

    name = "group_robust"
    reweights = True

    def __init__(self, mode: str, step: float):
        self.mode, self.step = mode, step
        self.dro: GroupDRO | None = None
        self.device = None

    def sampling_weights(self, part: Manifest) -> np.ndarray | None:
        return balance_weights(part, "group") if self.mode == "sampling" else None

    def training_set(self, dataset, part: Manifest, kept: np.ndarray, device):
        if self.mode != "dro":
            return dataset
        groups, names = group_ids(part)
        self.dro, self.device = GroupDRO(len(names), self.step, device), device
        return WithGroups(dataset, groups[kept])

    def loss(self, logits: torch.Tensor, y: torch.Tensor, batch) -> torch.Tensor | None:
        if self.dro is None:
            return None
        per_image = torch.nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="none")
        return self.dro.loss(per_image, batch[2].to(self.device))


class LastLayer(TrainingRemedy):
    """DFR: features of the validation part (never trained on), a logistic head fitted on them
    group-balanced (:func:`refit_head`), written into the model's head. Where the validation
    part's smallest group has fewer than :data:`DFR_MIN_GROUP` images, the training part's
    features join it (the paper's DFR on training data, said in the record)."""

    name = "dfr"

    def after_training(self, model, data: dict, parts: dict, loader, device, seed: int) -> dict | None:
        from cxr_isi.models.formats.base import head_rows, write_head

        groups, _ = group_ids(parts["val"])
        use = ["val"] if np.bincount(groups).min() >= DFR_MIN_GROUP else ["train", "val"]
        feats = np.concatenate([pooled_features(model, loader(data[s]), device) for s in use])
        paths = [p for s in use for p in data[s].paths]  # the rows the datasets kept, in their order
        frame = pd.concat([parts[s].frame for s in use], ignore_index=True).set_index("path").loc[paths].reset_index()
        part = parts["val"].with_frame(frame)
        refit = refit_head(feats, part.y, group_ids(part)[0], seed)
        refit["fitted_on"] = " and ".join({"train": "training", "val": "validation"}[s] for s in use)
        write_head(model.head, *head_rows(refit["weight"], refit["bias"], 1, 0, "logit"))  # one logit: column 0
        return refit


def training_remedies(cfg) -> list[TrainingRemedy]:
    """The hooks a ``TrainConfig`` asks for (``source_balance``, ``group_robust``,
    ``last_layer``), in the order the loop applies them."""
    found: list[TrainingRemedy] = []
    if cfg.source_balance != "none":
        found.append(SourceBalance(cfg.source_balance))
    if cfg.group_robust != "none":
        found.append(GroupRobust(cfg.group_robust, cfg.dro_step))
    if cfg.last_layer == "dfr":
        found.append(LastLayer())
    return found
