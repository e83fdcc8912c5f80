"""The curriculum: every topic of the reference lectures, in their order, and what shows it in the app.

Lessons (assets/lessons/*.toml) name a topic from TOPICS; the Lessons page groups them in this
order. A topic that no lesson covers says why (`not_yet`), so the page and the README can be honest.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topic:
    """One row of the curriculum: its name in lesson files, its title, the lectures it comes from,
    and, when no lesson covers it yet, why not."""

    name: str
    title: str
    sources: str
    not_yet: str = ""



TOPICS: dict[str, Topic] = {
    topic.name: topic
    for topic in (
        Topic("find_a_function", "ML = find a function; regression vs classification", "002, 001"),
        Topic("error_surface", "Loss and the error surface; gradient descent steps", "002, 001"),
        Topic("local_minima", "Local minima, plateaus, saddle points; different starts, different minima", "001"),
        Topic("piecewise_linear", "Piecewise-linear curves from ReLUs; more units, more pieces", "002"),
        Topic("batch_epoch", "Batch, epoch, updates per epoch", "002"),
        Topic("activations", "Activation functions and their gradients", "003"),
        Topic("why_deep", "Why deep: fat-and-shallow vs thin-and-deep", "001, 004"),
        Topic("softmax", "Softmax output, cross-entropy / NLL", "001, 003"),
        Topic("overfitting", "Overfitting: training loss falls, validation loss rises", "002, 001"),
        Topic("early_stopping", "Early stopping", "003"),
        Topic("regularisation", "L1 / L2 regularisation", "003"),
        Topic("dropout", "Dropout", "001, 003"),
        Topic("batch_norm", "Batch normalisation", "003"),
        Topic("initialisation", "Initialisation: Glorot, He, zeros (symmetry)", "003"),
        Topic("schedules", "Learning-rate schedules", "003"),
        Topic("optimizers", "Momentum, Adagrad, RMSProp, Adam", "003"),
        Topic("gradient_check", "Gradient check by finite differences", "003"),
        Topic("tiny_subset", "Debug on a tiny subset", "003"),
        Topic("grid_search", "Grid / random search", "003"),
        Topic("cnn_shapes", "CNN: convolution, stride, padding, pooling, output sizes", "001, 004"),
        Topic("filters", "What filters learn: feature maps, activation maximisation", "001"),
        Topic("adversarial", "DNNs are easily fooled: adversarial examples", "001"),
        Topic("rnn", "RNN, deep and bidirectional RNN, LSTM / GRU", "001, 004"),
        Topic("vanishing_gradients", "Vanishing / exploding gradients, clipping", "001, 004"),
        Topic("slot_filling", "Slot filling: context decides the tag", "001"),
        Topic("sequence_tasks", "Many-to-one, many-to-many, seq2seq", "001, 004"),
        Topic("attention", "Attention", "001"),
        Topic("autoencoder", "Autoencoders and representation learning", "001, 003, 004"),
        Topic("word_embeddings", "Word embeddings", "001"),
        Topic("vae_gan", "VAE, GAN", "001, 004",
              not_yet="no sampling layer, generator/discriminator training or sample view exists yet"),
        Topic("reinforcement", "Reinforcement learning, DQN", "001",
              not_yet="no environment, agent or reward curve exists yet (the curriculum marks it a stretch)"),
    )
}


def topic_position(name: str) -> int:
    """Where a topic comes in the lectures (unknown names last)."""
    names = list(TOPICS)
    return names.index(name) if name in names else len(names)
