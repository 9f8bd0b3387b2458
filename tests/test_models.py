"""One test over the whole registry: every model has the same surface and behaves."""

import urllib.error

import pytest

torch = pytest.importorskip("torch")
from cxr_isi.errors import CxrIsiError  # noqa: E402
from cxr_isi.models import create_model, list_models  # noqa: E402
from cxr_isi.models.weights import CHECKPOINT_FORMAT  # noqa: E402

MODELS = list_models()


def test_registry_holds_the_papers_models():
    assert {"vgg16_gap", "resnet50", "densenet121", "small_cnn"} <= set(MODELS)
    with pytest.raises(CxrIsiError, match="unknown model 'vgg19'"):
        create_model("vgg19")


def _step_lowers_the_loss(name, x) -> bool:
    torch.manual_seed(0)
    model = create_model(name).eval()
    with torch.no_grad():
        y = (model(x) < 0).float()
    loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x), y)
    grads = torch.autograd.grad(loss, [p for p in model.parameters() if p.requires_grad])
    norm2 = sum(float((g * g).sum()) for g in grads)
    lr = 0.01 * float(loss) / max(norm2, 1e-12)  # moves the loss by about 1% to first order
    with torch.no_grad():
        for p, g in zip([p for p in model.parameters() if p.requires_grad], grads, strict=True):
            p -= lr * g
        after = torch.nn.functional.binary_cross_entropy_with_logits(model(x), y)
    return float(after) < float(loss)


@pytest.mark.parametrize("name", MODELS)
def test_every_model(name, tmp_path):
    torch.manual_seed(0)
    model = create_model(name)
    x = torch.rand(4, 1, 64, 64)
    # shapes: one logit per image, a 4-D feature map, a Grad-CAM layer
    assert model(x).shape == (4,)
    f = model.forward_features(x)
    assert f.dim() == 4 and f.shape[1] == model.num_features
    assert isinstance(model.cam_layer, torch.nn.Module)
    # a small gradient step lowers the loss of the batch it was taken on, whatever the thread
    # count (eval-mode batch norm: the step is on a fixed function, so first order holds; the
    # target is the class the model does not predict yet, so the loss and its gradient are large)
    threads = torch.get_num_threads()
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            assert _step_lowers_the_loss(name, x)
    finally:
        torch.set_num_threads(threads)
    # save / load round trip through a classifier checkpoint
    model.eval()
    path = tmp_path / "m.pt"
    torch.save({"format": CHECKPOINT_FORMAT, "model": name, "state_dict": model.state_dict()}, path)
    again = create_model(name, weights=path).eval()
    with torch.no_grad():
        torch.testing.assert_close(again(x), model(x))
    # deterministic on CPU: same seed, same weights, same outputs
    torch.manual_seed(1)
    a = create_model(name).eval()
    torch.manual_seed(1)
    b = create_model(name).eval()
    with torch.no_grad():
        torch.testing.assert_close(a(x), b(x), rtol=0, atol=0)
    # a fresh head
    old = model.head
    model.reset_classifier()
    assert model.head is not old and model.head.out_features == 1


def test_offline_imagenet_is_a_clear_error(tmp_path, monkeypatch):
    from torchvision.models._api import WeightsEnum

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))

    def offline(self, *a, **k):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(WeightsEnum, "get_state_dict", offline)
    offline_msg = r"ImageNet weights for vgg16_gap are not in the torch cache .* --weights none"
    with pytest.raises(CxrIsiError, match=offline_msg):
        create_model("vgg16_gap", weights="imagenet")
    with pytest.raises(CxrIsiError, match="no ImageNet weights for small_cnn"):
        create_model("small_cnn", weights="imagenet")


def test_imagenet_weights_from_the_torch_cache(tmp_path, monkeypatch):
    """torchvision's own file, found in the torch cache, lands in the trunk (densenet: 32 MB)."""
    from torchvision.models import DenseNet121_Weights, densenet121

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    torch.manual_seed(3)
    reference = densenet121(weights=None)
    (tmp_path / "checkpoints").mkdir()
    torch.save(reference.state_dict(), tmp_path / "checkpoints" / DenseNet121_Weights.IMAGENET1K_V1.url.split("/")[-1])
    model = create_model("densenet121", weights="imagenet")
    torch.testing.assert_close(model.features[0].conv0.weight, reference.features.conv0.weight)


def test_bad_weight_files(tmp_path):
    small = create_model("small_cnn")
    torch.save({"format": CHECKPOINT_FORMAT, "model": "small_cnn", "state_dict": small.state_dict()},
               tmp_path / "small.pt")
    with pytest.raises(CxrIsiError, match="small.pt: a checkpoint of small_cnn, not of resnet50"):
        create_model("resnet50", weights=tmp_path / "small.pt")
    (tmp_path / "broken.pt").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(CxrIsiError, match="broken.pt: corrupted or not a PyTorch checkpoint"):
        create_model("small_cnn", weights=tmp_path / "broken.pt")
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "alien.pt")
    with pytest.raises(CxrIsiError, match="alien.pt: its weights do not fit small_cnn"):
        create_model("small_cnn", weights=tmp_path / "alien.pt")
    with pytest.raises(CxrIsiError, match="nothere.pt: weights file not found"):
        create_model("small_cnn", weights=tmp_path / "nothere.pt")
