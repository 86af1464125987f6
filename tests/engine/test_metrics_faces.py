import pytest
import torch
from metrics_scenes import mirrored_triplane

from panohead.metrics.faces import IResNet, face_crops, identity_consistency, load_face_model


def small_iresnet() -> IResNet:
    torch.manual_seed(0)
    model = IResNet((1, 2, 1, 1), embedding_dim=16).eval()
    for module in model.modules():  # non-trivial batch-norm statistics, so loading them matters
        if isinstance(module, (torch.nn.BatchNorm2d, torch.nn.BatchNorm1d)):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    return model


def test_arcface_state_dict_loads_with_its_depth_read_from_the_keys(tmp_path):
    model = small_iresnet()
    path = tmp_path / "backbone.pth"
    torch.save({f"module.{k}": v.half() for k, v in model.state_dict().items()}, path)  # DDP prefix, fp16
    loaded = load_face_model(path)
    faces = torch.rand(2, 3, 112, 112) * 2 - 1
    assert torch.allclose(loaded(faces), model.half().float()(faces), atol=1e-4)


def test_exported_face_model_loads(tmp_path):
    path = tmp_path / "face.pt2"
    batch = torch.export.Dim.AUTO
    torch.export.save(
        torch.export.export(small_iresnet(), (torch.zeros(2, 3, 112, 112),), dynamic_shapes=({0: batch},)), str(path)
    )
    assert load_face_model(path)(torch.zeros(3, 3, 112, 112)).shape == (3, 16)


def test_a_file_that_is_no_face_model_is_named(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"weight": torch.zeros(3)}, path)
    with pytest.raises(ValueError, match="other.pth: not an ArcFace IResNet"):
        load_face_model(path)


def test_face_crop_is_arcface_sized():
    assert face_crops(torch.zeros(3, 3, 64, 64)).shape == (3, 3, 112, 112)


def test_identity_is_one_for_identical_embeddings_and_lower_when_views_differ():
    generator = mirrored_triplane()
    assert identity_consistency(generator, lambda faces: torch.ones(faces.shape[0], 4), [0]) == pytest.approx(1.0)
    pixels = identity_consistency(
        generator, lambda faces: faces.flatten(1) - faces.flatten(1).mean(1, keepdim=True), [0], yaws=(90.0,)
    )
    assert -1.0 <= pixels < 0.95
