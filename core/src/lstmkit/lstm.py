"""Multi-layer LSTM: a drop-in for ``torch.nn.LSTM``."""

from __future__ import annotations

import math

import torch
from torch import _VF, Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from lstmkit.validation import check_constructor_args, check_input, check_lengths, check_state_size

State = tuple[Tensor, Tensor]


class LSTM(nn.Module):
    r"""Multi-layer LSTM with ``torch.nn.LSTM``'s arguments, parameters and outputs.

    For each layer and direction, at step ``t`` (PyTorch's gate order ``i, f, g, o``)::

        i_t = sigma(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)     input gate
        f_t = sigma(W_if x_t + b_if + W_hf h_{t-1} + b_hf)     forget gate
        g_t = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)      candidate cell state
        o_t = sigma(W_io x_t + b_io + W_ho h_{t-1} + b_ho)     output gate
        c_t = f_t * c_{t-1} + i_t * g_t
        h_t = o_t * tanh(c_t)                  (h_t = W_hr h_t with ``proj_size > 0``)

    Layer ``k > 0`` reads layer ``k - 1``'s output, after ``dropout`` in training.
    This is computed by torch's fused kernels (oneDNN on CPU, cuDNN on GPU), exactly
    as ``nn.LSTM`` does; weights, initialisation and outputs are the same.

    Args:
        input_size: features ``I`` of the input.
        hidden_size: features ``H`` of the hidden and cell state.
        num_layers: stacked layers ``L``.
        bias: use ``b_ih`` and ``b_hh``.
        batch_first: input and output are ``(B, T, F)`` instead of ``(T, B, F)``.
        dropout: dropout probability on each layer's output except the last.
        bidirectional: add a backward direction (``D = 2``).
        proj_size: project ``h_t`` to ``P = proj_size`` features (LSTMP); 0 disables.

    Inputs: ``input, hx=None, lengths=None``
        - ``input``: ``(T, B, I)``, ``(B, T, I)`` with ``batch_first``, unbatched ``(T, I)``,
          or a :class:`~torch.nn.utils.rnn.PackedSequence`.
        - ``hx``: ``(h_0, c_0)``, ``(L*D, B, P)`` and ``(L*D, B, H)`` (``B`` dropped when
          unbatched); zeros when omitted.
        - ``lengths``: ``(B,)`` true lengths of a padded batch. Padding is skipped, the
          output is zero there, ``(h_n, c_n)`` is each sequence's state at its true end and
          the backward direction starts there.

    Outputs: ``output, (h_n, c_n)``
        - ``output``: ``(T, B, D*P)`` (``(B, T, D*P)`` with ``batch_first``), or a
          PackedSequence for packed input.
        - ``h_n``: ``(L*D, B, P)``, ``c_n``: ``(L*D, B, H)``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_constructor_args(
            input_size, [hidden_size], num_layers, bias, batch_first, dropout, proj_size
        )
        self.mode = "LSTM"
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        self._all_weights: list[list[str]] = []
        factory = {"device": device, "dtype": dtype}
        gate_size = 4 * hidden_size
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else self.output_size
            for suffix in self._suffixes:
                shapes = {
                    "weight_ih": (gate_size, layer_input),
                    "weight_hh": (gate_size, self.real_hidden_size),
                }
                if bias:
                    shapes |= {"bias_ih": (gate_size,), "bias_hh": (gate_size,)}
                if proj_size > 0:
                    shapes["weight_hr"] = (proj_size, hidden_size)
                names = []
                for kind, shape in shapes.items():
                    name = f"{kind}_l{layer}{suffix}"
                    self.register_parameter(name, nn.Parameter(torch.empty(shape, **factory)))
                    names.append(name)
                self._all_weights.append(names)
        self._flat_weights_names = [name for names in self._all_weights for name in names]
        self.reset_parameters()

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def real_hidden_size(self) -> int:
        """Features ``P`` of ``h``: ``proj_size`` when projecting, else ``hidden_size``."""
        return self.proj_size if self.proj_size > 0 else self.hidden_size

    @property
    def output_size(self) -> int:
        """Features of the output, ``D * P``."""
        return self.num_directions * self.real_hidden_size

    @property
    def _suffixes(self) -> list[str]:
        return ["", "_reverse"][: self.num_directions]

    @property
    def all_weights(self) -> list[list[nn.Parameter]]:
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    def _flat_weights(self) -> list[Tensor]:
        return [getattr(self, name) for name in self._flat_weights_names]

    def reset_parameters(self) -> None:
        """``nn.LSTM``'s init: every parameter from ``U(-1/sqrt(H), 1/sqrt(H))``."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            nn.init.uniform_(weight, -bound, bound)

    def flatten_parameters(self) -> None:
        """Lay the weights out in one cuDNN buffer (as ``nn.LSTM`` does); no-op off GPU."""
        weights = self._flat_weights()
        first = weights[0]
        if not all(
            w.is_cuda and w.dtype == first.dtype and torch.backends.cudnn.is_acceptable(w)
            for w in weights
        ):
            return
        if len({w.data_ptr() for w in weights}) != len(weights):
            return
        import torch.backends.cudnn.rnn as cudnn_rnn

        with torch.cuda.device_of(first), torch.no_grad():
            if torch._use_cudnn_rnn_flatten_weight():
                torch._cudnn_rnn_flatten_weight(
                    weights,
                    len(self._all_weights[0]),
                    self.input_size,
                    cudnn_rnn.get_cudnn_mode(self.mode),
                    self.hidden_size,
                    self.proj_size,
                    self.num_layers,
                    self.batch_first,
                    self.bidirectional,
                )

    def _apply(self, fn, recurse=True):
        result = super()._apply(fn, recurse)
        self.flatten_parameters()
        return result

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s

    def forward(
        self,
        input: Tensor | PackedSequence,
        hx: State | None = None,
        lengths: Tensor | None = None,
    ) -> tuple[Tensor | PackedSequence, State]:
        """Run the LSTM; see the class docstring for shapes."""
        if isinstance(input, PackedSequence):
            if lengths is not None:
                raise ValueError("lengths cannot be combined with a PackedSequence input")
            return self._forward_packed(input, hx)
        if input.dim() not in (2, 3):
            raise ValueError(f"LSTM: Expected input to be 2D or 3D, got {input.dim()}D instead")
        batch_dim = 0 if self.batch_first else 1
        if input.dim() == 2:
            if lengths is not None:
                raise ValueError("lengths needs batched 3-D input, got unbatched 2-D input")
            if hx is not None and (hx[0].dim() != 2 or hx[1].dim() != 2):
                raise RuntimeError(
                    "For unbatched 2-D input, hx and cx should also be 2-D but got "
                    f"({hx[0].dim()}-D, {hx[1].dim()}-D) tensors"
                )
            hx = None if hx is None else (hx[0].unsqueeze(1), hx[1].unsqueeze(1))
            output, (h_n, c_n) = self.forward(input.unsqueeze(batch_dim), hx)
            return output.squeeze(batch_dim), (h_n.squeeze(1), c_n.squeeze(1))
        if hx is not None and (hx[0].dim() != 3 or hx[1].dim() != 3):
            raise RuntimeError(
                "For batched 3-D input, hx and cx should also be 3-D but got "
                f"({hx[0].dim()}-D, {hx[1].dim()}-D) tensors"
            )
        check_input(input, self.weight_ih_l0, self.input_size, packed=False)
        batch_size = input.size(batch_dim)
        hx = self._initial_state(hx, batch_size, input)
        if lengths is None:
            output, h_n, c_n = _VF.lstm(
                input,
                hx,
                self._flat_weights(),
                self.bias,
                self.num_layers,
                self.dropout,
                self.training,
                self.bidirectional,
                self.batch_first,
            )
            return output, (h_n, c_n)
        total_length = input.size(1 - batch_dim)
        check_lengths(lengths, batch_size, total_length)
        packed = pack_padded_sequence(
            input, lengths.cpu(), batch_first=self.batch_first, enforce_sorted=False
        )
        packed_output, state = self._forward_packed(packed, hx)
        output = pad_packed_sequence(
            packed_output, batch_first=self.batch_first, total_length=total_length
        )[0]
        return output, state

    def _forward_packed(
        self, packed: PackedSequence, hx: State | None
    ) -> tuple[PackedSequence, State]:
        """Run on a PackedSequence; ``hx`` and the returned state follow the caller's batch order."""
        data, batch_sizes, sorted_indices, unsorted_indices = packed
        check_input(data, self.weight_ih_l0, self.input_size, packed=True)
        hx = self._initial_state(hx, int(batch_sizes[0]), data)
        hx = _permute_state(hx, sorted_indices)
        output, h_n, c_n = _VF.lstm(
            data,
            batch_sizes,
            hx,
            self._flat_weights(),
            self.bias,
            self.num_layers,
            self.dropout,
            self.training,
            self.bidirectional,
        )
        packed_output = PackedSequence(output, batch_sizes, sorted_indices, unsorted_indices)
        return packed_output, _permute_state((h_n, c_n), unsorted_indices)

    def _initial_state(self, hx: State | None, batch_size: int, like: Tensor) -> State:
        """Zeros when ``hx`` is None, else ``hx`` checked against ``(L*D, B, P)``/``(L*D, B, H)``."""
        layers = self.num_layers * self.num_directions
        h_shape = (layers, batch_size, self.real_hidden_size)
        c_shape = (layers, batch_size, self.hidden_size)
        if hx is None:
            zeros = {"dtype": like.dtype, "device": like.device}
            return torch.zeros(h_shape, **zeros), torch.zeros(c_shape, **zeros)
        check_state_size(hx[0], h_shape, 0)
        check_state_size(hx[1], c_shape, 1)
        return hx


def _permute_state(state: State, permutation: Tensor | None) -> State:
    """Reorder the batch dimension of ``(h, c)`` ``(L*D, B, F)``."""
    if permutation is None:
        return state
    return state[0].index_select(1, permutation), state[1].index_select(1, permutation)
