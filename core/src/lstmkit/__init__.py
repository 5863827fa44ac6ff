"""lstmkit: fast, drop-in LSTM layers for PyTorch."""

from lstmkit.attention import AdditiveAttention, MultiplicativeAttention
from lstmkit.beam_search import Hypothesis
from lstmkit.cell import LSTMCell
from lstmkit.decoder import AttentionLSTMDecoder, doubly_stochastic_penalty
from lstmkit.gate_recording import record_gates
from lstmkit.gate_trace import GateTrace
from lstmkit.lstm import LSTM
from lstmkit.reference import reference_lstm_layer

__all__ = [
    "LSTM",
    "AdditiveAttention",
    "AttentionLSTMDecoder",
    "GateTrace",
    "Hypothesis",
    "LSTMCell",
    "MultiplicativeAttention",
    "doubly_stochastic_penalty",
    "record_gates",
    "reference_lstm_layer",
]
__version__ = "0.1.0"
