"""FLOP counts of the GRU per character (training) and per generated step."""

from __future__ import annotations

from pipeline.configs import Hyperparameters


def forward_flops_per_char(hp: Hyperparameters, vocab_size: int) -> int:
    """Multiply-adds x2 of the model per character: input and recurrent projections, Dense."""
    units, gates = hp.rnn_units, 3 * hp.rnn_units
    first = hp.embedding_dim * gates + units * gates
    later = (hp.num_layers - 1) * 2 * units * gates
    return 2 * (first + later + units * vocab_size)


def generation_step_flops(hp: Hyperparameters, vocab_size: int) -> int:
    """What our exported step executes per row: the first input projection is a table gather."""
    units, gates = hp.rnn_units, 3 * hp.rnn_units
    return 2 * (units * gates + (hp.num_layers - 1) * 2 * units * gates + units * vocab_size)
