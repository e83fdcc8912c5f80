"""The exact loss surface of the linear model y = w*x + b under mean squared error, and the paths of
gradient descent (SGD, momentum, RMSprop, Adam) on it.

The MSE is a quadratic in (w, b) fixed by five statistics of the data (means, variance, covariance):
    L(w, b) = w^2 Var(x) - 2 w Cov(x, y) + Var(y) + (w E[x] + b - E[y])^2
so the surface over any grid is exact and costs nothing per example. Its Hessian is constant,
H = 2 [[E[x^2], E[x]], [E[x], 1]]. Plain gradient descent multiplies the error along each
eigenvector of H by (1 - lr * lambda) per step: it converges exactly when lr < 2 / lambda_max,
zig-zags across the valley when lr > 1 / lambda_max (the factor turns negative) and crawls along
the flat direction when lr * lambda_min is tiny. With momentum mu the limit is lr < 2 (1 + mu) / lambda_max.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dlbuilder.datasets import DATASETS, DatasetError
from dlbuilder.training.optim import OPTIMIZERS

OPTIMIZER_NAMES = ("sgd", "momentum", "rmsprop", "adam")
# learning-rate presets as multiples of 1 / lambda_max (the largest curvature): gradient descent
# diverges above 2; 0.8 takes out most of the steep direction in one step without zig-zagging
PRESET_FACTORS = {"too small": 0.05, "right": 0.8, "too large": 2.2}
PRESET_DOCS = {
    "too small": "0.05 / lambda_max: every step is tiny, the path crawls.",
    "right": "0.8 / lambda_max: converges without zig-zagging (gradient descent needs lr < 2 / lambda_max).",
    "too large": "2.2 / lambda_max: above 2 / lambda_max each step overshoots further: zig-zags, then diverges."}
BLOWUP = 1e3  # a path has diverged once its loss exceeds this many times the loss at its start


@dataclass(frozen=True)
class OptimizerSettings:
    """Hyperparameters besides the learning rate, named and defaulted as in torch.optim."""

    momentum: float = 0.9  # SGD with momentum
    alpha: float = 0.99  # RMSprop: decay of the squared-gradient average
    beta1: float = 0.9  # Adam
    beta2: float = 0.999  # Adam
    eps: float = 1e-8  # RMSprop and Adam


@dataclass(frozen=True)
class LinearProblem:
    """What the MSE of y = w*x + b depends on: E[x], E[y], Var(x), Cov(x, y), Var(y) of a 1-D set."""

    mean_x: float
    mean_y: float
    var_x: float
    cov_xy: float
    var_y: float
    count: int

    def loss(self, w, b) -> np.ndarray:
        """The MSE at (w, b), arrays broadcast (centred form: no cancellation near the minimum)."""
        w, b = np.asarray(w, dtype=np.float64), np.asarray(b, dtype=np.float64)
        offset = w * self.mean_x + b - self.mean_y
        return w * w * self.var_x - 2 * w * self.cov_xy + self.var_y + offset * offset

    def gradient(self, w: float, b: float) -> np.ndarray:
        """(dL/dw, dL/db) at one point."""
        offset = w * self.mean_x + b - self.mean_y
        return np.array([2 * (w * self.var_x - self.cov_xy) + 2 * offset * self.mean_x, 2 * offset])

    @property
    def hessian(self) -> np.ndarray:
        """The constant (2, 2) Hessian 2 [[E[x^2], E[x]], [E[x], 1]]."""
        mean_xx = self.var_x + self.mean_x ** 2
        return 2 * np.array([[mean_xx, self.mean_x], [self.mean_x, 1.0]])

    @property
    def curvatures(self) -> np.ndarray:
        """The Hessian's eigenvalues, smallest first."""
        return np.linalg.eigvalsh(self.hessian)

    @property
    def optimum(self) -> np.ndarray:
        """The least-squares (w, b)."""
        w = self.cov_xy / self.var_x
        return np.array([w, self.mean_y - w * self.mean_x])

    @property
    def minimum_loss(self) -> float:
        """The loss at the least-squares optimum: the variance a line cannot explain."""
        return float(self.var_y - self.cov_xy ** 2 / self.var_x)


@dataclass(frozen=True)
class LossSurface:
    """L(w, b) on a grid: loss[i, j] is the loss at (w[j], b[i]) (rows follow b, as Plotly's z)."""

    w: np.ndarray  # (W,)
    b: np.ndarray  # (B,)
    loss: np.ndarray  # (B, W)
    optimum: np.ndarray  # (2,) least-squares (w, b)
    minimum_loss: float


@dataclass(frozen=True)
class DescentPath:
    """An optimizer's path from its start: w, b and loss per step (index 0 is the start)."""

    optimizer: str
    learning_rate: float
    w: np.ndarray  # (S + 1,)
    b: np.ndarray  # (S + 1,)
    loss: np.ndarray  # (S + 1,)
    diverged_at: int | None = None  # first step whose loss was non-finite or above the bound; the path ends there

    @property
    def diverged(self) -> bool:
        """Whether the loss blew up (the path stops at `diverged_at`)."""
        return self.diverged_at is not None

    @property
    def label(self) -> str:
        """Legend text, e.g. "Adam, lr 0.02"."""
        return f"{OPTIMIZERS[self.optimizer].title}, lr {self.learning_rate:.3g}"


def linear_problem(x, y) -> LinearProblem:
    """The statistics of a 1-D regression set (x, y of equal length) that fix its MSE surface."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if len(x) != len(y) or len(x) < 2:
        raise ValueError(f"need x and y of one length, at least 2 points (got {len(x)} and {len(y)}): "
                         "pass one x and one target per example")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("x and y must be finite numbers: drop the rows with NaN or infinity")
    xc, yc = x - x.mean(), y - y.mean()
    var_x = float(np.mean(xc * xc))
    if var_x <= 1e-12 * max(1.0, float(np.mean(x * x))):
        raise ValueError("all x values are (almost) equal, so w is not determined: use data whose x varies")
    return LinearProblem(float(x.mean()), float(y.mean()), var_x, float(np.mean(xc * yc)),
                         float(np.mean(yc * yc)), len(x))


def load_linear_problem(dataset: str = "sine", params: dict | None = None, seed: int = 0) -> LinearProblem:
    """The problem for the training split of a 1-D regression set from `DATASETS`, generated with `seed`."""
    if dataset not in DATASETS:
        raise DatasetError(f"unknown dataset {dataset!r}: choose one of {', '.join(sorted(DATASETS))}")
    info = DATASETS[dataset].describe(params or {})
    if info.task != "regression" or tuple(info.input_shape) != (1,) or info.num_targets != 1:
        raise DatasetError(f"{dataset!r} is not a 1-D regression set (one input, one target): "
                           "choose one such as 'sine'")
    bundle = DATASETS[dataset].load(params or {}, seed)
    return linear_problem(bundle.x_train.double().numpy(), bundle.y_train.double().numpy())


def default_start(problem: LinearProblem) -> np.ndarray:
    """A start whose loss exceeds the minimum by Var(y), half along the steep and half along the flat
    direction, so a path shows both the zig-zag across the valley and the crawl along it."""
    curvatures, directions = np.linalg.eigh(problem.hessian)
    excess = problem.var_y if problem.var_y > 0 else 1.0
    offset = np.zeros(2)
    for curvature, direction in zip(curvatures, directions.T):
        direction = -direction * np.sign(direction[np.argmax(np.abs(direction))])  # lower left
        offset += np.sqrt(excess / curvature) * direction  # 1/2 lambda d^2 = excess / 2
    return problem.optimum + offset


def loss_surface(problem: LinearProblem, around=None, resolution: int = 61, margin: float = 1.3,
                 square: bool = True) -> LossSurface:
    """L(w, b) on a resolution x resolution grid centred on the least-squares optimum.

    The grid reaches `margin` times as far as the farthest of the points `around` ((K, 2) or (2,);
    default: `default_start`); `square` gives both axes one range, so a contour map with equal axes
    shows the valley's true shape (the gradient is then drawn perpendicular to the contours).
    """
    optimum = problem.optimum
    points = np.atleast_2d(default_start(problem) if around is None else np.asarray(around, np.float64))
    reach = margin * np.abs(points - optimum).max(axis=0)
    if square:
        reach = np.full(2, reach.max())
    reach = np.maximum(reach, 1e-3 * (1 + np.abs(optimum)))  # a start at the optimum still shows a bowl
    w = np.linspace(optimum[0] - reach[0], optimum[0] + reach[0], resolution)
    b = np.linspace(optimum[1] - reach[1], optimum[1] + reach[1], resolution)
    loss = problem.loss(w[None, :], b[:, None])  # (B, W) by broadcasting, no loop over grid points
    return LossSurface(w, b, loss, optimum, problem.minimum_loss)


def learning_rate_presets(problem: LinearProblem) -> dict[str, float]:
    """Learning rates for plain gradient descent that crawl, converge and diverge (see PRESET_DOCS)."""
    largest = float(problem.curvatures[-1])
    return {name: factor / largest for name, factor in PRESET_FACTORS.items()}


def _sgd(gradient, state, step, settings):
    return gradient


def _momentum(gradient, state, step, settings):
    # torch.optim.SGD (dampening 0): the buffer starts as the first gradient
    state["buffer"] = gradient.copy() if step == 1 else settings.momentum * state["buffer"] + gradient
    return state["buffer"]


def _rmsprop(gradient, state, step, settings):
    square = state.get("square", np.zeros(2))
    state["square"] = settings.alpha * square + (1 - settings.alpha) * gradient * gradient
    return gradient / (np.sqrt(state["square"]) + settings.eps)


def _adam(gradient, state, step, settings):
    mean = settings.beta1 * state.get("mean", np.zeros(2)) + (1 - settings.beta1) * gradient
    square = settings.beta2 * state.get("square", np.zeros(2)) + (1 - settings.beta2) * gradient * gradient
    state.update(mean=mean, square=square)
    denominator = np.sqrt(square) / np.sqrt(1 - settings.beta2 ** step) + settings.eps  # as torch.optim.Adam
    return mean / (1 - settings.beta1 ** step) / denominator


UPDATES = {"sgd": _sgd, "momentum": _momentum, "rmsprop": _rmsprop, "adam": _adam}


def descend(problem: LinearProblem, optimizer: str = "sgd", learning_rate: float = 0.01, start=None,
            steps: int = 100, settings: OptimizerSettings | None = None,
            loss_bound: float | None = None) -> DescentPath:
    """Full-batch steps of `optimizer` from `start` (default `default_start`), as torch.optim takes them.

    Stops early at the first step whose loss is not finite or exceeds `loss_bound` (default BLOWUP
    times the start's loss) and records it as `diverged_at`.
    """
    if optimizer not in UPDATES:
        raise ValueError(f"unknown optimizer {optimizer!r}: choose one of {', '.join(OPTIMIZER_NAMES)}")
    if not (np.isfinite(learning_rate) and learning_rate > 0):
        raise ValueError(f"learning rate {learning_rate!r} must be a positive number: try 0.01")
    settings = settings or OptimizerSettings()
    theta = np.array(default_start(problem) if start is None else start, dtype=np.float64).reshape(2)
    start_loss = float(problem.loss(*theta))
    bound = BLOWUP * max(start_loss, 1e-12) if loss_bound is None else loss_bound
    points, losses, state, diverged_at = [theta], [start_loss], {}, None
    with np.errstate(over="ignore", invalid="ignore"):  # a diverging path overflows on purpose
        for step in range(1, max(0, int(steps)) + 1):
            theta = theta - learning_rate * UPDATES[optimizer](problem.gradient(*theta), state, step, settings)
            loss = float(problem.loss(*theta))
            points.append(theta)
            losses.append(loss)
            if not np.isfinite(loss) or loss > bound:
                diverged_at = step
                break
    points = np.array(points)
    return DescentPath(optimizer, float(learning_rate), points[:, 0], points[:, 1], np.array(losses), diverged_at)


def race_learning_rates(problem: LinearProblem, start=None) -> dict[str, float]:
    """A fair learning rate per optimizer: SGD and momentum take the "right" preset; RMSprop and Adam
    step about lr per coordinate whatever the gradient, so theirs is a fraction of the distance to go."""
    start = default_start(problem) if start is None else np.asarray(start, dtype=np.float64)
    right = learning_rate_presets(problem)["right"]
    distance = float(np.abs(start - problem.optimum).max()) or 1.0
    return {"sgd": right, "momentum": right, "rmsprop": distance / 100, "adam": distance / 20}


def race(problem: LinearProblem, start=None, steps: int = 100, learning_rates: dict[str, float] | None = None,
         settings: OptimizerSettings | None = None, optimizers=OPTIMIZER_NAMES) -> dict[str, DescentPath]:
    """The optimizer race: each optimizer's path from one start on one surface, keyed by optimizer name.

    `learning_rates` overrides `race_learning_rates` for the optimizers it names.
    """
    start = default_start(problem) if start is None else np.asarray(start, dtype=np.float64)
    rates = {**race_learning_rates(problem, start), **(learning_rates or {})}
    return {name: descend(problem, name, rates[name], start, steps, settings) for name in optimizers}
