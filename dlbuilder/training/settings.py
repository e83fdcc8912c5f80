"""The training section of a document: loss, optimizer, schedule, regularisation, stopping."""

from __future__ import annotations

from dlbuilder.params import Param

LOSS_NAMES = ("auto", "mse", "half_mse", "mae", "huber", "cross_entropy", "binary_cross_entropy")
OPTIMIZER_NAMES = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw")
SCHEDULE_NAMES = ("constant", "step", "exponential", "cosine", "plateau")
INIT_NAMES = ("default", "glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "zeros",
              "uniform")
DEVICE_NAMES = ("auto", "cpu", "cuda", "mps")

TRAINING_PARAMS: tuple[Param, ...] = (
    Param("loss", "choice", "auto", "What to minimise; auto = cross-entropy for classes, MSE for "
          "values.", choices=LOSS_NAMES),
    Param("optimizer", "choice", "adam", "How weights move along the gradient.",
          choices=OPTIMIZER_NAMES),
    Param("learning_rate", "float", 0.01, "Step size of each update.", min=1e-6, max=10.0),
    Param("momentum", "float", 0.9, "Momentum (SGD + momentum, Nesterov).", min=0.0, max=0.999),
    Param("beta1", "float", 0.9, "Adam/AdamW: decay of the gradient average.", min=0.0, max=0.999),
    Param("beta2", "float", 0.999, "Adam/AdamW/RMSprop: decay of the squared-gradient average.",
          min=0.0, max=0.9999),
    Param("schedule", "choice", "constant", "How the learning rate changes during training.",
          choices=SCHEDULE_NAMES),
    Param("step_size", "int", 10, "Step schedule: epochs between learning-rate drops.", min=1, max=10_000),
    Param("gamma", "float", 0.5, "Step/exponential schedule: factor per drop (per epoch).",
          min=0.01, max=1.0),
    Param("plateau_patience", "int", 5, "Halve-on-plateau: epochs without improvement before "
          "lowering.", min=1, max=1000),
    Param("plateau_factor", "float", 0.5, "Halve-on-plateau: factor applied (0.5 = halve).",
          min=0.01, max=0.99),
    Param("batch_size", "int", 10, "Examples per update; updates per epoch = ceil(N / batch).",
          min=1, max=4096),
    Param("epochs", "int", 100, "Passes over the training set.", min=1, max=100_000),
    Param("l1", "float", 0.0, "L1 penalty strength (pushes weights to exactly 0).", min=0.0, max=1.0),
    Param("l2", "float", 0.0, "L2 penalty strength (weight decay: keeps weights small).", min=0.0, max=1.0),
    Param("grad_clip", "float", 0.0, "Clip the gradient norm to this value (0 = off).", min=0.0, max=1000.0),
    Param("init", "choice", "default", "How weights start.", choices=INIT_NAMES),
    Param("early_stopping", "bool", False, "Stop when validation loss stops improving."),
    Param("patience", "int", 10, "Early stopping: epochs to wait for an improvement.", min=1, max=10_000),
    Param("min_delta", "float", 0.0, "Early stopping: smallest change that counts as better.",
          min=0.0, max=10.0),
    Param("restore_best", "bool", True, "Early stopping: go back to the best epoch's weights."),
    Param("subset", "int", 0, "Train on only this many examples (0 = all); 50 is the 'overfit a "
          "tiny set' check.", min=0, max=1_000_000),
    Param("shuffle", "bool", True, "Shuffle the training set every epoch; off walks it in the same fixed "
          "order each epoch, as TensorFlow Playground does."),
    Param("device", "choice", "auto", "Where to train: auto = GPU if there is one.", choices=DEVICE_NAMES),
    Param("mixed_precision", "bool", False, "GPU only: compute in bfloat16 where it is safe."),
)

SETTING_GROUPS: dict[str, tuple[str, ...]] = {
    "Loss and optimizer": ("loss", "optimizer", "learning_rate", "momentum", "beta1", "beta2"),
    "Learning-rate schedule": ("schedule", "step_size", "gamma", "plateau_patience", "plateau_factor"),
    "Batches and epochs": ("batch_size", "epochs", "subset", "shuffle"),
    "Regularisation and init": ("l1", "l2", "grad_clip", "init"),
    "Early stopping": ("early_stopping", "patience", "min_delta", "restore_best"),
    "Device": ("device", "mixed_precision"),
}


def relevant_settings(settings: dict) -> set[str]:
    """The settings that matter for the current choices (momentum only for SGD with momentum, ...)."""
    shown = {p.name for p in TRAINING_PARAMS}
    optimizer, schedule = settings.get("optimizer"), settings.get("schedule")
    if optimizer not in ("momentum", "nesterov"):
        shown.discard("momentum")
    if optimizer not in ("adam", "adamw"):
        shown.discard("beta1")
    if optimizer not in ("adam", "adamw", "rmsprop"):
        shown.discard("beta2")
    wanted = {"step": {"step_size", "gamma"}, "exponential": {"gamma"},
              "plateau": {"plateau_patience", "plateau_factor"}}.get(schedule, set())
    shown -= {"step_size", "gamma", "plateau_patience", "plateau_factor"} - wanted
    if not settings.get("early_stopping"):
        shown -= {"patience", "min_delta", "restore_best"}
    return shown
