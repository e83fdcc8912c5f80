"""Figures from plain data: the right traces, markers, scales, sizes and projector-sized styling."""

import json

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import pytest

from dlbuilder import figures
from dlbuilder.datasets import DATASETS, NETWORK_DATASETS, UPLOADED_DATASETS, dataset_from_csv
from dlbuilder.figures.style import FONT_SIZE, LINE_WIDTH, PLAYGROUND_BLUE, SPLIT_COLOURS, WRONG_COLOUR
from dlbuilder.probes import Boundary, FittedCurve, Sample, SeriesPrediction, Surface
from dlbuilder.training.metrics import EpochRecord, StepRecord

UPDATES = 25


def make_epochs(count: int, offset: float = 0.0, validation: bool = True) -> list[EpochRecord]:
    records = []
    for epoch in range(1, count + 1):
        train = 1 / epoch + offset
        records.append(EpochRecord(
            epoch=epoch, step=epoch * UPDATES, train_loss=train,
            val_loss=train + 0.001 * epoch if validation else None, train_metric=1 - train / 2,
            val_metric=1 - train / 2 - 0.05 if validation else None, learning_rate=0.1 * 0.9 ** epoch,
            examples_per_second=1000.0, seconds=float(epoch),
            weight_norms={"dense1": 1.0 + epoch, "output": 0.5},
            grad_norms={"dense1": 10.0 ** -epoch, "output": 0.0 if epoch == 1 else 0.1}))
    return records


def make_steps(count: int) -> list[StepRecord]:
    rng = np.random.default_rng(0)
    return [StepRecord(step, (step - 1) // UPDATES, float(1 / step + rng.random()), 0.1)
            for step in range(1, count + 1)]


def trace(figure: go.Figure, name: str):
    matches = [t for t in figure.data if t.name == name]
    assert matches, f"no trace {name!r} in {[t.name for t in figure.data]}"
    return matches[0]


def assert_projector_style(figure: go.Figure) -> None:
    assert figure.layout.font.size >= FONT_SIZE and figure.layout.uirevision
    for item in figure.data:
        if isinstance(item, go.Scatter) and "lines" in (item.mode or ""):
            assert item.line.width >= LINE_WIDTH


# -- training curves -----------------------------------------------------------------------------


def test_loss_figure_lines_and_step_noise_in_epochs():
    figure = figures.loss_figure(make_epochs(10), steps=make_steps(250))
    np.testing.assert_array_equal(trace(figure, "train").x, np.arange(1, 11))
    np.testing.assert_allclose(trace(figure, "validation").y[-1], 0.1 + 0.01)
    noise = trace(figure, "mini-batch loss")
    assert noise.x[-1] == pytest.approx(10.0) and noise.x[0] == pytest.approx(1 / UPDATES)
    assert noise.opacity < 0.5
    assert trace(figure, "train").line.color == SPLIT_COLOURS["train"]
    assert trace(figure, "validation").line.color == SPLIT_COLOURS["val"]
    assert_projector_style(figure)


def test_loss_figure_marks_the_best_epoch_and_the_stop():
    figure = figures.loss_figure(make_epochs(20), best_epoch=7, stopped_epoch=17)
    best = trace(figure, "best epoch")
    assert list(best.x) == [7] and best.y[0] == pytest.approx(1 / 7 + 0.007)
    lines = {shape.x0 for shape in figure.layout.shapes}
    assert lines == {7, 17}
    texts = [annotation.text for annotation in figure.layout.annotations]
    assert "best epoch 7" in texts and any("early stop" in text and "17" in text for text in texts)


def test_loss_figure_without_validation_marks_the_train_loss():
    figure = figures.loss_figure(make_epochs(5, validation=False), best_epoch=5)
    assert [t.name for t in figure.data] == ["train", "best epoch"]
    assert trace(figure, "best epoch").y[0] == pytest.approx(0.2)


def test_loss_figure_log_scale():
    assert figures.loss_figure(make_epochs(5), log_scale=True).layout.yaxis.type == "log"
    assert figures.loss_figure(make_epochs(5)).layout.yaxis.type != "log"


def test_previous_run_is_dashed_and_labelled():
    figure = figures.loss_figure(make_epochs(10), previous=make_epochs(12, offset=0.2))
    previous = [t for t in figure.data if t.name.startswith("previous run")]
    assert len(previous) == 2 and all(t.line.dash == "dash" for t in previous)
    assert len(previous[0].x) == 12
    assert all(t.line.dash in (None, "solid") for t in figure.data if t not in previous)


def test_long_loss_figure_stays_small():
    epochs, steps = make_epochs(2000), make_steps(2000)
    figure = figures.loss_figure(epochs, steps=steps, best_epoch=1500, previous=make_epochs(2000, 0.1))
    size = len(figure.to_json())
    assert size < 200_000, f"{size} bytes"
    assert len(trace(figure, "mini-batch loss").x) <= 1000


def test_metric_figure_accuracy_in_percent_and_r2():
    figure = figures.metric_figure(make_epochs(4), "accuracy", previous=make_epochs(4, 0.1))
    assert trace(figure, "train").y[0] == pytest.approx(50.0)
    assert "%" in figure.layout.yaxis.title.text and tuple(figure.layout.yaxis.range) == (0, 101)
    assert trace(figure, "previous run: validation").line.dash == "dash"
    r2 = figures.metric_figure(make_epochs(4), "r2")
    assert r2.layout.yaxis.title.text == "R²" and trace(r2, "train").y[0] == pytest.approx(0.5)


def test_learning_rate_figure_goes_log_when_it_spans_a_wide_range():
    assert figures.learning_rate_figure(make_epochs(5)).layout.yaxis.type != "log"
    wide = figures.learning_rate_figure(make_epochs(60))
    assert wide.layout.yaxis.type == "log" and len(wide.data[0].x) == 60


def test_norms_figure_one_log_line_per_node():
    figure = figures.norms_figure(make_epochs(8), kind="grad")
    assert [t.name for t in figure.data] == ["dense1", "output"] and figure.layout.yaxis.type == "log"
    np.testing.assert_allclose(trace(figure, "dense1").y, 10.0 ** -np.arange(1, 9))
    assert np.isnan(trace(figure, "output").y[0])  # a zero norm leaves a gap on the log axis
    weights = figures.norms_figure(make_epochs(8), kind="weight")
    assert trace(weights, "dense1").y[-1] == 9 and "weight" in weights.layout.yaxis.title.text
    with pytest.raises(ValueError):
        figures.norms_figure(make_epochs(2), kind="bias")


# -- what the model learned ----------------------------------------------------------------------


def two_class_boundary(resolution: int = 30) -> Boundary:
    axis = np.linspace(-6, 6, resolution)
    values = np.tanh(axis[None, :] * np.ones((resolution, 1)))
    return Boundary(axis, axis.copy(), (values > 0).astype(int), (1 + np.abs(values)) / 2, values, 2)


def test_boundary_figure_playground_style():
    points = np.array([[-3.0, 1.0], [2.0, 2.0], [4.0, -1.0]])
    figure = figures.boundary_figure(two_class_boundary(), points, [0, 1, 1], points[:2], [1, 0],
                                     ("outside", "inside"))
    heatmap = figure.data[0]
    assert isinstance(heatmap, go.Heatmap) and heatmap.showscale is False
    assert np.asarray(heatmap.z).shape == (30, 30) and (heatmap.zmin, heatmap.zmax) == (-1, 1)
    inside = trace(figure, "inside")
    assert list(inside.x) == [2.0, 4.0] and inside.marker.color == PLAYGROUND_BLUE
    test = trace(figure, "test (outlined)")
    assert test.marker.symbol == "circle-open" and len(test.x) == 2
    assert figure.layout.yaxis.scaleanchor == "x" and tuple(figure.layout.xaxis.range) == (-6, 6)
    assert_projector_style(figure)


def test_boundary_figure_for_three_classes_shades_by_confidence():
    axis = np.linspace(-6, 6, 12)
    classes = np.tile(np.arange(12) % 3, (12, 1))
    confidence = np.tile(np.linspace(1 / 3, 1, 12), (12, 1))
    boundary = Boundary(axis, axis, classes, confidence, None, 3)
    figure = figures.boundary_figure(boundary, np.zeros((3, 2)), [0, 1, 2], None, None, ("a", "b", "c"))
    z = np.asarray(figure.data[0].z)
    np.testing.assert_array_equal(z // 5, classes)  # 5 shades per class
    assert z[0, 0] % 5 == 0 and z[0, -1] % 5 == 4  # least and most confident
    assert [t.name for t in figure.data[1:]] == ["a", "b", "c"]


def test_surface_figure_shares_one_colour_scale():
    axis = np.linspace(-6, 6, 20)
    surface = Surface(axis, axis, np.add.outer(axis, axis) / 10)
    figure = figures.surface_figure(surface, np.zeros((4, 2)), np.array([0.1, -0.2, 1.5, 0.0]),
                                    np.ones((2, 2)), np.array([0.3, 0.4]))
    heatmap, train, test = figure.data
    assert heatmap.zmax == pytest.approx(1.5) and heatmap.zmin == pytest.approx(-1.5)
    assert train.marker.cmax == pytest.approx(1.5) and test.marker.cmin == pytest.approx(-1.5)
    assert test.marker.line.width > train.marker.line.width  # test points ringed


def test_regression_fit_figure_for_a_curve():
    curve = FittedCurve(np.linspace(-6, 6, 50), np.sin(np.linspace(-6, 6, 50)))
    figure = figures.regression_fit_figure(curve.x, curve.predicted,
                                           points={"train": ([1.0, 2.0], [0.8, 0.9]), "test": ([3.0], [0.1])},
                                           truth=(curve.x, np.sin(curve.x)))
    assert [t.name for t in figure.data] == ["train", "test", "true curve", "prediction"]
    assert trace(figure, "true curve").line.dash == "dash"
    assert trace(figure, "test").marker.color == SPLIT_COLOURS["test"]
    assert_projector_style(figure)


def test_series_fit_figure_shades_the_periods_on_dates():
    series = np.arange(100.0) * 10
    prediction = SeriesPrediction(np.arange(7, 100), series[6:99], series,
                                  {"train": (7, 70), "val": (71, 85), "test": (86, 99)}, "views")
    figure = figures.series_fit_figure(prediction, start_date="2017-01-01")
    assert [t.name for t in figure.data] == ["true series", "prediction"]
    assert len(figure.layout.shapes) == 3 and figure.layout.shapes[0].x0 == "2017-01-08"
    assert figure.layout.yaxis.title.text == "views"
    assert str(np.asarray(trace(figure, "prediction").x)[0]).startswith("2017-01-08")


# -- images ----------------------------------------------------------------------------------------


def test_image_grid_titles_and_mistakes_in_red():
    samples = [Sample(np.full((8, 8), i / 10), true=i % 3, predicted=i % 2, probability=0.92)
               for i in range(10)]
    figure = figures.image_grid_figure(samples, class_names=("zero", "one", "two"), columns=5)
    titles = list(figure.layout.annotations)
    assert len(figure.data) == 10 and len(titles) == 10
    text = [t.text.replace("<br>", " ") for t in titles]  # captions wrap to fit narrow cells
    assert text[0] == "pred zero (92%)" and titles[0].font.color != WRONG_COLOUR
    assert text[2] == "pred zero (92%) true two"
    assert titles[2].font.color == WRONG_COLOUR
    assert figure.layout.yaxis.autorange == "reversed"  # row 0 at the top, like the image


def test_confusion_figure_writes_the_counts():
    matrix = np.array([[5, 1], [2, 7]])
    figure = figures.confusion_figure(matrix, ("cat", "dog"))
    heatmap = figure.data[0]
    np.testing.assert_array_equal(np.asarray(heatmap.z), matrix)
    assert heatmap.texttemplate == "%{z}" and list(heatmap.x) == ["cat", "dog"]
    assert figure.layout.xaxis.title.text == "predicted class"
    assert figure.layout.yaxis.autorange == "reversed"


# -- dataset previews ------------------------------------------------------------------------------

EXPECTED_TRACE = {"points2d": go.Scatter, "curve1d": go.Scatter, "series": go.Scatter,
                  "image": go.Heatmap, "table": go.Table, "sequence": go.Table}


@pytest.mark.parametrize("name", sorted(set(DATASETS) - NETWORK_DATASETS - UPLOADED_DATASETS))
def test_every_dataset_preview_builds(name):
    bundle = DATASETS[name].load({}, 0)
    figure = figures.dataset_preview_figure(bundle)
    kinds = {type(t) for t in figure.data}
    assert EXPECTED_TRACE[bundle.info.display] in kinds
    assert len(figure.to_json()) < 300_000
    shown = sum(len(t.x) for t in figure.data if isinstance(t, go.Scatter) and t.mode == "markers")
    if bundle.info.display in ("points2d", "curve1d"):
        assert shown == len(bundle.x_train) + len(bundle.x_val) + len(bundle.x_test)
    if bundle.info.display == "image":
        assert len(figure.data) == 3 * bundle.info.num_classes


def test_series_preview_is_in_views_with_periods():
    bundle = DATASETS["daily_views"].load({}, 0)
    figure = figures.dataset_preview_figure(bundle)
    assert min(figure.data[0].y) > 500 and len(figure.layout.shapes) == 3


def test_table_preview_of_a_csv_in_its_own_units():
    rows = "\n".join(f"{i},{10 * i},{'yes' if i % 2 else 'no'}" for i in range(20))
    bundle = dataset_from_csv(("a,b,label\n" + rows).encode(), seed=0)
    table = figures.dataset_preview_figure(bundle).data[0]
    assert isinstance(table, go.Table) and list(table.header.values)[-1] == "<b>label</b>"
    first_a, first_b = float(table.cells.values[0][0]), float(table.cells.values[1][0])
    assert first_b == pytest.approx(10 * first_a, rel=1e-3)  # unstandardised
    assert set(table.cells.values[2]) <= {"yes", "no"}


# -- built as plain dicts, without plotly's validation: every figure must still be valid ------------


def three_class_boundary() -> Boundary:
    axis = np.linspace(-6, 6, 12)
    return Boundary(axis, axis, np.tile(np.arange(12) % 3, (12, 1)),
                    np.tile(np.linspace(1 / 3, 1, 12), (12, 1)), None, 3)


def series_prediction() -> SeriesPrediction:
    series = np.arange(100.0) * 10
    return SeriesPrediction(np.arange(7, 100), series[6:99], series,
                            {"train": (7, 70), "val": (71, 85), "test": (86, 99)}, "views")


def image_samples(count: int, shape=(8, 8)) -> list[Sample]:
    rng = np.random.default_rng(0)
    return [Sample(rng.random(shape), true=i % 3, predicted=i % 2, probability=0.5 + i / 100)
            for i in range(count)]


POINTS = np.array([[-3.0, 1.0], [2.0, 2.0], [4.0, -1.0]])
SURFACE_AXIS = np.linspace(-6, 6, 20)
CURVE_X = np.linspace(-6, 6, 50)
SCATTER, HEATMAP = "scatter", "heatmap"

# builder with representative inputs -> the traces it must draw, as (type, name)
BUILDS = {
    "loss": (lambda: figures.loss_figure(make_epochs(20), steps=make_steps(500), best_epoch=7, stopped_epoch=17,
                                         previous=make_epochs(12, 0.2), updates_per_epoch=UPDATES),
             [(SCATTER, "mini-batch loss"), (SCATTER, "previous run: train"),
              (SCATTER, "previous run: validation"), (SCATTER, "train"), (SCATTER, "validation"),
              (SCATTER, "best epoch")]),
    "loss-log-one-epoch": (lambda: figures.loss_figure(make_epochs(1, validation=False), log_scale=True),
                           [(SCATTER, "train")]),
    "loss-empty": (lambda: figures.loss_figure([]), []),
    "accuracy": (lambda: figures.metric_figure(make_epochs(6), "accuracy", previous=make_epochs(4, 0.1)),
                 [(SCATTER, "previous run: train"), (SCATTER, "previous run: validation"),
                  (SCATTER, "train"), (SCATTER, "validation")]),
    "r2": (lambda: figures.metric_figure(make_epochs(6, validation=False), "r2"), [(SCATTER, "train")]),
    "learning-rate": (lambda: figures.learning_rate_figure(make_epochs(60)), [(SCATTER, "learning rate")]),
    "grad-norms": (lambda: figures.norms_figure(make_epochs(8), "grad"),
                   [(SCATTER, "dense1"), (SCATTER, "output")]),
    "weight-norms": (lambda: figures.norms_figure(make_epochs(1), "weight"),
                     [(SCATTER, "dense1"), (SCATTER, "output")]),
    "boundary-2": (lambda: figures.boundary_figure(two_class_boundary(), POINTS, [0, 1, 1], POINTS[:2], [1, 0],
                                                   ("outside", "inside")),
                   [(HEATMAP, "prediction"), (SCATTER, "outside"), (SCATTER, "inside"),
                    (SCATTER, "test (outlined)")]),
    "boundary-3": (lambda: figures.boundary_figure(three_class_boundary(), np.zeros((3, 2)), [0, 1, 2],
                                                   np.ones((2, 2)), [2, 0], ("a", "b", "c")),
                   [(HEATMAP, "prediction"), (SCATTER, "a"), (SCATTER, "b"), (SCATTER, "c"),
                    (SCATTER, "test (outlined)")]),
    "surface": (lambda: figures.surface_figure(Surface(SURFACE_AXIS, SURFACE_AXIS,
                                                       np.add.outer(SURFACE_AXIS, SURFACE_AXIS) / 10),
                                               np.zeros((4, 2)), np.array([0.1, -0.2, 1.5, 0.0]),
                                               np.ones((2, 2)), np.array([0.3, 0.4])),
                [(HEATMAP, "prediction"), (SCATTER, "train targets"), (SCATTER, "test targets")]),
    "regression-fit": (lambda: figures.regression_fit_figure(
        CURVE_X, np.sin(CURVE_X), points={"train": ([1.0, 2.0], [0.8, 0.9]), "test": ([3.0], [0.1])},
        truth=(CURVE_X, np.sin(CURVE_X)), regions={"train": (-6, 0), "test": (0, 6)}),
        [(SCATTER, "train"), (SCATTER, "test"), (SCATTER, "true curve"), (SCATTER, "prediction")]),
    "series-fit-dates": (lambda: figures.series_fit_figure(series_prediction(), start_date="2017-01-01"),
                         [(SCATTER, "true series"), (SCATTER, "prediction")]),
    "series-fit-days": (lambda: figures.series_fit_figure(series_prediction()),
                        [(SCATTER, "true series"), (SCATTER, "prediction")]),
    "image-grid": (lambda: figures.image_grid_figure(image_samples(10), ("zero", "one", "two"), columns=4),
                   [(HEATMAP, None)] * 10),
    "image-grid-colour": (lambda: figures.image_grid_figure(image_samples(3, (3, 8, 8))), [("image", None)] * 3),
    "confusion": (lambda: figures.confusion_figure(np.arange(9).reshape(3, 3), ("a", "b", "c")),
                  [(HEATMAP, None)]),
}


def json_of(figure_dict: dict) -> dict:
    """The figure as the browser gets it (numbers, base64 arrays and text), without its template."""
    result = json.loads(pio.to_json(figure_dict, validate=False))
    result["layout"].pop("template", None)
    return result


def assert_valid_as_built(figure: go.Figure) -> None:
    """Validated construction accepts the figure (no misspelt property, no bad value) and changes
    nothing in it (no named colourscale or other value that only plotly.py's validation expands)."""
    built = figure.to_dict()
    validated = go.Figure(built)  # raises on any invalid property or value
    assert json_of(validated.to_dict()) == json_of(built)


@pytest.mark.parametrize("name", sorted(BUILDS))
def test_every_figure_is_valid_plotly(name):
    assert_valid_as_built(BUILDS[name][0]())


@pytest.mark.parametrize("name", sorted(set(DATASETS) - NETWORK_DATASETS - UPLOADED_DATASETS))
def test_every_dataset_preview_is_valid_plotly(name):
    assert_valid_as_built(figures.dataset_preview_figure(DATASETS[name].load({}, 0)))


@pytest.mark.parametrize("target", ["number", "label"])
def test_table_preview_is_valid_plotly(target):
    rows = "\n".join(f"{i},{i * i if target == 'number' else 'yes' if i % 2 else 'no'}" for i in range(20))
    bundle = dataset_from_csv((f"a,{target}\n" + rows).encode(), seed=0)
    assert_valid_as_built(figures.dataset_preview_figure(bundle))


@pytest.mark.parametrize("name", sorted(BUILDS))
def test_every_figure_draws_the_expected_traces(name):
    build, expected = BUILDS[name]
    figure = build()
    assert [(t.type, t.name) for t in figure.data] == expected
    assert figure.layout.uirevision and figure.layout.font.size >= FONT_SIZE
    for item in figure.data:
        if item.type == "scatter" and "lines" in item.mode:
            assert item.line.width >= LINE_WIDTH


def test_live_figures_skip_plotly_object_api(monkeypatch):
    """The builders hand plotly finished dicts: the slow object API (20-40 ms a figure) stays unused."""
    def refuse(*args, **kwargs):
        raise AssertionError("figure built through plotly's object API")
    for method in ("add_trace", "add_traces", "update_layout", "update_xaxes", "update_yaxes", "add_vline",
                   "add_vrect", "add_shape", "add_annotation", "update_traces"):
        monkeypatch.setattr(go.Figure, method, refuse)
    for build, _ in BUILDS.values():
        build()
