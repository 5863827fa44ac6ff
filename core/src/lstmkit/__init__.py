"""lstmkit: fast, drop-in LSTM layers for PyTorch."""

from lstmkit.cell import LSTMCell
from lstmkit.lstm import LSTM
from lstmkit.reference import reference_lstm_layer

__all__ = ["LSTM", "LSTMCell", "reference_lstm_layer"]
__version__ = "0.1.0"
