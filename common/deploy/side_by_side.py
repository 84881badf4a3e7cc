"""Several columns' ONNX files as one graph in one ONNX Runtime session: one batch of
uint8 ``(N, H, W, C)`` images (what an image decoder hands over) in, each column's outputs
out, named by the column. A channels-first model gets the images through a ``Transpose``.
Every column exports in one opset (``common.deploy.formats.ONNX_OPSET``), so their nodes
mean the same in one graph. ``onnx`` is imported only when this runs."""

from __future__ import annotations

from pathlib import Path

from common.deploy.formats import ONNX_OPSET
from common.errors import DataError

INPUT = "images"


def merge_onnx(models: dict[str, tuple[Path, str]], input_shape: tuple[int, int, int]) -> bytes:
    """``models`` maps an output name to an ONNX file and the layout it takes; the merged model's bytes."""
    import onnx
    from onnx import TensorProto, compose, helper

    channels, height, width = input_shape
    images = helper.make_tensor_value_info(INPUT, TensorProto.UINT8, ["batch", height, width, channels])
    nodes, initializers, value_info, outputs, functions = [], [], [], [], []
    opsets: dict[str, int] = {}
    for name, (path, layout) in models.items():
        model = compose.add_prefix(onnx.load(str(path)), prefix=f"{name}/")
        default = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
        if default != ONNX_OPSET:
            raise DataError(f"{path}: ONNX opset {default}, not the {ONNX_OPSET} every column exports in")
        for opset in model.opset_import:
            opsets[opset.domain] = max(opsets.get(opset.domain, 0), opset.version)
        (own_input,) = model.graph.input
        (output,) = model.graph.output
        perm = [0, 3, 1, 2] if layout == "nchw" else [0, 1, 2, 3]
        nodes.append(helper.make_node("Transpose", [INPUT], [own_input.name], name=f"{name}/layout", perm=perm))
        nodes += [*model.graph.node, helper.make_node("Identity", [output.name], [name], name=f"{name}/out")]
        initializers += model.graph.initializer
        value_info += [*model.graph.value_info, own_input, output]
        outputs.append(onnx.ValueInfoProto(name=name, type=output.type))
        functions += model.functions
    graph = helper.make_graph(nodes, "side_by_side", [images], outputs, initializer=initializers, value_info=value_info)
    merged = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid(domain, version) for domain, version in opsets.items()],
        functions=functions,
        producer_name="twinspec",
    )
    merged.ir_version = max(onnx.load(str(path), load_external_data=False).ir_version for path, _ in models.values())
    onnx.checker.check_model(merged)
    return merged.SerializeToString()
