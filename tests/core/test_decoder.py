import pytest
import torch
import torch.nn.functional as F

from lstmkit.decoder import AttentionLSTMDecoder, doubly_stochastic_penalty

BOS, EOS, VOCAB, MEMORY = 0, 1, 9, 6
CONFIGS = [
    {"attention": "additive", "gating": True, "deep_output": False},
    {"attention": "general", "gating": False, "deep_output": True},
    {"attention": "dot", "gating": True, "deep_output": True, "init_from_memory": False},
]


@pytest.fixture
def single_thread():
    # tiny per-step ops: with several threads on a busy machine the hand-offs dominate
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _decoder(seed: int = 0, **overrides) -> AttentionLSTMDecoder:
    torch.manual_seed(seed)
    kwargs = {"embedding_size": 5, "hidden_size": MEMORY, "attention_size": 7, "dropout": 0.0}
    return AttentionLSTMDecoder(VOCAB, MEMORY, **(kwargs | overrides)).eval()


def _memory(seed: int, lengths: list[int], size: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    memory = torch.randn(len(lengths), size, MEMORY, generator=g) * 2
    mask = torch.arange(size) < torch.tensor(lengths).unsqueeze(1)
    return memory, mask


@pytest.mark.parametrize("config", CONFIGS)
def test_teacher_forcing_shapes_and_causality(config):
    decoder = _decoder(**config)
    memory, mask = _memory(0, [5, 3, 1])
    targets = torch.randint(0, VOCAB, (3, 6), generator=torch.Generator().manual_seed(0))
    logits, weights = decoder(memory, mask, targets, bos=BOS)
    assert logits.shape == (3, 6, VOCAB) and weights.shape == (3, 6, 5)
    assert torch.all(weights[~mask.unsqueeze(1).expand_as(weights)] == 0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 6))
    # logits at step t depend on targets[:, :t] only
    for t in range(6):
        changed = targets.clone()
        changed[:, t:] = (changed[:, t:] + 1) % VOCAB
        other_logits, _ = decoder(memory, mask, changed, bos=BOS)
        torch.testing.assert_close(other_logits[:, : t + 1], logits[:, : t + 1], rtol=0, atol=0)
        if t + 1 < 6:
            assert not torch.allclose(other_logits[:, t + 1], logits[:, t + 1])


def test_logits_do_not_depend_on_padded_memory():
    decoder = _decoder()
    memory, mask = _memory(1, [5, 2])
    targets = torch.randint(0, VOCAB, (2, 4), generator=torch.Generator().manual_seed(1))
    logits, _ = decoder(memory, mask, targets, bos=BOS)
    garbage = memory.masked_fill(~mask.unsqueeze(-1), 100.0)
    torch.testing.assert_close(decoder(garbage, mask, targets, bos=BOS)[0], logits)


def test_scheduled_sampling_feeds_model_tokens():
    decoder = _decoder()
    memory, mask = _memory(2, [5, 4])
    targets = torch.randint(0, VOCAB, (2, 5), generator=torch.Generator().manual_seed(2))
    other = (targets + 1) % VOCAB

    def run(tokens, p):
        torch.manual_seed(123)
        return decoder(memory, mask, tokens, bos=BOS, sampling_probability=p)[0]

    # with probability 1 every input after BOS is the model's own sample
    torch.testing.assert_close(run(targets, 1.0), run(other, 1.0))
    assert not torch.allclose(run(targets, 0.0), run(other, 0.0))
    mixed = run(targets, 0.5)
    assert not torch.allclose(mixed, run(targets, 0.0))
    assert not torch.allclose(mixed, run(targets, 1.0))


@pytest.mark.parametrize("config", CONFIGS)
def test_beam_one_equals_greedy_on_untrained_decoders(config):
    for seed in range(3):
        decoder = _decoder(seed, **config)
        memory, mask = _memory(seed, [5, 3, 1, 4])
        greedy = decoder.greedy(memory, mask, BOS, EOS, max_len=8)
        beams = decoder.beam_search(memory, mask, BOS, EOS, beam_size=1, max_len=8)
        for g, (b,) in zip(greedy, beams, strict=True):
            assert torch.equal(g.tokens, b.tokens)
            assert g.score == b.score and g.log_prob == b.log_prob
            assert torch.equal(g.extras, b.extras)


def test_beam_search_batch_items_are_independent():
    decoder = _decoder(3)
    memory, mask = _memory(3, [5, 2, 4])
    batched = decoder.beam_search(memory, mask, BOS, EOS, beam_size=3, max_len=7, n_best=3)
    for b in range(3):
        length = int(mask[b].sum())
        alone = decoder.beam_search(
            memory[b : b + 1, :length], None, BOS, EOS, beam_size=3, max_len=7, n_best=3
        )[0]
        for h_batched, h_alone in zip(batched[b], alone, strict=True):
            assert torch.equal(h_batched.tokens, h_alone.tokens)
            assert h_batched.score == pytest.approx(h_alone.score, abs=1e-5)
            # attention per emitted token: zero on padding, the same on the valid part
            assert h_batched.extras.shape == (len(h_batched.tokens), 5)
            assert torch.all(h_batched.extras[:, length:] == 0)
            torch.testing.assert_close(h_batched.extras[:, :length], h_alone.extras)


def test_beam_search_scores_match_teacher_forcing():
    decoder = _decoder(4, attention="general")
    memory, mask = _memory(4, [5, 3])
    results = decoder.beam_search(memory, mask, BOS, EOS, beam_size=4, max_len=6, n_best=4)
    for b, item in enumerate(results):
        for hypothesis in item:
            emitted = hypothesis.tokens.tolist() + ([EOS] if hypothesis.finished else [])
            targets = torch.tensor([emitted])
            with torch.no_grad():
                logits, weights = decoder(memory[b : b + 1], mask[b : b + 1], targets, bos=BOS)
            log_prob = F.log_softmax(logits, -1)[0].gather(1, targets.t()).sum()
            assert hypothesis.log_prob == pytest.approx(float(log_prob), abs=1e-5)
            torch.testing.assert_close(hypothesis.extras, weights[0, : len(hypothesis.tokens)])


def test_doubly_stochastic_penalty_hand_computed():
    weights = torch.tensor([[[0.5, 0.5, 0.0], [1.0, 0.0, 0.0], [0.2, 0.8, 0.0]]])
    memory_mask = torch.tensor([[True, True, False]])
    target_mask = torch.tensor([[True, True, False]])
    # sums over valid steps: [1.5, 0.5]; (1 - 1.5)^2 + (1 - 0.5)^2 = 0.5
    penalty = doubly_stochastic_penalty(weights, memory_mask, target_mask, weight=2.0)
    torch.testing.assert_close(penalty, torch.tensor(1.0))
    # all steps and positions: sums [1.7, 1.3, 0]: 0.49 + 0.09 + 1
    torch.testing.assert_close(doubly_stochastic_penalty(weights), torch.tensor(1.58))


def test_invalid_arguments_raise():
    with pytest.raises(ValueError, match="'additive', 'general' or 'dot'"):
        AttentionLSTMDecoder(VOCAB, MEMORY, attention="location")
    decoder = _decoder()
    with pytest.raises(ValueError, match=r"memory must be \(B, S, D\)"):
        decoder.greedy(torch.randn(2, MEMORY), None, BOS, EOS, max_len=3)
    memory, mask = _memory(0, [2, 1])
    mask[1] = False
    with pytest.raises(ValueError, match="no valid position"):
        decoder.beam_search(memory, mask, BOS, EOS, beam_size=2, max_len=3)


def test_overfits_tiny_copy_task(single_thread):
    """Copy 4 symbols: memory = one-hot(symbol) + one-hot(position); output = symbols, EOS."""
    torch.manual_seed(0)
    symbols, length, examples = 6, 4, 16
    source = torch.randint(2, 2 + symbols, (examples, length))
    memory = torch.cat(
        [
            F.one_hot(source, 2 + symbols).float(),
            torch.eye(length).expand(examples, length, length),
        ],
        dim=-1,
    )
    targets = torch.cat([source, torch.full((examples, 1), EOS)], dim=1)
    decoder = AttentionLSTMDecoder(
        2 + symbols, memory.size(-1), embedding_size=16, hidden_size=32, attention_size=16
    )
    decoder.dropout.p = 0.0
    optimizer = torch.optim.Adam(decoder.parameters(), lr=3e-2)
    for _ in range(120):
        logits, weights = decoder(memory, None, targets, bos=BOS)
        loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())
        loss = loss + doubly_stochastic_penalty(weights, weight=0.01)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.05
    decoder.eval()
    greedy = decoder.greedy(memory, None, BOS, EOS, max_len=8)
    beams = decoder.beam_search(memory, None, BOS, EOS, beam_size=3, max_len=8)
    for b in range(examples):
        assert greedy[b].finished and greedy[b].tokens.tolist() == source[b].tolist()
        assert beams[b][0].finished and beams[b][0].tokens.tolist() == source[b].tolist()
