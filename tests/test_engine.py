"""The one training engine: resume equals uninterrupted, early stop stays stopped, settings checked."""

import json

import pytest

torch = pytest.importorskip("torch")

from cxr_isi._checkpoints import cosine_schedule  # noqa: E402
from cxr_isi._engine import TrainingEngine  # noqa: E402
from cxr_isi.errors import CxrIsiError  # noqa: E402


def _run(out, epochs=5, patience=10, stop_at=None, settings="s", scores=None, pause=None):
    torch.manual_seed(0)
    net = torch.nn.Linear(4, 1)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    sched = cosine_schedule(opt, epochs)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(32, 4, generator=torch.Generator().manual_seed(1))
    y = (x[:, 0] > 0).float()[:, None]
    engine = TrainingEngine(out, net, opt, sched, gen, epochs=epochs, patience=patience, settings=settings,
                            progress=False)
    engine.resume()
    saved = []

    def train_epoch(epoch):
        if stop_at is not None and epoch == stop_at:
            raise KeyboardInterrupt
        idx = torch.randperm(32, generator=gen)[:16]
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        return {"loss": loss.item(), "images": 16}

    def validate():
        with torch.no_grad():
            loss = float(torch.nn.functional.binary_cross_entropy_with_logits(net(x), y))
        score = scores[engine.state["epoch"] - 1] if scores else -loss
        return {"score": score, "tiebreak": -loss, "val_loss": loss}

    state = engine.run(train_epoch, validate, lambda record: saved.append(record["epoch"]), pause_after=pause)
    return state, net, saved


def test_resume_after_a_kill_gives_the_same_run(tmp_path):
    whole, net_a, _ = _run(tmp_path / "a")
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path / "b", stop_at=3)
    partial = json.loads((tmp_path / "b/history.json").read_text())
    assert partial["epoch"] == 3 and not partial["finished"]
    resumed, net_b, _ = _run(tmp_path / "b")
    assert [h["loss"] for h in resumed["history"]] == [h["loss"] for h in whole["history"]]
    assert torch.equal(net_a.weight, net_b.weight)
    assert resumed["images"] == whole["images"] == 5 * 16


def test_a_paused_run_continues_to_the_same_end(tmp_path):
    whole, net_a, _ = _run(tmp_path / "a")
    paused, _, _ = _run(tmp_path / "b", pause=2)
    assert paused["epoch"] == 2 and not paused["finished"]
    again, _, _ = _run(tmp_path / "b", pause=2)
    assert again["epoch"] == 4 and not again["finished"]
    done, net_b, _ = _run(tmp_path / "b", pause=2)  # one epoch left: runs it and finishes
    assert done["epoch"] == 5 and done["finished"]
    assert [h["loss"] for h in done["history"]] == [h["loss"] for h in whole["history"]]
    assert torch.equal(net_a.weight, net_b.weight)


def test_best_epoch_ties_early_stop_and_finished(tmp_path):
    # scores: best at epoch 2; a tie at epoch 3 goes to the tiebreak (lower loss), then no gain
    state, _, saved = _run(tmp_path / "c", epochs=10, patience=2, scores=[0.5, 0.9, 0.9, 0.8, 0.7, 0.6])
    assert saved[:2] == [1, 2] and state["best_epoch"] in (2, 3)
    assert state["epoch"] == state["best_epoch"] + 2 and state["finished"]
    again, _, saved_again = _run(tmp_path / "c", epochs=10, patience=2, scores=[0.5] * 10)
    assert again["epoch"] == state["epoch"] and saved_again == []  # stopped stays stopped
    with pytest.raises(CxrIsiError, match="other settings"):
        _run(tmp_path / "c", epochs=10, settings="other")
