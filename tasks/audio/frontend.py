"""The audio front-end of the suite's acoustic models: what turns log-mel features into an
encoder's input.

::

    [waves (B, S) -> LogMel] -> feats (B, T, F) -> CMVN -> SpecAugment (training only)
                             -> [time subsampling] -> (B, T', D)

Speech recognition gives it the log-mel stage (waveforms in) and subsamples in its own
encoder stage, which streaming continues chunk by chunk; spoken language ID feeds log-mels
computed by its data and lets the front-end subsample. The global CMVN statistics are
buffers, so they travel with the weights.
"""

from __future__ import annotations

from torch import Tensor, nn

from tasks.audio.features import CMVN, LogMel, SpecAugment


class AudioFrontEnd(nn.Module):
    """Log-mel features ``(B, T, F)`` (or waveforms ``(B, S)`` with ``log_mel``) ->
    ``(B, T', D)``: :class:`CMVN`, :class:`SpecAugment`, then ``subsampling``.

    Args:
        n_mels: ``F`` mel bins of the features.
        cmvn_mean, cmvn_std: ``(F,)`` global statistics of the training set (``None``: 0 and
            1, placeholders that a checkpoint's buffers replace).
        normalization: ``global`` (the training set's statistics; per frame, so it streams)
            or ``utterance`` (each utterance's own statistics, which also remove its
            recording level; needs the whole utterance).
        spec_augment: the training-time augmentation (identity in eval mode).
        subsampling: a :mod:`tasks.audio.subsampling` stage with ``output_size`` and
            ``factor``, or ``None`` (``T' = T``, ``D = F``: the caller subsamples).
        log_mel: computes the features from waveforms in :meth:`forward`; ``None``: the
            inputs are log-mels already.

    Shape: forward(inputs, lengths ``(B,)`` in samples or frames) -> ``(B, T', D)``,
    lengths ``(B,)`` in output frames. Frames past each length are 0 after CMVN.
    """

    def __init__(
        self,
        n_mels: int,
        cmvn_mean: Tensor | None,
        cmvn_std: Tensor | None,
        normalization: str,
        spec_augment: SpecAugment,
        subsampling: nn.Module | None = None,
        log_mel: LogMel | None = None,
    ) -> None:
        super().__init__()
        # registration order keeps the state-dict order of the checkpoints: log_mel first
        self.log_mel = log_mel
        self.cmvn = CMVN(cmvn_mean, cmvn_std, n_mels, normalization)
        self.spec_augment = spec_augment
        self.subsampling = subsampling
        self.n_mels = n_mels
        self.output_size: int = subsampling.output_size if subsampling is not None else n_mels

    def forward(self, inputs: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        if self.log_mel is not None:
            inputs, lengths = self.log_mel(inputs, lengths)
        x = self.normalize(inputs, lengths)
        if self.subsampling is None:
            return x, lengths
        return self.subsampling(x, lengths)

    def normalize(self, feats: Tensor, lengths: Tensor) -> Tensor:
        """Log-mels ``(B, T, F)`` (e.g. cached by a datamodule) -> CMVN, then SpecAugment in
        training mode; no subsampling."""
        return self.spec_augment(self.cmvn(feats, lengths), lengths)
