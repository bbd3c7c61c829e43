import pytest
import torch

from deeprelax.experiments.models import MODELS, PARAM_COUNTS, build_model, count_parameters


@pytest.mark.parametrize("name", sorted(MODELS))
def test_parameter_counts_match_the_paper(name):
    # PAPER.md §8: mnistfc 1,867,786; LeNet 131,220; All-CNN 1,667,166.
    expected = {"mnistfc": 1_867_786, "lenet": 131_220, "allcnn": 1_667_166}[name]
    assert PARAM_COUNTS[name] == expected
    assert count_parameters(build_model(name)) == expected


@pytest.mark.parametrize(
    ("name", "shape"),
    [("mnistfc", (3, 1, 28, 28)), ("lenet", (3, 1, 28, 28)), ("allcnn", (2, 3, 32, 32))],
)
def test_forward_gives_ten_logits(name, shape):
    model = build_model(name).eval()
    with torch.no_grad():
        out = model(torch.randn(shape))
    assert out.shape == (shape[0], 10)


def test_lenet_layer_order_and_spatial_sizes():
    # 28 -> conv5 -> 24 -> pool3 -> 8 -> conv5 -> 4 -> pool2 -> 2; 50 * 2 * 2 = 200 features.
    model = build_model("lenet")
    kinds = [type(m).__name__ for m in model]
    assert kinds[:5] == ["Conv2d", "ReLU", "MaxPool2d", "BatchNorm2d", "Dropout"]
    x = torch.zeros(1, 1, 28, 28)
    for m in model:
        x = m(x) if not isinstance(m, torch.nn.BatchNorm2d) else x
        if isinstance(m, torch.nn.Flatten):
            assert x.shape == (1, 200)


def test_unknown_model_names_the_value():
    with pytest.raises(ValueError, match="Invalid model value: 'resnet'"):
        build_model("resnet")


def test_same_seed_same_initialization():
    torch.manual_seed(3)
    a = build_model("lenet").state_dict()
    torch.manual_seed(3)
    b = build_model("lenet").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
