"""tf.Module <-> neutral weights (torch's layout).

TensorFlow's layouts, which Keras inherits: dense kernels are ``(in, out)``, the transpose
of torch's ``(out, in)``; conv kernels are HWIO (``tf.nn.conv2d``'s filters), torch's OIHW,
whatever the data format. After a flatten of a ``(C, H, W)`` map the features come in
H, W, C order (``build`` flattens so in both data formats), torch's in C, H, W, so that
layer's rows (or a batchnorm's per-feature vectors) are reordered too.
"""

from __future__ import annotations

from pathlib import Path

from common.errors import WriteError
from common.files.weights import TENSORFLOW_NAMES, Weights, export_tensorflow, import_tensorflow
from spec.schema import ModelSpec
from tf_impl._tensorflow import tf
from tf_impl.build import Model, build_model

NATIVE_FILE = "model.savedmodel"  # what a run folder holds besides the neutral weights.npz: a SavedModel folder

def _variables(model: Model, name: str) -> dict:
    """A layer's variables by their neutral names: ``conv1/kernel:0`` is ``weight``."""
    owned = [v for v in model.variables if v.name.startswith(f"{name}/")]
    return {TENSORFLOW_NAMES[v.name.split(":")[0].split("/")[1]]: v for v in owned}


def export_weights(model: Model, spec: ModelSpec) -> Weights:
    return export_tensorflow(spec, lambda name: _variables(model, name))


def import_weights(model: Model, spec: ModelSpec, weights: Weights) -> None:
    import_tensorflow(spec, weights, lambda name: _variables(model, name))


def save_native_model(spec: ModelSpec, weights: Weights, path: Path) -> None:
    """The model as TensorFlow users save it, ``tf.saved_model.save(module, path)``: a
    SavedModel folder, built channels-last as the listing writes it, whose ``serve``
    function (also its ``serving_default`` signature) maps ``(N, H, W, C)`` float32 images
    to the outputs in eval mode. ``tf.saved_model.load(path).serve(x)`` runs it without
    twinspec: the graph holds every op, ``pad2d`` and the fused activations included."""
    model = build_model(spec, "nhwc")
    import_weights(model, spec, weights)
    channels, height, width = spec.layers[0].in_shape
    images = tf.TensorSpec([None, height, width, channels], tf.float32, name="images")
    model.serve = tf.function(lambda x: model(x, training=False), input_signature=[images])
    try:
        tf.saved_model.save(model, str(path), signatures=model.serve)
    except OSError as exc:
        raise WriteError(path, exc.strerror or str(exc)) from None
    except tf.errors.OpError as exc:  # the variables' writer: a full disk is a ResourceExhaustedError
        raise WriteError(path, _reason(exc)) from None


def _reason(exc: tf.errors.OpError) -> str:
    """The system's reason at the end of a TensorFlow error ("...; No space left on device
    [Op:SaveV2]"), without the op and the temporary file it was writing."""
    return exc.message.split("[Op:")[0].rsplit(";", 1)[-1].strip() or type(exc).__name__
