"""Core LSTM benchmark (lstmkit vs torch.nn.LSTM); same options as ``python -m lstmkit.bench``."""

from lstmkit.bench import main

if __name__ == "__main__":
    main()
