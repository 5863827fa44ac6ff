import itertools
import math

import pytest
import torch

from lstmkit.beam_search import beam_search, gnmt_length_penalty, greedy_search

BOS, EOS, A, B, C = 0, 1, 2, 3, 4
FLOOR = 1e-12


class TableStep:
    """Step over a hand-made table: emitted prefix (tuple, BOS excluded) -> {token: prob}.

    Unlisted tokens get probability ``FLOOR``; unlisted prefixes emit EOS. The state is
    the prefix (N, t) with BOS; ``calls`` counts step calls.
    """

    def __init__(self, table: dict[tuple[int, ...], dict[int, float]], vocab_size: int = 5):
        self.table, self.vocab_size, self.calls = table, vocab_size, 0

    def __call__(self, tokens, state):
        self.calls += 1
        prefix = tokens.unsqueeze(1) if state is None else torch.cat([state, tokens[:, None]], 1)
        probs = torch.full((len(tokens), self.vocab_size), FLOOR, dtype=torch.float64)
        for row, sequence in enumerate(prefix.tolist()):
            for token, p in self.table.get(tuple(sequence[1:]), {EOS: 1.0}).items():
                probs[row, token] = p
        return probs.log(), prefix, None


class RandomStep:
    """A fixed random RNN: h' = tanh(h W + E[y]); log p = log_softmax(h' U)."""

    def __init__(self, seed: int, vocab_size: int = 6, hidden: int = 8, eos_bias: float = 1.0):
        g = torch.Generator().manual_seed(seed)
        self.embedding = torch.randn(vocab_size, hidden, generator=g, dtype=torch.float64)
        self.recurrent = torch.randn(hidden, hidden, generator=g, dtype=torch.float64) * 0.7
        self.output = torch.randn(hidden, vocab_size, generator=g, dtype=torch.float64)
        self.initial = torch.randn(16, hidden, generator=g, dtype=torch.float64)
        # EOS: a bias plus a weak dependence on the state, so sequences end at varied lengths
        self.output[:, EOS] *= 0.3
        self.output_bias = torch.zeros(vocab_size, dtype=torch.float64)
        self.output_bias[EOS] = eos_bias

    def __call__(self, tokens, h):
        h = torch.tanh(h @ self.recurrent + self.embedding[tokens])
        log_probs = torch.log_softmax(h @ self.output + self.output_bias, dim=-1)
        return log_probs, h, h[:, :3]  # extras: any per-token tensor

    def replay(self, row: int, tokens: list[int]) -> tuple[float, torch.Tensor]:
        """Log-probability and extras of emitting ``tokens`` from batch item ``row``."""
        h, previous, total, extras = self.initial[row : row + 1], BOS, 0.0, []
        for token in tokens:
            log_probs, h, extra = self(torch.tensor([previous]), h)
            total += float(log_probs[0, token])
            extras.append(extra[0])
            previous = token
        return total, torch.stack(extras) if extras else torch.empty(0, 3)


def _run_beam(step, batch_size, state=None, **kwargs):
    return beam_search(step, state, batch_size=batch_size, bos=BOS, eos=EOS, **kwargs)


def test_beam_finds_best_sequence_where_greedy_fails():
    table = {(): {A: 0.6, B: 0.4}, (A,): {EOS: 0.4, A: 0.3, B: 0.3}, (B,): {EOS: 0.9}}
    greedy = greedy_search(TableStep(table), None, batch_size=1, bos=BOS, eos=EOS, max_len=5)
    assert greedy[0].tokens.tolist() == [A]
    assert greedy[0].log_prob == pytest.approx(math.log(0.6 * 0.4))
    step = TableStep(table)
    beams = _run_beam(step, 1, beam_size=2, max_len=5, n_best=2)[0]
    assert [h.tokens.tolist() for h in beams] == [[B], [A]]
    assert beams[0].score == pytest.approx(math.log(0.4 * 0.9))
    assert beams[1].score == pytest.approx(math.log(0.6 * 0.4))
    assert all(h.finished for h in beams)
    assert step.calls == 2  # stops once every hypothesis has emitted EOS


def test_length_penalty_changes_ranking():
    # short "A EOS": log(.25) = -1.386; long "B B B EOS": log(.5 * .75^3) = -1.556
    table = {
        (): {A: 0.5, B: 0.5},
        (A,): {EOS: 0.5},
        (B,): {B: 0.75},
        (B, B): {B: 0.75},
        (B, B, B): {EOS: 0.75},
    }
    plain = _run_beam(TableStep(table), 1, beam_size=2, max_len=6, n_best=2)[0]
    assert [h.tokens.tolist() for h in plain] == [[A], [B, B, B]]
    penalised = _run_beam(
        TableStep(table), 1, beam_size=2, max_len=6, n_best=2, length_penalty=1.0
    )[0]
    assert [h.tokens.tolist() for h in penalised] == [[B, B, B], [A]]
    long_log_prob = math.log(0.5 * 0.75**3)
    assert penalised[0].log_prob == pytest.approx(long_log_prob)
    assert penalised[0].score == pytest.approx(long_log_prob / ((5 + 4) / 6))
    assert penalised[1].score == pytest.approx(math.log(0.25) / ((5 + 2) / 6))


def test_gnmt_length_penalty_formula():
    lengths = torch.tensor([1.0, 4.0, 10.0])
    torch.testing.assert_close(gnmt_length_penalty(lengths, 0.0), torch.ones(3))
    torch.testing.assert_close(gnmt_length_penalty(lengths, 0.6), ((5 + lengths) / 6) ** 0.6)


def test_no_repeat_ngram_on_hand_made_step():
    # A is always the favourite, then B, then EOS
    table = {
        prefix: {A: 0.9, B: 0.06, EOS: 0.04}
        for n in range(8)
        for prefix in itertools.product((A, B), repeat=n)
    }
    results = {
        n: _run_beam(TableStep(table), 1, beam_size=1, max_len=8, no_repeat_ngram_size=n)[0][0]
        for n in (0, 1, 2)
    }
    assert results[0].tokens.tolist() == [A] * 8 and not results[0].finished
    assert results[1].tokens.tolist() == [A, B] and results[1].finished
    # bigrams AA, AB, BA are used; A or B next would repeat AA or AB
    assert results[2].tokens.tolist() == [A, A, B, A] and results[2].finished


@pytest.mark.parametrize("n", [1, 2, 3])
def test_no_repeat_ngram_holds_on_every_hypothesis(n):
    step = RandomStep(seed=n, vocab_size=4, eos_bias=-4.0)
    results = _run_beam(
        step, 3, step.initial[:3], beam_size=4, max_len=12, no_repeat_ngram_size=n, n_best=4
    )
    for item in results:
        for hypothesis in item:
            emitted = hypothesis.tokens.tolist() + ([EOS] if hypothesis.finished else [])
            ngrams = [tuple(emitted[i : i + n]) for i in range(len(emitted) - n + 1)]
            assert len(ngrams) == len(set(ngrams))
    # the constraint is not vacuous: without it this step repeats n-grams
    free = _run_beam(step, 3, step.initial[:3], beam_size=4, max_len=12)
    tokens = free[0][0].tokens.tolist()
    assert len({tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}) < len(tokens) - n + 1


def test_beam_one_equals_greedy():
    finished = []
    for seed in range(4):
        step = RandomStep(seed, eos_bias=0.5)
        greedy = greedy_search(step, step.initial, batch_size=16, bos=BOS, eos=EOS, max_len=9)
        beams = _run_beam(step, 16, step.initial, beam_size=1, max_len=9)
        for g, (b,) in zip(greedy, beams, strict=True):
            assert torch.equal(g.tokens, b.tokens)
            assert g.log_prob == b.log_prob and g.score == b.score
            assert g.finished == b.finished
            assert torch.equal(g.extras, b.extras)
            finished.append(g.finished)
    assert any(finished) and not all(finished)  # both ways of ending were compared


@pytest.mark.parametrize("length_penalty", [0.0, 1.5])
def test_full_width_beam_is_exhaustive_search(length_penalty):
    vocab, max_len = 4, 3
    step = RandomStep(seed=7, vocab_size=vocab, eos_bias=0.5)
    candidates = []  # every sequence: ends at its first EOS or is cut at max_len
    for n in range(1, max_len + 1):
        for sequence in itertools.product(range(vocab), repeat=n):
            if EOS in sequence[:-1] or (n < max_len and sequence[-1] != EOS):
                continue
            log_prob, _ = step.replay(0, list(sequence))
            score = log_prob / ((5 + n) / 6) ** length_penalty
            candidates.append((score, list(sequence)))
    candidates.sort(reverse=True)
    best = _run_beam(
        step,
        1,
        step.initial[:1],
        beam_size=vocab**max_len,
        max_len=max_len,
        length_penalty=length_penalty,
        n_best=10,
    )[0]
    for (score, sequence), hypothesis in zip(candidates[:10], best, strict=True):
        emitted = hypothesis.tokens.tolist() + ([EOS] if hypothesis.finished else [])
        assert emitted == sequence
        assert hypothesis.score == pytest.approx(score, abs=1e-12)


def test_eos_handling_scores_extras_and_max_len():
    step = RandomStep(seed=3, eos_bias=0.5)
    max_len = 6
    results = _run_beam(step, 4, step.initial[:4], beam_size=3, max_len=max_len, n_best=3)
    finished_seen = unfinished_seen = False
    for row, item in enumerate(results):
        assert len(item) == 3
        scores = [h.score for h in item]
        assert scores == sorted(scores, reverse=True)
        for hypothesis in item:
            tokens = hypothesis.tokens.tolist()
            assert EOS not in tokens
            emitted = tokens + ([EOS] if hypothesis.finished else [])
            assert len(emitted) <= max_len
            if not hypothesis.finished:
                assert len(tokens) == max_len
            finished_seen |= hypothesis.finished
            unfinished_seen |= not hypothesis.finished
            # score and per-token extras agree with replaying the sequence
            log_prob, extras = step.replay(row, emitted)
            assert hypothesis.log_prob == pytest.approx(log_prob, abs=1e-12)
            torch.testing.assert_close(hypothesis.extras, extras[: len(tokens)])
    assert finished_seen and unfinished_seen


def test_finished_hypothesis_stays_in_beam_unexpanded():
    # the empty caption (EOS first) stays best while the others keep extending
    table = {(): {EOS: 0.5, A: 0.3, B: 0.2}}
    table |= {(A,) * n: {A: 0.99} for n in range(1, 10)}
    table |= {(B,) * n: {B: 0.99} for n in range(1, 10)}
    step = TableStep(table)
    item = _run_beam(step, 1, beam_size=3, max_len=6, n_best=3)[0]
    assert step.calls == 6
    assert item[0].tokens.tolist() == [] and item[0].finished
    assert item[0].log_prob == pytest.approx(math.log(0.5))
    assert [h.tokens.tolist() for h in item[1:]] == [[A] * 6, [B] * 6]
    assert not item[1].finished and not item[2].finished


def test_never_ending_step_respects_max_len():
    step = RandomStep(seed=1, eos_bias=-1e9)
    results = _run_beam(step, 2, step.initial[:2], beam_size=2, max_len=5, n_best=2)
    for item in results:
        for hypothesis in item:
            assert len(hypothesis.tokens) == 5 and not hypothesis.finished
    greedy = greedy_search(step, step.initial[:2], batch_size=2, bos=BOS, eos=EOS, max_len=5)
    assert all(len(h.tokens) == 5 and not h.finished for h in greedy)


def test_invalid_arguments_raise():
    step = RandomStep(seed=0)
    with pytest.raises(ValueError, match="n_best"):
        _run_beam(step, 1, step.initial[:1], beam_size=2, max_len=3, n_best=3)
    with pytest.raises(ValueError, match="max_len"):
        _run_beam(step, 1, step.initial[:1], beam_size=2, max_len=0)
    with pytest.raises(ValueError, match="beam_size"):
        _run_beam(step, 1, step.initial[:1], beam_size=0, max_len=3)
