"""A run folder read back: its spec, metrics and weights, and new images prepared as its
training images were, so that any column (or an exported model) can classify them
(``run.py predict``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.data.loaders import IMAGE_SUFFIXES, open_image, read_image
from common.data.prep import normalize, scale
from common.errors import DataError
from common.files.weights import Weights, load_weights
from common.runs.recorded import check_metrics, read_metrics, recorded_column, recorded_dataset
from common.runs.store import RUN_SPEC
from spec import Spec, load_spec
from spec.errors import TwinspecError, special_file

RUN_FILES = ("metrics.json", RUN_SPEC, "weights.npz")
GRAY_MODES = ("1", "L", "LA")  # a palette image may be either: it is converted as colour
COLOUR_MODES = ("RGB", "RGBA", "P", "CMYK", "YCbCr")


@dataclass(frozen=True)
class SavedRun:
    folder: Path
    spec: Spec  # as it trained: on the --data it was given, if any
    metrics: dict
    weights: Weights
    column: str  # the column it trained in


def load_run(folder: Path) -> SavedRun:
    """A run folder written by ``run.py train``; refused, with the reason, if it is not one
    (``common.runs.recorded`` checks its ``metrics.json`` against its spec)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"run folder {folder} does not exist (train one with: python run.py --model NAME)")
    for name in RUN_FILES:
        kind = special_file(folder / name)
        if kind is not None:
            raise DataError(f"{folder / name}: it is {kind}, not the file run.py train writes")
    missing = [name for name in RUN_FILES if not (folder / name).is_file()]
    if missing:
        raise DataError(f"{folder} is not a run folder of run.py train: it lacks {', '.join(missing)}")
    metrics_path = folder / "metrics.json"
    metrics = read_metrics(metrics_path)
    dataset = recorded_dataset(metrics_path, metrics, load_spec(folder / RUN_SPEC))
    try:  # on the user's data, the classes and input shape of the model are what metrics.json says
        spec = load_spec(folder / RUN_SPEC, dataset=dataset)
        check_metrics(metrics_path, metrics, spec)
        weights = load_weights(folder / "weights.npz", spec.model)
    except TwinspecError as exc:
        if dataset is None:
            raise
        recorded = f"classes ({dataset.n_classes}) and input_shape {list(dataset.input_shape)}"
        raise DataError(f"{metrics_path}: its {recorded} do not fit the run's model: {exc}") from None
    return SavedRun(folder, spec, metrics, weights, recorded_column(metrics_path, metrics))


def image_files(paths: list[Path]) -> list[Path]:
    """The files named, and the PNG and JPEG images under the folders named, in name order
    (what is not a regular file, a FIFO or a link to a device, is passed over in a folder,
    refused when named)."""
    files = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise DataError(f"folder {path} holds no PNG or JPEG images")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            kind = special_file(path)
            raise DataError(f"image {path} is {kind}, not an image file" if kind else f"image {path} does not exist")
    return files


def prepare_images(files: list[Path], run: SavedRun) -> np.ndarray:
    """Float32 ``(N, C, H, W)`` inputs, prepared as the run's training images were: scaled
    by 1/255, then normalised by the run's own mean and std."""
    return prepare(read_images(files, run.spec.data.dataset.input_shape, run.spec.data.dataset.kind), run)


def prepare(images: np.ndarray, run: SavedRun) -> np.ndarray:
    """uint8 ``(N, C, H, W)`` pixels -> the model's inputs: / 255, then the run's mean and std."""
    x = scale(images)
    norm = run.metrics.get("normalization")
    return x if norm is None else normalize(x, tuple(norm["mean"]), tuple(norm["std"]))


def read_images(files: list[Path], input_shape: tuple[int, ...], dataset: str) -> np.ndarray:
    """uint8 ``(N, C, H, W)`` pixels of a model that trained on ``input_shape`` images of a
    ``dataset`` kind. Images of a folder dataset are converted and resized as the folder's
    were; for any other dataset, an image of another size, or grey for a colour model (or
    colour for a grey one), is refused: the training data was never converted, so no
    conversion would be the one it saw. Channels are read in the file's RGB order and
    never swapped (OpenCV's ``imread`` would give BGR)."""
    channels, height, width = input_shape
    images = np.empty((len(files), channels, height, width), np.uint8)
    for i, path in enumerate(files):
        if dataset != "image_folder":
            _check_image(path, channels, (height, width), dataset)
        images[i] = read_image(path, "RGB" if channels == 3 else "L", (height, width))
    return images


def _check_image(path: Path, channels: int, size: tuple[int, int], dataset: str) -> None:
    with open_image(path) as image:
        mode, (width, height) = image.mode, image.size
    trained = f"the model was trained on {size[0]}x{size[1]} {'grey' if channels == 1 else 'RGB'} images ({dataset})"
    if (height, width) != size:
        raise DataError(f"{path} is {height}x{width} pixels, but {trained}: resize it to {size[0]}x{size[1]} first")
    if channels == 1 and mode not in GRAY_MODES:
        raise DataError(f"{path} is a colour image ({mode}), but {trained}: save it as one channel (grey) first")
    if channels == 3 and mode not in COLOUR_MODES:
        raise DataError(f"{path} is a {mode} image, but {trained}: save it with three channels (RGB) first")
