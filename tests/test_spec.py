"""The spec language: the shipped specs, and bad specs reported at file:line."""

import textwrap

import pytest

from spec import SPEC_DIR, SpecError, TwinspecError, list_specs, load_spec, resolve_spec
from spec.fields import REQUIRED
from spec.load import SCHEDULERS

GOOD = textwrap.dedent(
    """\
    name: tiny
    title: a tiny model
    data:
      dataset: {kind: lines, img_size: 5, n_images: 40, binary: true, seed: 1}
      split: {fractions: [0.75, 0.25], seed: 2}
      sampler: balanced
      augment: [{hflip: 0.5}]
      normalize: {mean: [0.5], std: [0.5]}
      batch_size: 8
    model:
      seed: 3
      layers:
        - {flatten: {name: flatten}}
        - {linear: {name: hidden, units: 4}}
        - {relu: {name: act}}
        - {linear: {name: output, units: 1}}
        - {sigmoid: {name: sigmoid}}
    train:
      loss: bce
      optimizer: {sgd: {lr: 0.1}}
      epochs: 2
      seed: 4
    """
)


def write(tmp_path, text):
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return path


def test_shipped_specs_are_the_chapter4_models():
    specs = {spec.name: spec for spec in list_specs()}
    assert set(specs) >= {"logistic", "deepish", "relu"}
    for spec in specs.values():
        assert spec.path.stem == spec.name
    for name in ("logistic", "deepish", "relu"):
        spec = specs[name]
        assert spec.data.batch_size == 16 and spec.data.hflip == 0.5 and spec.data.sampler == "balanced"
        assert (spec.data.split_fractions, spec.data.split_seed) == ((0.8, 0.2), 13)
        assert spec.data.dataset.params == {"img_size": 5, "n_images": 300, "binary": True, "seed": 13}
        assert (spec.model.seed, spec.train.seed, spec.train.loss) == (17, 42, "bce")
        assert (spec.train.optimizer, spec.train.optimizer_params["lr"]) == ("sgd", 0.1)
        assert all(not layer.params.get("bias", False) for layer in spec.model.layers)
    assert [layer.out_shape for layer in specs["logistic"].model.layers] == [(25,), (1,), (1,)]
    assert [(layer.name, layer.kind) for layer in specs["relu"].model.layers] == [
        ("flatten", "flatten"),
        ("hidden0", "linear"),
        ("activation0", "relu"),
        ("hidden1", "linear"),
        ("activation1", "relu"),
        ("output", "linear"),
        ("sigmoid", "sigmoid"),
    ]
    assert (specs["logistic"].train.epochs, specs["deepish"].train.epochs, specs["relu"].train.epochs) == (100, 100, 50)


def test_in_features_are_inferred(tmp_path):
    spec = load_spec(write(tmp_path, GOOD))
    assert [(layer.in_shape, layer.out_shape) for layer in spec.model.layers] == [
        ((1, 5, 5), (25,)),
        ((25,), (4,)),
        ((4,), (4,)),
        ((4,), (1,)),
        ((1,), (1,)),
    ]


def test_overrides():
    spec = load_spec(resolve_spec("relu")).with_overrides(epochs=3, seed=9)
    assert (spec.train.epochs, spec.model.seed, spec.train.seed) == (3, 9, 9)


@pytest.mark.parametrize(
    "old, new, line, message",
    [
        (
            "  batch_size: 8",
            "  batch_size: 8\n  oops: [",
            12,
            "invalid YAML: while parsing a flow sequence (started at line 10)",
        ),
        ("  batch_size: 8", "  batch_size: 8\n oops: 1", 10, "invalid YAML"),
        ("  epochs: 2", "  epochs: ten", 21, "train.epochs must be a positive integer, got 'ten'"),
        ("  epochs: 2", "  epochs: 0", 21, "must be a positive integer"),
        ("  sampler: balanced", "  sampler: weighted", 6, "one of balanced, shuffle, sequential"),
        ("{sgd: {lr: 0.1}}", "{sgd: {lr: 0.1, mom: 0.9}}", 20, "unknown key 'mom'"),
        ("{sgd: {lr: 0.1}}", "{lbfgs: {lr: 0.1}}", 20, "unknown optimizer 'lbfgs'"),
        ("{sgd: {lr: 0.1}}", "{sgd: {lr: 0.1, weight_decay: -0.01}}", 20, "weight_decay must be a number >= 0"),
        ("{sgd: {lr: 0.1}}", "{rmsprop: {lr: 0.1, alpha: 1}}", 20, "rmsprop.alpha must be a number in [0, 1)"),
        ("{sgd: {lr: 0.1}}", "{adamw: {lr: 0.1, nesterov: true}}", 20, "unknown key 'nesterov' in optimizer adamw"),
        (
            "    - {flatten: {name: flatten}}",
            "    - {conv2d: {name: c, filters: 2, kernel: 3, weights: sobel}}\n    - {flatten: {name: flatten}}",
            13,
            "conv2d.weights must be a kernel's name (sobel_x, sobel_y, laplacian), a matrix of numbers, or a list",
        ),
        (
            "    - {flatten: {name: flatten}}",
            "    - {conv2d: {name: c, filters: 3, kernel: 3, weights: [sobel_x, sobel_y]}}\n    - {flatten: {name: f}}",
            13,
            "layer 'c' (conv2d) sets 2 kernels for its 3 filters: give one for all, or one each",
        ),
        (
            "    - {flatten: {name: flatten}}",
            "    - {conv2d: {name: c, filters: 1, kernel: 2, weights: laplacian}}\n    - {flatten: {name: f}}",
            13,
            "layer 'c' (conv2d) sets a 3x3 kernel, but its kernel is 2x2",
        ),
        (
            "    - {flatten: {name: flatten}}",
            "    - {maxpool2d: {name: p, kernel: 2, padding: same}}\n    - {flatten: {name: f}}",
            13,
            "layer 'p' (maxpool2d) pads same by 1 pixels over 5: TensorFlow puts the odd one after, torch pads evenly",
        ),
        (
            "    - {flatten: {name: flatten}}",
            "    - {avgpool2d: {name: p, kernel: 2, padding: 2}}\n    - {flatten: {name: f}}",
            13,
            "layer 'p' (avgpool2d) pads by 2, more than half its window of 2 (torch refuses it)",
        ),
        (
            "units: 1}",
            "units: 1, weights: [[1, 2, 3]]}",
            16,
            "sets a 1x3 weight matrix, but its (units, in_features) is (1, 4)",
        ),
        (
            "units: 1}",
            "units: 1, weights: [[1, 2], [3]]}",
            16,
            "linear.weights must be a matrix of numbers, one row per unit",
        ),
        ("units: 1}", "units: 1, trainable: 0}", 16, "linear.trainable must be true or false, got 0"),
        ("  seed: 3", "  seed: 3\n  init: glorot", 12, "model.init must be torch, keras, {normal: {std}} or {uniform"),
        (
            "  seed: 3",
            "  seed: 3\n  init: {normal: {std: 0}}",
            12,
            "model.init must be {normal: {std}} or {uniform: {a, b}}, each parameter a positive number",
        ),
        (
            "units: 4}",
            "units: 4, init: {uniform: {a: 1, b: 0}}}",
            14,
            "linear.init must be {uniform: {a, b}} with a < b",
        ),
        (
            "units: 1}",
            "units: 1, weights: [[1, 2, 3, 4]], init: {normal: {std: 1}}}",
            16,
            "sets its weights by hand: an init has nothing to draw",
        ),
        ("{relu: {name: act}}", "{relu: {name: act, init: {normal: {}}}}", 15, "unknown key 'init' in relu"),
        ("  epochs: 2", "  epochs: 2\n  clip: {norm: 0}", 22, "train.clip.norm must be a positive number, got 0"),
        ("  epochs: 2", "  epochs: 2\n  clip: {value: .nan}", 22, "train.clip.value must be a number, got nan"),
        (
            "  epochs: 2",
            "  epochs: 2\n  clip: {max_norm: 1}",
            22,
            "unknown clip 'max_norm' (expected one of: value, norm)",
        ),
        ("  epochs: 2", "  epochs: 2\n  clip: 1.0", 22, "clip must be a mapping with one key, one of: value, norm"),
        (
            "  epochs: 2",
            "  epochs: 2\n  scheduler: {warmup: {steps: 3}}",
            22,
            "unknown scheduler 'warmup' (expected one of: step, multistep, exponential, cosine, reduce_on_plateau,",
        ),
        ("  epochs: 2", "  epochs: 2\n  scheduler: {step: {}}", 22, "scheduler step needs 'step_size'"),
        (
            "  epochs: 2",
            "  epochs: 2\n  scheduler: {step: {step_size: 2, gamma: -0.5}}",
            22,
            "scheduler step.gamma must be a positive number, got -0.5",
        ),
        (
            "  epochs: 2",
            "  epochs: 2\n  scheduler: {multistep: {milestones: [5, 2]}}",
            22,
            "scheduler multistep.milestones must be a list of increasing epochs, got [5, 2]",
        ),
        (
            "  epochs: 2",
            "  epochs: 2\n  scheduler: {reduce_on_plateau: {factor: 1.5}}",
            22,
            "scheduler reduce_on_plateau.factor must be a number in (0, 1), got 1.5",
        ),
        (
            "  epochs: 2",
            "  epochs: 2\n  scheduler: {cyclic: {base_lr: 0.001, max_lr: 0.01, step_size_up: batch}}",
            22,
            "step_size_up must be a positive integer of steps, or epoch, got 'batch'",
        ),
        (
            "  epochs: 2",
            "  epochs: 2\n  scheduler: {cyclic: {base_lr: 0.001, max_lr: 0.01, mode: triangular3}}",
            22,
            "scheduler cyclic.mode must be one of triangular, triangular2, exp_range, got 'triangular3'",
        ),
        (
            "  epochs: 2",
            "  epochs: 2\n  scheduler: {one_cycle: {max_lr: 0.1, pct_start: 1.5}}",
            22,
            "scheduler one_cycle.pct_start must be a probability in [0, 1], got 1.5",
        ),
        (
            "  epochs: 2",
            "  epochs: 2\n  scheduler: {one_cycle: {max_lr: 0.1}}",
            22,
            "scheduler one_cycle cycles SGD's momentum: it needs optimizer sgd with momentum > 0",
        ),
        (
            "  epochs: 2",
            "  epochs: 2\n  scheduler:\n    cyclic:\n      base_lr: 0.001\n      max_lr: 0.01\n      cycle_momentum: true",
            26,
            "scheduler cyclic cycles SGD's momentum",
        ),
        ("{relu: {name: act}}", "{swish: {name: act}}", 15, "unknown layer kind 'swish'"),
        ("{relu: {name: act}}", "{relu: {name: hidden}}", 15, "layer name 'hidden' is used twice"),
        ("{relu: {name: act}}", "{relu: {nme: act}}", 15, "needs 'name'"),
        ("    - {flatten: {name: flatten}}\n", "", 13, "layer 'hidden' (linear) needs flat features"),
        ("{linear: {name: output, units: 1}}", "{linear: {name: output, units: 2}}", 17, "does not fit loss bce"),
        ("    - {sigmoid: {name: sigmoid}}\n", "", 16, "end with a sigmoid layer"),
        ("  loss: bce", "  loss: cross_entropy", 17, "expected shape (2,)"),
        ("fractions: [0.75, 0.25]", "fractions: [0.75, 0.5]", 5, "sum to 1"),
        ("mean: [0.5], std: [0.5]", "mean: [0.5, 0.5], std: [0.5]", 8, "a 1 list"),
        ("std: [0.5]", "std: [0]", 8, "positive number"),
        ("img_size: 5", "img_size: 1", 4, "at least 2"),
        (
            "    - {flatten: {name: flatten}}",
            "    - {conv2d: {name: conv, filters: 2, kernel: 7}}\n    - {flatten: {name: flatten}}",
            13,
            "layer 'conv' (conv2d) has a kernel of 7, larger than its input of 5",
        ),
        (
            "    - {flatten: {name: flatten}}",
            "    - {maxpool2d: {name: pool, kernel: 6}}\n    - {flatten: {name: flatten}}",
            13,
            "window of 6",
        ),
        ("{relu: {name: act}}", "{conv2d: {name: act, filters: 2, kernel: 3}}", 15, "needs a (C, H, W) feature map"),
        ("units: 4}", "units: lots}", 14, "linear.units must be a positive integer, or classes"),
        (
            "    - {flatten: {name: flatten}}",
            "    - {conv2d: {name: conv, filters: 2, kernel: 3, padding: wide}}\n    - {flatten: {name: flatten}}",
            13,
            "padding must be a non-negative integer, two (height, width), valid or same, got 'wide'",
        ),
        *(
            (
                "    - {flatten: {name: flatten}}",
                f"    - {{{layer}}}\n    - {{flatten: {{name: flatten}}}}",
                13,
                message,
            )
            for layer, message in [
                (
                    "conv2d: {name: c, filters: 2, kernel: [3]}",
                    "kernel must be a positive integer, or two (height, width)",
                ),
                ("conv2d: {name: c, filters: 2, kernel: 3, groups: 2}", "has 2 groups, which must divide its 1 input"),
                ("conv2d: {name: c, filters: 2, kernel: 2, stride: 2, dilation: 2}", "cannot both stride and dilate"),
                ("conv2d: {name: c, filters: 2, kernel: 3, dilation: [1, 3]}", "has a dilated kernel of 7"),
                (
                    "conv2d: {name: c, filters: 2, kernel: 3, padding: same, padding_mode: circular}",
                    "needs padding in pixels",
                ),
                (
                    "conv2d: {name: c, filters: 2, kernel: 3, padding: [1, 6], padding_mode: reflect}",
                    "cannot reflect-pad",
                ),
                (
                    "conv2d: {name: c, filters: 2, kernel: 3, padding_mode: mirror}",
                    "one of zeros, reflect, replicate, circ",
                ),
                ("pad2d: {name: p, padding: 1, mode: reflect, value: 0.5}", "value is the constant mode's"),
                ("pad2d: {name: p, padding: [1, 6], mode: circular}", "cannot pad circularly by (1, 6)"),
                ("pad2d: {name: p, padding: [0, 1]}", "padding must be a positive integer, or two (height, width)"),
                ("maxpool2d: {name: p, kernel: [2, 6]}", "window of 6, larger than its input of 5"),
            ]
        ),
        ("{hflip: 0.5}", "{hflip: 1.5}", 7, "probability"),
        ("seed: 3", "seed: -3", 11, "model.seed must be an integer from 0 to 2**32 - 1, got -3"),
        ("name: tiny", "name: tiny\nname: again", 2, "duplicate key 'name'"),
        ("seed: 3", "seed: 4294967296", 11, "an integer from 0 to 2**32 - 1"),
        ("{sgd: {lr: 0.1}}", "{sgd: {lr: 0.1, momentum: -0.5}}", 20, "momentum must be a number in [0, 1)"),
        ("{sgd: {lr: 0.1}}", "{sgd: {lr: 0.1, momentum: 1.5}}", 20, "a number in [0, 1)"),
        ("{sgd: {lr: 0.1}}", "{adam: {betas: [1.0, 0.999]}}", 20, "betas must be a number in [0, 1)"),
        ("name: tiny", "name: tiny\n? [a, b]\n: 1", 2, "a key must be a plain name"),
        ("{relu: {name: act}}", "{relu: {name: nchw_to_nhwc}}", 15, "reserved"),
        (
            "    - {flatten: {name: flatten}}",
            "    - {conv2d: {name: c, filters: 2, kernel: 3, padding: 1}}\n    - {relu: {name: c_pad}}\n"
            "    - {flatten: {name: flatten}}",
            14,
            "layer name 'c_pad' is taken by the padding of 'c'",
        ),
    ],
)
def test_bad_spec_is_reported_at_its_line(tmp_path, old, new, line, message):
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    assert caught.value.line == line
    assert str(caught.value).startswith(f"{path}:{line}: ")
    assert message in str(caught.value)


def test_not_a_mapping(tmp_path):
    with pytest.raises(SpecError, match="the spec must be a mapping"):
        load_spec(write(tmp_path, "- just\n- a list\n"))


def test_missing_file_and_unknown_name(tmp_path):
    with pytest.raises(SpecError, match="no such spec file"):
        load_spec(tmp_path / "absent.yaml")
    with pytest.raises(TwinspecError, match=r"unknown model 'nope' \(choose from: .*logistic.*relu"):
        resolve_spec("nope")


def test_spec_dir_holds_only_specs():
    assert sorted(p.suffix for p in SPEC_DIR.iterdir()) == [".yaml"] * len(list(SPEC_DIR.iterdir()))


@pytest.mark.parametrize("kind, torch_name", [("adam", "Adam"), ("adamw", "AdamW"), ("rmsprop", "RMSprop")])
def test_an_optimizers_defaults_are_torchs(tmp_path, kind, torch_name):
    """What a spec leaves out is what torch's optimizer defaults to (SGD's lr has none)."""
    import torch

    spec = load_spec(write(tmp_path, GOOD.replace("{sgd: {lr: 0.1}}", f"{{{kind}: {{}}}}", 1)))
    defaults = getattr(torch.optim, torch_name)([torch.zeros(1, requires_grad=True)]).defaults
    assert spec.train.optimizer_params == {key: defaults[key] for key in spec.train.optimizer_params}


@pytest.mark.parametrize("kind", SCHEDULERS)
def test_a_schedulers_defaults_are_torchs(kind):
    """What a spec leaves out of a scheduler is what torch's class defaults to."""
    import inspect

    import torch

    from torch_impl.calls import SCHEDULERS as CLASSES

    parameters = inspect.signature(getattr(torch.optim.lr_scheduler, CLASSES[kind])).parameters
    for key, (_, default) in SCHEDULERS[kind].items():
        assert (default is REQUIRED) == (parameters[key].default is inspect.Parameter.empty), key
        if default is not REQUIRED:
            assert parameters[key].default == default, key


def test_a_scheduler_in_the_spec_keeps_torchs_names_and_the_epochs_batches(tmp_path):
    made = (
        "  epochs: 2\n  scheduler: {cyclic: {base_lr: 0.01, max_lr: 0.1, step_size_up: epoch, cycle_momentum: false}}"
    )
    spec = load_spec(write(tmp_path, GOOD.replace("  epochs: 2", made, 1)))
    scheduler = spec.train.scheduler
    assert scheduler.kind == "cyclic" and scheduler.per_step
    assert scheduler.params["step_size_up"] == "epoch" and scheduler.params["step_size_down"] is None
    assert load_spec(SPEC_DIR / "cnn2.yaml").train.scheduler is None
