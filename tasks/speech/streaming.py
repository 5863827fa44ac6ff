"""Streaming recognition: audio in chunks through a unidirectional recogniser's carried state.

Every stage is made chunk-exact, so the streamed log-probabilities equal the
whole-utterance ones:

- log-mel: frame ``j`` is centred on sample ``j * hop`` and reads ``[j*hop - n_fft/2,
  j*hop + n_fft/2)`` (reflect-padded at both utterance ends). A frame is emitted once its
  window is complete; the buffer keeps two hops of left context (>= ``n_fft/2``) so every
  later frame is computed from the same samples as in the whole utterance.
- CMVN is per frame; frame stacking and the pyramid reductions are chunk-aligned when the
  encoder is fed multiples of ``frame_reduction`` frames (the tail is zero-padded, exactly
  as in the whole-utterance batch).
- the unidirectional lstmkit LSTM continues from the carried ``(h, c)`` of each block.
"""

from __future__ import annotations

import torch
from torch import Tensor

from tasks.audio.subsampling import FrameStacking
from tasks.speech.model import SpeechRecognizer, State

CONTEXT_HOPS = 2


class StreamingRecognizer:
    """Feed a waveform in chunks; get the new CTC log-probabilities after each chunk.

    Args:
        recognizer: a :class:`SpeechRecognizer` with a unidirectional encoder and
            chunk-aligned (``stack``/``none``) subsampling, in eval mode.

    Call :meth:`accept` for each chunk ``(S_chunk,)`` and :meth:`finish` at the end; each
    returns the log-probabilities ``(T_new, V)`` of the output frames completed by it.
    """

    def __init__(self, recognizer: SpeechRecognizer) -> None:
        if recognizer.encoder.bidirectional or not isinstance(
            recognizer.subsampling, FrameStacking
        ):
            raise ValueError(
                "streaming needs a unidirectional encoder with frame-stacking subsampling "
                "(encoder=uni_lstm); this model is bidirectional or uses conv subsampling"
            )
        if recognizer.frontend.cmvn.normalization != "global":
            raise ValueError(
                "streaming needs per-frame (global) CMVN; this model normalises each whole "
                "utterance (encoder.normalization=utterance)"
            )
        self.recognizer = recognizer
        log_mel = recognizer.frontend.log_mel
        self.hop = log_mel.hop_length
        self.half_window = log_mel.mel.spectrogram.n_fft // 2
        if CONTEXT_HOPS * self.hop < self.half_window:
            raise ValueError("streaming needs hop_length * 2 >= n_fft / 2")
        self.reset()

    def reset(self) -> None:
        self.buffer = torch.zeros(0)
        self.buffer_start = 0  # sample index of buffer[0]; a multiple of hop
        self.samples = 0
        self.next_frame = 0  # global index of the next feature frame to emit
        self.pending = torch.zeros(0, self.recognizer.frontend.n_mels)
        self.state: State | None = None

    @torch.inference_mode()
    def accept(self, chunk: Tensor) -> Tensor:
        """Append ``chunk (S,)`` of audio; returns log-probs ``(T_new, V)``."""
        self.buffer = torch.cat([self.buffer, chunk.float().flatten()])
        self.samples += chunk.numel()
        # frames whose window [j*hop - n_fft/2, j*hop + n_fft/2) has fully arrived
        ready = (self.samples - self.half_window) // self.hop + 1
        if ready <= self.next_frame or self.buffer.numel() <= self.half_window:
            return self._empty()
        return self._encode(self._features(ready), final=False)

    @torch.inference_mode()
    def finish(self) -> Tensor:
        """End of stream: the remaining frames (right edge reflect-padded as in the whole
        utterance) and the zero-padded tail of the encoder input."""
        if self.samples <= self.half_window:
            raise ValueError(
                f"audio of {self.samples} samples is too short: needs more than "
                f"{self.half_window} samples"
            )
        total = self.samples // self.hop + 1
        out = self._encode(self._features(total), final=True)
        self.reset()
        return out

    def _features(self, until: int) -> Tensor:
        """Normalised feature frames ``next_frame..until-1`` ``(n, F)``."""
        frontend = self.recognizer.frontend
        length = torch.tensor([self.buffer.numel()])
        feats, _ = frontend.log_mel(self.buffer[None], length)
        first = self.next_frame - self.buffer_start // self.hop
        feats = feats[0, first : first + until - self.next_frame]
        self.next_frame = until
        self.buffer_start = max(0, (self.next_frame - CONTEXT_HOPS) * self.hop)
        keep_from = self.buffer_start - (self.samples - self.buffer.numel())
        self.buffer = self.buffer[keep_from:]
        return frontend.cmvn(feats[None])[0]

    def _encode(self, feats: Tensor, final: bool) -> Tensor:
        self.pending = torch.cat([self.pending, feats])
        step = self.recognizer.frame_reduction
        usable = self.pending.shape[0] if final else self.pending.shape[0] // step * step
        if usable == 0:
            return self._empty()
        x, self.pending = self.pending[:usable], self.pending[usable:]
        log_probs, _, self.state = self.recognizer.from_features(
            x[None], torch.tensor([usable]), self.state
        )
        return log_probs[0]

    def _empty(self) -> Tensor:
        return torch.zeros(0, self.recognizer.head.out_features)


def stream_log_probs(recognizer: SpeechRecognizer, wave: Tensor, chunk_samples: int) -> Tensor:
    """Run ``wave (S,)`` through :class:`StreamingRecognizer` in ``chunk_samples`` pieces:
    the utterance's log-probs ``(T', V)``."""
    stream = StreamingRecognizer(recognizer)
    pieces = [
        stream.accept(wave[i : i + chunk_samples]) for i in range(0, len(wave), chunk_samples)
    ]
    return torch.cat([*pieces, stream.finish()])
