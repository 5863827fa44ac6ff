"""lstmkit.LSTM raises what torch.nn.LSTM raises, for the same bad arguments."""

import pytest
import torch

import lstmkit

BAD_CONSTRUCTOR_ARGS = [
    {"input_size": 3, "hidden_size": 4, "dropout": 1.5},
    {"input_size": 3, "hidden_size": 4, "dropout": True},
    {"input_size": 3, "hidden_size": 4, "bias": 1},
    {"input_size": 3, "hidden_size": 4, "batch_first": "yes"},
    {"input_size": 3.0, "hidden_size": 4},
    {"input_size": 0, "hidden_size": 4},
    {"input_size": 3, "hidden_size": 4.0},
    {"input_size": 3, "hidden_size": 0},
    {"input_size": 3, "hidden_size": 4, "num_layers": 0},
    {"input_size": 3, "hidden_size": 4, "proj_size": -1},
    {"input_size": 3, "hidden_size": 4, "proj_size": 4},
]


def raised(factory):
    with pytest.raises(Exception) as info:
        factory()
    return type(info.value), str(info.value)


@pytest.mark.parametrize("kwargs", BAD_CONSTRUCTOR_ARGS)
def test_constructor_errors_match(kwargs):
    assert raised(lambda: lstmkit.LSTM(**kwargs)) == raised(lambda: torch.nn.LSTM(**kwargs))


def test_dropout_with_one_layer_warns_like_nn_lstm():
    with pytest.warns(UserWarning, match="num_layers greater than 1"):
        lstmkit.LSTM(3, 4, dropout=0.2)


def forward_cases():
    x3 = torch.randn(5, 2, 3)
    return {
        "4d input": (torch.randn(1, 5, 2, 3), None),
        "wrong feature size": (torch.randn(5, 2, 4), None),
        "wrong dtype": (x3.double(), None),
        "wrong h0 shape": (x3, (torch.zeros(1, 3, 4), torch.zeros(1, 2, 4))),
        "wrong c0 shape": (x3, (torch.zeros(1, 2, 4), torch.zeros(2, 2, 4))),
        "2d state for batched input": (x3, (torch.zeros(2, 4), torch.zeros(2, 4))),
        "3d state for unbatched input": (
            torch.randn(5, 3),
            (torch.zeros(1, 1, 4), torch.zeros(1, 1, 4)),
        ),
    }


@pytest.mark.parametrize("case", list(forward_cases()))
def test_forward_errors_match(case):
    x, hx = forward_cases()[case]
    torch.manual_seed(0)
    reference = torch.nn.LSTM(3, 4)
    ours = lstmkit.LSTM(3, 4)
    assert raised(lambda: ours(x, hx)) == raised(lambda: reference(x, hx))


@pytest.mark.parametrize(
    "lengths, message",
    [
        (torch.tensor([5, 6]), r"lengths must lie in \[1, 5\]"),
        (torch.tensor([0, 5]), r"lengths must lie in \[1, 5\]"),
        (torch.tensor([5, 5, 5]), "one entry per sequence"),
        (torch.tensor([5.0, 4.0]), "must hold integers"),
    ],
)
def test_bad_lengths_are_reported(lengths, message):
    with pytest.raises(ValueError, match=message):
        lstmkit.LSTM(3, 4)(torch.randn(5, 2, 3), lengths=lengths)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (
            {"recurrent_dropout": 1.0},
            ValueError,
            r"recurrent_dropout must be a probability in \[0, 1\)",
        ),
        ({"zoneout": -0.1}, ValueError, "zoneout must be a probability"),
        ({"zoneout": True}, ValueError, "zoneout must be a probability"),
        ({"layer_norm": 1}, TypeError, "layer_norm must be a bool"),
        ({"peephole": [True]}, ValueError, "peephole has 1 entries but the LSTM has 2 layers"),
        ({"residual": [True, False]}, ValueError, r"residual\[0\]"),
        (
            {"residual": [False, True], "hidden_size": [4, 3]},
            ValueError,
            r"residual\[1\] needs layer 1's input and output",
        ),
        ({"hidden_size": [4, 4, 4]}, ValueError, "hidden_size lists 3 layers but num_layers=2"),
        ({"hidden_size": [4, 0]}, ValueError, "hidden_size must be greater than zero"),
        (
            {"hidden_size": [4, 2], "proj_size": 2},
            ValueError,
            "proj_size has to be smaller than hidden_size",
        ),
        ({"recurrent_init": "xavier"}, ValueError, "recurrent_init must be one of"),
    ],
)
def test_variant_arguments_are_checked(kwargs, error, message):
    with pytest.raises(error, match=message):
        lstmkit.LSTM(
            **({"input_size": 3, "hidden_size": 4, "num_layers": 2, "bidirectional": True} | kwargs)
        )


def test_per_layer_states_are_checked_by_layer():
    module = lstmkit.LSTM(3, [5, 4])
    x = torch.randn(6, 2, 3)
    with pytest.raises(RuntimeError, match="list of 2 tensors"):
        module(x, (torch.zeros(2, 2, 5), torch.zeros(2, 2, 5)))
    with pytest.raises(
        RuntimeError, match=r"Expected hidden\[1\]\[1\] size \(1, 2, 4\), got \[1, 2, 5\]"
    ):
        module(
            x,
            (
                [torch.zeros(1, 2, 5), torch.zeros(1, 2, 4)],
                [torch.zeros(1, 2, 5), torch.zeros(1, 2, 5)],
            ),
        )
