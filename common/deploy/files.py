"""The description (``common.deploy.formats.DeployInfo``) inside each exported file: put
there after the framework's exporter wrote the file, and read back without loading the
model, so that nothing from the file runs before twinspec knows what it is. ``onnx`` and
``ai_edge_litert`` are imported here only when a command handles such a file."""

from __future__ import annotations

import zipfile
from pathlib import Path

from common.deploy.formats import INFO_DIR, INFO_FILE, INFO_KEY, DeployInfo, parse_info
from common.errors import DataError


def embed_info(fmt: str, path: Path, info: DeployInfo) -> None:
    """Add ``info`` to a file whose exporter had no place for it (ONNX from Keras, LiteRT,
    a SavedModel); torch's exporters take it themselves."""
    text = info.to_json()
    if fmt == "onnx":
        import onnx

        model = onnx.load(str(path))
        model.metadata_props.add(key=INFO_KEY, value=text)
        onnx.save(model, str(path))
    elif fmt == "litert":
        from ai_edge_litert import schema_py_generated as schema
        from ai_edge_litert.tools import flatbuffer_utils

        model = flatbuffer_utils.read_model_from_bytearray(bytearray(path.read_bytes()))
        buffer, entry = schema.BufferT(), schema.MetadataT()
        buffer.data = list(text.encode())
        model.buffers.append(buffer)
        entry.name, entry.buffer = INFO_KEY, len(model.buffers) - 1
        model.metadata = [*(model.metadata or []), entry]
        path.write_bytes(bytes(flatbuffer_utils.convert_object_to_bytearray(model)))
    else:
        (path / INFO_DIR).mkdir(exist_ok=True)
        (path / INFO_DIR / INFO_FILE).write_text(text)


def read_info(fmt: str, path: Path) -> DeployInfo:
    """The description inside an exported file, or one line saying why there is none."""
    try:
        text = _READERS[fmt](Path(path))
    except DataError:
        raise
    except Exception as exc:  # a damaged file can make each parser raise nearly anything
        raise DataError(f"{path} is not a readable {fmt} file ({' '.join(str(exc).split())[:160]})") from None
    return parse_info(text, path)


def _onnx(path: Path) -> str | None:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return next((entry.value for entry in model.metadata_props if entry.key == INFO_KEY), None)


def _litert(path: Path) -> bytes | None:
    from ai_edge_litert import schema_py_generated as schema

    data = path.read_bytes()
    if not schema.Model.ModelBufferHasIdentifier(data, 0):
        raise DataError(f"{path} is not a LiteRT (.tflite) model: its flatbuffer has no TFL3 identifier")
    model = schema.Model.GetRootAs(data, 0)
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        if entry.Name() == INFO_KEY.encode():
            return model.Buffers(entry.Buffer()).DataAsNumpy().tobytes()
    return None


def _pt2(path: Path) -> str | None:
    """A ``.pt2`` archive is a zip: ``<archive>/extra/<name>`` holds what ``extra_files`` gave."""
    with zipfile.ZipFile(path) as archive:
        found = [name for name in archive.namelist() if name.split("/", 1)[-1] == f"extra/{INFO_FILE}"]
        return archive.read(found[0]).decode() if found else None


def _saved_model(path: Path) -> str | None:
    info = path / INFO_DIR / INFO_FILE
    return info.read_text() if info.is_file() else None


_READERS = {"onnx": _onnx, "litert": _litert, "pt2": _pt2, "saved_model": _saved_model}
