"""lstmkit: fast, drop-in LSTM layers for PyTorch."""

from lstmkit.reference import reference_lstm_layer

__all__ = ["reference_lstm_layer"]
__version__ = "0.1.0"
