"""Image captioning: rendered shapes corpus, CNN encoders, attention-LSTM captioner, BLEU/CIDEr-D."""
