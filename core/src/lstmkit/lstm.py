"""Multi-layer LSTM: a drop-in for ``torch.nn.LSTM``, plus variants."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import _VF, Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from lstmkit.base import LSTMBase
from lstmkit.direction import RECURRENT_INITS
from lstmkit.dispatch import Call, DispatchPlan, Engine, classify_call, plan_lstm
from lstmkit.gate_trace import LayerGates
from lstmkit.lengths import lengths_to_mask, pack, unpack
from lstmkit.recurrence import run_direction
from lstmkit.validation import (
    check_constructor_args,
    check_input,
    check_lengths,
    check_state_size,
)
from lstmkit.variants import LayerVariants, per_layer

# (h, c): tensors (L*D, B, P) and (L*D, B, H); with per-layer hidden sizes, lists of
# one (D, B, P_k) / (D, B, H_k) tensor per layer.
State = tuple[Tensor, Tensor] | tuple[list[Tensor], list[Tensor]]


@functools.cache
def _cpu_has_bf16_lstm() -> bool:
    """Whether this CPU's oneDNN builds a bfloat16 LSTM (it needs AVX-512 BF16 or AMX)."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def _as_float32(value: Any) -> Any:
    """Floating tensors (also inside lists and tuples) as float32; the rest unchanged."""
    if isinstance(value, Tensor):
        return value.float() if value.is_floating_point() else value
    if isinstance(value, list | tuple):
        return type(value)(_as_float32(v) for v in value)
    return value


def _kernel_lstm(input: Tensor, *args: Any) -> tuple[Tensor, Tensor, Tensor]:
    """``_VF.lstm``, torch's fused kernel. Under CPU bfloat16 autocast on a CPU without a
    bfloat16 oneDNN LSTM, where ``nn.LSTM`` fails ("could not create a primitive
    descriptor"), it runs in float32 and returns bfloat16 tensors, as autocast would."""
    if (
        input.device.type != "cpu"
        or not torch.is_autocast_enabled("cpu")
        or torch.get_autocast_dtype("cpu") != torch.bfloat16
        or _cpu_has_bf16_lstm()
    ):
        return _VF.lstm(input, *args)
    with torch.autocast("cpu", enabled=False):
        outputs = _VF.lstm(input.float(), *_as_float32(args))
    return tuple(t.to(torch.bfloat16) for t in outputs)  # type: ignore[return-value]


class LSTM(LSTMBase):
    r"""Multi-layer LSTM with ``torch.nn.LSTM``'s arguments, parameters and outputs.

    For each layer and direction, at step ``t`` (PyTorch's gate order ``i, f, g, o``)::

        i_t = sigma(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)     input gate
        f_t = sigma(W_if x_t + b_if + W_hf h_{t-1} + b_hf)     forget gate
        g_t = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)      candidate cell state
        o_t = sigma(W_io x_t + b_io + W_ho h_{t-1} + b_ho)     output gate
        c_t = f_t * c_{t-1} + i_t * g_t
        h_t = o_t * tanh(c_t)                  (h_t = W_hr h_t with ``proj_size > 0``)

    Layer ``k > 0`` reads layer ``k - 1``'s output, after ``dropout`` in training.
    With only ``nn.LSTM``'s arguments this is computed by torch's LSTM kernel (oneDNN on
    CPU, cuDNN on GPU) exactly as ``nn.LSTM`` does, with the same initialisation;
    ``lengths`` on CPU runs the masked time loop of lstmkit's kernel (:mod:`lstmkit.kernels`)
    instead of packing: same results, and training avoids the per-step ops of the packed CPU
    path.

    Variants (keyword-only; ``layer_norm``, ``peephole``, ``recurrent_dropout``,
    ``zoneout`` and ``residual`` take one value or a list with one value per layer):

    - ``layer_norm``: ``gx_t = N_x(W_ih x_t) + b``, ``gh_t = N_h(W_hh h_{t-1})``,
      ``h_t = o_t * tanh(N_c(c_t))`` (Ba et al. 2016). ``N_x`` and the biases are applied
      to all steps at once, outside the time loop.
    - ``peephole``: ``i_t``, ``f_t`` also see ``p_i * c_{t-1}``, ``p_f * c_{t-1}``;
      ``o_t`` sees ``p_o * c_t``.
    - ``recurrent_dropout``: ``h_{t-1} * m`` with one mask ``m`` per sequence, layer and
      direction (variational dropout); training only.
    - ``zoneout``: ``h_t = z_h * h_{t-1} + (1 - z_h) * h_t`` and the same for ``c_t``;
      ``z ~ Bernoulli(p)`` per step and unit in training, ``z = p`` in evaluation.
    - ``residual``: layer ``k > 0`` outputs ``LSTM_k(x) + x`` where its input and output
      sizes match (a list entry of ``True`` requires that they match).
    - ``hidden_size`` as a list: one hidden size per layer. ``(h_0, c_0)`` and
      ``(h_n, c_n)`` are then lists of one ``(D, B, P_k)`` / ``(D, B, H_k)`` tensor per layer.
    - ``forget_bias``: initial ``b_if + b_hf``; defaults to ``1.0`` as soon as any other
      keyword option is used, and to ``nn.LSTM``'s init otherwise.
    - ``recurrent_init``: ``"uniform"`` (``nn.LSTM``'s) or ``"orthogonal"`` (each gate's
      block of ``W_hh`` orthogonal).

    Layers whose step is the plain one (no layer norm, peephole, recurrent dropout or
    zoneout; in evaluation, where recurrent dropout is the identity, also layers with recurrent
    dropout alone) still run on torch's kernel; the others run lstmkit's kernel
    (:func:`lstmkit.kernels.lstm_layer`). :meth:`dispatch_plan` shows which engine
    (:mod:`lstmkit.dispatch`) computes each layer for each kind of call.

    Args:
        input_size: features ``I`` of the input.
        hidden_size: features ``H`` of the cell state, or a list with one per layer.
        num_layers: stacked layers ``L`` (``len(hidden_size)`` for a list).
        bias: use ``b_ih`` and ``b_hh``.
        batch_first: input and output are ``(B, T, F)`` instead of ``(T, B, F)``.
        dropout: dropout probability on each layer's output except the last.
        bidirectional: add a backward direction (``D = 2``).
        proj_size: project ``h_t`` to ``P = proj_size`` features (LSTMP); 0 disables.

    Inputs: ``input, hx=None, lengths=None, return_gates=False``
        - ``input``: ``(T, B, I)``, ``(B, T, I)`` with ``batch_first``, unbatched ``(T, I)``,
          or a :class:`~torch.nn.utils.rnn.PackedSequence`.
        - ``hx``: ``(h_0, c_0)``, ``(L*D, B, P)`` and ``(L*D, B, H)`` (``B`` dropped when
          unbatched); zeros when omitted. Passing ``(h_n, c_n)`` of one chunk of a
          sequence as ``hx`` of the next gives the result of running it whole.
        - ``lengths``: ``(B,)`` true lengths of a padded batch (a tensor or a list).
          Padding is skipped, the output is zero there, ``(h_n, c_n)`` is each sequence's
          state at its true end and the backward direction starts there.
        - ``return_gates``: also return what the gates did (below). Runs every layer
          through the reference loop (:func:`lstmkit.reference_lstm_layer`), which is
          slow; without it nothing is recorded and the other engines run as usual.

    Outputs: ``output, (h_n, c_n)``, then ``gates`` with ``return_gates``
        - ``output``: ``(T, B, D*P)`` (``(B, T, D*P)`` with ``batch_first``), or a
          PackedSequence for packed input.
        - ``h_n``: ``(L*D, B, P)``, ``c_n``: ``(L*D, B, H)``.
        - ``gates``: ``gates[layer][direction]`` is a :class:`~lstmkit.GateTrace` with the
          input, forget and output gates ``i, f, o``, the candidate ``g`` and the cell state
          ``c`` of every step, each ``(T, B, H_k)`` (``(B, T, H_k)`` with ``batch_first``),
          zero past each sequence's length.
    """

    error_name = "LSTM"

    def __init__(
        self,
        input_size: int,
        hidden_size: int | Sequence[int],
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        layer_norm: bool | Sequence[bool] = False,
        peephole: bool | Sequence[bool] = False,
        recurrent_dropout: float | Sequence[float] = 0.0,
        zoneout: float | Sequence[float] = 0.0,
        residual: bool | Sequence[bool] = False,
        forget_bias: float | None = None,
        recurrent_init: str = "uniform",
    ) -> None:
        hidden_sizes, num_layers = _per_layer_hidden_sizes(hidden_size, num_layers)
        check_constructor_args(
            input_size, hidden_sizes, num_layers, bias, batch_first, dropout, proj_size
        )
        layer_variants = [
            LayerVariants(*values)
            for values in zip(
                per_layer(layer_norm, num_layers, "layer_norm"),
                per_layer(peephole, num_layers, "peephole"),
                per_layer(recurrent_dropout, num_layers, "recurrent_dropout"),
                per_layer(zoneout, num_layers, "zoneout"),
                strict=True,
            )
        ]
        nn_arguments_only = (
            isinstance(hidden_size, int)
            and all(v == LayerVariants() for v in layer_variants)
            and not any(per_layer(residual, num_layers, "residual"))
            and recurrent_init == RECURRENT_INITS[0]
        )
        super().__init__(input_size, bias, forget_bias, recurrent_init, nn_arguments_only)
        self.mode = "LSTM"
        self.hidden_size = hidden_size
        self.hidden_sizes = hidden_sizes
        self.num_layers = num_layers
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        self.layer_variants = layer_variants
        self.residual = self._residual_layers(residual)
        # States are nn.LSTM's (L*D, B, F) tensors unless layers differ in size.
        self._uniform_state = len(set(hidden_sizes)) == 1
        factory = {"device": device, "dtype": dtype}
        self._all_weights: list[list[str]] = []
        for layer, variants in enumerate(self.layer_variants):
            layer_input = input_size if layer == 0 else self._layer_output_size(layer - 1)
            for suffix in self._suffixes(layer):
                self._all_weights.append(
                    self._register_direction(
                        suffix, layer_input, hidden_sizes[layer], proj_size, variants, factory
                    )
                )
        self.reset_parameters()
        self._plan_dispatch()
        self.flatten_parameters()

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def output_size(self) -> int:
        """Features of the output, ``D * P`` of the last layer."""
        return self._layer_output_size(self.num_layers - 1)

    @property
    def all_weights(self) -> list[list[nn.Parameter]]:
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    def _suffixes(self, layer: int) -> list[str]:
        return [f"_l{layer}", f"_l{layer}_reverse"][: self.num_directions]

    def _state_size(self, layer: int) -> int:
        """Features ``P_k`` of ``h`` in ``layer``: ``proj_size``, else its hidden size."""
        return self.proj_size if self.proj_size > 0 else self.hidden_sizes[layer]

    def _layer_output_size(self, layer: int) -> int:
        return self.num_directions * self._state_size(layer)

    def _residual_layers(self, residual: bool | Sequence[bool]) -> list[bool]:
        """Which layers add their input to their output; checks that the sizes match."""
        requested = per_layer(residual, self.num_layers, "residual")
        explicit = isinstance(residual, Sequence)
        layers = []
        for layer, wanted in enumerate(requested):
            if not isinstance(wanted, bool):
                raise TypeError(f"residual must be a bool or a list of bools, got {wanted!r}")
            fits = layer > 0 and self._layer_output_size(layer - 1) == self._layer_output_size(
                layer
            )
            if wanted and explicit and not fits:
                raise ValueError(
                    f"residual[{layer}] needs layer {layer}'s input and output sizes to match"
                    + (" and a layer below it" if layer == 0 else "")
                )
            layers.append(wanted and fits)
        return layers

    def _flat_weights(self, layers: range | None = None) -> list[Tensor]:
        """``nn.LSTM``'s flat weight list, for all layers or the given ones."""
        layers = range(self.num_layers) if layers is None else layers
        directions = self.num_directions
        return [
            getattr(self, name)
            for layer in layers
            for names in self._all_weights[layer * directions : (layer + 1) * directions]
            for name in names
        ]

    def flatten_parameters(self) -> None:
        """Lay the weights out in one cuDNN buffer (as ``nn.LSTM`` does) where the whole stack
        can be one call of torch's kernel (in either mode); no-op off GPU."""
        if not any(plan.stacked for plan in self._plans.values()):
            return
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
                    self.hidden_sizes[0],
                    self.proj_size,
                    self.num_layers,
                    self.batch_first,
                    self.bidirectional,
                )

    def _make_plan(self, device_type: str, training: bool) -> DispatchPlan:
        plain = [variants.plain_step(training) for variants in self.layer_variants]
        stackable = self._uniform_state and not any(self.residual)
        return plan_lstm(plain, stackable, device_type, training)

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
        s += self._variants_repr(self.layer_variants)
        if any(self.residual):
            s += f", residual={self.residual}"
        if self.recurrent_init != RECURRENT_INITS[0]:
            s += f", recurrent_init={self.recurrent_init!r}"
        return s

    def forward(
        self,
        input: Tensor | PackedSequence,
        hx: State | None = None,
        lengths: Tensor | None = None,
        return_gates: bool = False,
    ) -> tuple[Tensor | PackedSequence, State] | tuple[Tensor, State, list[LayerGates]]:
        """Run the LSTM; see the class docstring for shapes."""
        if isinstance(input, PackedSequence):
            if return_gates:
                raise ValueError(
                    "return_gates needs a padded input: pad the PackedSequence and pass lengths="
                )
            if lengths is not None:
                raise ValueError("lengths cannot be combined with a PackedSequence input")
            return self._forward_packed(input, hx)
        self._check_rank(input, (2, 3))
        batch_dim = 0 if self.batch_first else 1
        if input.dim() == 2:
            if lengths is not None:
                raise ValueError("lengths needs batched 3-D input, got unbatched 2-D input")
            if hx is not None and _state_ranks(hx) != (2, 2):
                raise RuntimeError(
                    "For unbatched 2-D input, hx and cx should also be 2-D but got "
                    "({}-D, {}-D) tensors".format(*_state_ranks(hx))
                )
            hx = None if hx is None else _map_state(lambda t: t.unsqueeze(1), hx)
            output, state, *gates = self.forward(
                input.unsqueeze(batch_dim), hx, return_gates=return_gates
            )
            unbatched = output.squeeze(batch_dim), _map_state(lambda t: t.squeeze(1), state)
            if return_gates:
                return *unbatched, _map_gates(lambda t: t.squeeze(batch_dim), gates[0])
            return unbatched
        if hx is not None and _state_ranks(hx) != (3, 3):
            raise RuntimeError(
                "For batched 3-D input, hx and cx should also be 3-D but got "
                "({}-D, {}-D) tensors".format(*_state_ranks(hx))
            )
        check_input(input, self.weight_ih_l0, self.input_size, packed=False)
        batch_size = input.size(batch_dim)
        hx = self._initial_state(hx, batch_size, input)
        total_length = input.size(1 - batch_dim)
        if lengths is not None:
            lengths = torch.as_tensor(lengths)
            check_lengths(lengths, batch_size, total_length)
        call = classify_call(gates=return_gates, lengths=lengths is not None)
        if call in self.dispatch_plan().stacked:
            return self._torch_stack(input, hx, lengths, total_length)
        x = input.transpose(0, 1) if self.batch_first else input
        output, state, gates = self._run_layers(x, hx, lengths, call)
        if self.batch_first:
            output = output.transpose(0, 1)
            gates = _map_gates(lambda t: t.transpose(0, 1), gates)
        return (output, state, gates) if return_gates else (output, state)

    def _torch_stack(
        self, input: Tensor, hx: State, lengths: Tensor | None, total_length: int
    ) -> tuple[Tensor, State]:
        """Every layer in one call of torch's kernel on a padded batch, as ``nn.LSTM``;
        packed for ``lengths``."""
        if lengths is None:
            options = self._kernel_options(self.num_layers, self.dropout)
            output, h_n, c_n = _kernel_lstm(
                input, hx, self._flat_weights(), *options, self.batch_first
            )
            return output, (h_n, c_n)
        packed = pack_padded_sequence(
            input, lengths.cpu(), batch_first=self.batch_first, enforce_sorted=False
        )
        packed_output, state = self._torch_stack_packed(packed, hx)
        output = pad_packed_sequence(
            packed_output, batch_first=self.batch_first, total_length=total_length
        )[0]
        return output, state

    def _forward_packed(
        self, packed: PackedSequence, hx: State | None
    ) -> tuple[PackedSequence, State]:
        """A PackedSequence: one call of torch's kernel where the plan stacks the layers,
        else unpacked, run layer by layer with lengths and packed alike."""
        data, batch_sizes, sorted_indices, unsorted_indices = packed
        check_input(data, self.weight_ih_l0, self.input_size, packed=True)
        call = classify_call(gates=False, packed=True)
        if call in self.dispatch_plan().stacked:
            hx = self._initial_state(hx, int(batch_sizes[0]), data)
            return self._torch_stack_packed(packed, hx)
        padded, lengths = pad_packed_sequence(packed)
        hx = self._initial_state(hx, padded.shape[1], data)
        output, state, _ = self._run_layers(padded, hx, lengths, call)
        if sorted_indices is not None:
            output = output.index_select(1, sorted_indices)
            lengths = lengths[sorted_indices.cpu()]
        output_data = pack_padded_sequence(output, lengths).data
        packed_output = PackedSequence(output_data, batch_sizes, sorted_indices, unsorted_indices)
        return packed_output, state

    def _torch_stack_packed(
        self, packed: PackedSequence, hx: State
    ) -> tuple[PackedSequence, State]:
        """Every layer in one call of torch's packed kernel; states in the caller's order."""
        data, batch_sizes, sorted_indices, unsorted_indices = packed
        output, h_n, c_n = _kernel_lstm(
            data,
            batch_sizes,
            _permute_state(hx, sorted_indices),
            self._flat_weights(),
            *self._kernel_options(self.num_layers, self.dropout),
        )
        packed_output = PackedSequence(output, batch_sizes, sorted_indices, unsorted_indices)
        return packed_output, _permute_state((h_n, c_n), unsorted_indices)

    def _run_layers(
        self, x: Tensor, hx: State, lengths: Tensor | None, call: Call
    ) -> tuple[Tensor, State, list[LayerGates]]:
        """Run the stack one layer at a time on a time-major batch ``(T, B, I)``, each layer
        on its engine for ``call``; the gate traces (time-major) for :attr:`Call.GATES`,
        else an empty list."""
        directions = self.num_directions
        if isinstance(hx[0], Tensor):
            layer_states = [
                (
                    hx[0][k * directions : (k + 1) * directions],
                    hx[1][k * directions : (k + 1) * directions],
                )
                for k in range(self.num_layers)
            ]
        else:
            layer_states = list(zip(hx[0], hx[1], strict=True))
        mask = None if lengths is None else lengths_to_mask(lengths.to(x.device), x.shape[0])
        plan = self.dispatch_plan()
        h_n, c_n, gates = [], [], []
        for layer, (h0, c0) in enumerate(layer_states):
            layer_input = x
            if layer > 0 and self.dropout > 0:
                layer_input = F.dropout(x, self.dropout, self.training)
            engine = plan.engine(layer, call)
            if engine is Engine.TORCH:
                output, h, c = self._torch_layer(layer, layer_input, h0, c0, lengths)
            else:
                output, h, c, *traces = self._loop_layer(
                    layer, layer_input, h0, c0, lengths, mask, engine, call is Call.GATES
                )
                gates.extend(traces)
            # x_{k+1} = LSTM_k(dropout(x_k)) + x_k: the skip path bypasses the dropout.
            x = output + x if self.residual[layer] else output
            h_n.append(h)
            c_n.append(c)
        if isinstance(hx[0], Tensor):
            return x, (torch.cat(h_n), torch.cat(c_n)), gates
        return x, (h_n, c_n), gates

    def _torch_layer(
        self, layer: int, x: Tensor, h0: Tensor, c0: Tensor, lengths: Tensor | None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """One plain layer (both directions) in one call of torch's kernel; packs for
        ``lengths``."""
        weights = self._flat_weights(range(layer, layer + 1))
        options = self._kernel_options(1, 0.0)
        if lengths is None:
            return _kernel_lstm(x, (h0, c0), weights, *options, False)
        packed = pack(x, lengths)
        output, h, c = _kernel_lstm(
            packed.data,
            packed.batch_sizes,
            _permute_state((h0, c0), packed.sorted_indices),
            weights,
            *options,
        )
        packed_output = PackedSequence(
            output, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices
        )
        output = unpack(packed_output, x.shape[0])
        return output, *_permute_state((h, c), packed.unsorted_indices)

    def _kernel_options(self, num_layers: int, dropout: float) -> tuple:
        """The arguments of ``_VF.lstm`` after the weights for ``num_layers`` layers with
        ``dropout`` between them (and before ``batch_first`` for padded input)."""
        return (self.bias, num_layers, dropout, self.training, self.bidirectional)

    def _loop_layer(
        self,
        layer: int,
        x: Tensor,
        h0: Tensor,
        c0: Tensor,
        lengths: Tensor | None,
        mask: Tensor | None,
        engine: Engine,
        return_gates: bool,
    ) -> tuple[Tensor, Tensor, Tensor] | tuple[Tensor, Tensor, Tensor, LayerGates]:
        """One layer on lstmkit's kernel or the reference loop, a direction at a time
        (recording each direction's gates with ``return_gates``)."""
        results = [
            run_direction(
                x,
                self._weights(suffix),
                h0[direction],
                c0[direction],
                self.layer_variants[layer],
                reverse=direction == 1,
                lengths=lengths,
                mask=mask,
                training=self.training,
                engine=engine,
                return_gates=return_gates,
            )
            for direction, suffix in enumerate(self._suffixes(layer))
        ]
        outputs, hs, cs, *traces = zip(*results, strict=True)
        # A single direction's output needs no concatenation (which would copy it).
        output = outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=-1)
        return output, torch.stack(hs), torch.stack(cs), *(list(t) for t in traces)

    def _initial_state(self, hx: State | None, batch_size: int, like: Tensor) -> State:
        """Zeros when ``hx`` is None, else ``hx`` checked against the expected shapes."""
        directions = self.num_directions
        shapes = [
            ((directions, batch_size, self._state_size(k)), (directions, batch_size, size))
            for k, size in enumerate(self.hidden_sizes)
        ]
        zeros = {"dtype": like.dtype, "device": like.device}
        if self._uniform_state:
            layers = self.num_layers * directions
            h_shape = (layers, batch_size, self._state_size(0))
            c_shape = (layers, batch_size, self.hidden_sizes[0])
            if hx is None:
                return torch.zeros(h_shape, **zeros), torch.zeros(c_shape, **zeros)
            check_state_size(hx[0], h_shape, "hidden[0]")
            check_state_size(hx[1], c_shape, "hidden[1]")
            return hx
        if hx is None:
            return (
                [torch.zeros(h_shape, **zeros) for h_shape, _ in shapes],
                [torch.zeros(c_shape, **zeros) for _, c_shape in shapes],
            )
        for part in (0, 1):
            if isinstance(hx[part], Tensor) or len(hx[part]) != self.num_layers:
                raise RuntimeError(
                    f"Expected hidden[{part}] to be a list of {self.num_layers} tensors, "
                    "one per layer (the LSTM has per-layer hidden sizes)"
                )
            for layer, state in enumerate(hx[part]):
                check_state_size(state, shapes[layer][part], f"hidden[{part}][{layer}]")
        return hx


def _per_layer_hidden_sizes(
    hidden_size: int | Sequence[int], num_layers: int
) -> tuple[list[int], int]:
    """``(hidden size of each layer, number of layers)``; a list sets the number of layers."""
    if not isinstance(hidden_size, Sequence):
        return [hidden_size] * max(num_layers, 1), num_layers
    if num_layers not in (1, len(hidden_size)):
        raise ValueError(
            f"hidden_size lists {len(hidden_size)} layers but num_layers={num_layers}; "
            "leave num_layers out or make them agree"
        )
    return list(hidden_size), len(hidden_size)


def _map_state(fn: Callable[[Tensor], Tensor], state: State) -> State:
    """Apply ``fn`` to every tensor of a state, keeping its form."""
    return tuple(fn(part) if isinstance(part, Tensor) else [fn(t) for t in part] for part in state)


def _map_gates(fn: Callable[[Tensor], Tensor], gates: list[LayerGates]) -> list[LayerGates]:
    """Apply ``fn`` to every tensor of every layer-direction's trace."""
    return [[trace.map(fn) for trace in layer] for layer in gates]


def _state_ranks(state: State) -> tuple[int, int]:
    """Rank of ``h`` and ``c`` (of their first layer for per-layer lists)."""
    return tuple(part.dim() if isinstance(part, Tensor) else part[0].dim() for part in state)


def _permute_state(
    state: tuple[Tensor, Tensor], permutation: Tensor | None
) -> tuple[Tensor, Tensor]:
    """Reorder the batch dimension of ``(h, c)`` ``(L*D, B, F)``."""
    if permutation is None:
        return state
    return state[0].index_select(1, permutation), state[1].index_select(1, permutation)
