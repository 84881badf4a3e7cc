"""Datasets the user brings: a folder of images per class, keras' ``mnist.npz``, CIFAR-10.

Each loader returns the canonical arrays (uint8 images ``(N, C, H, W)``, int64 labels)
and the class names, so that every column trains on the same bytes, as it does on the
generated sets. Nothing here downloads: a missing file is a ``DataError`` that says where
to get it, and a malformed one is a ``DataError`` that names it.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from common.errors import DataError
from common.files.npz import read_npz
from spec.errors import special_file

Labelled = tuple[np.ndarray, np.ndarray]  # images uint8 (N, C, H, W), labels int64 (N,)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
# Read by torchvision's ImageFolder or keras' image_dataset_from_directory but not here:
# refused rather than skipped, so that the three never see different lists of files.
OTHER_IMAGE_SUFFIXES = (".bmp", ".gif", ".ppm", ".pgm", ".tif", ".tiff", ".webp")

MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
MNIST_KEYS = ("x_train", "y_train", "x_test", "y_test")
MNIST_CLASSES = tuple(str(digit) for digit in range(10))

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_FOLDER = "cifar-10-batches-py"  # what the archive extracts to
CIFAR10_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_TEST = "test_batch"
CIFAR10_META = "batches.meta"


# --- a folder of images per class ---------------------------------------------------


def load_image_folder(
    root: Path, size: tuple[int, int], channels: int = 3
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Images ``(N, channels, height, width)`` from ``root/<class>/**/*.png|jpg|jpeg``.

    Classes and files come in the order of torchvision's ``ImageFolder`` and of keras'
    ``image_dataset_from_directory(shuffle=False)``: class folders sorted by name (hidden
    ones skipped, as keras does; torchvision would make them classes), then within a class
    folders sorted by path and files by name, sub-folders included (followed through
    symlinks, as torchvision does). Pixels are decoded with PIL, converted to RGB (or to
    "L", ITU-R 601 luma, for ``channels=1``) and resized to ``size = (height, width)``
    with PIL's bilinear filter, only where the size differs. Measured on this stack
    (``tests/test_loaders.py``, levels out of 255):

    - torchvision (its PIL loader, then ``transforms.Grayscale()`` for one channel, then
      ``transforms.Resize((h, w))`` on the PIL image): identical in every case, because
      torchvision resizes PIL images with PIL itself.
    - keras, files already at ``size``: identical for PNG (RGB, gray, RGBA, palette).
      JPEG differs by up to 7: TensorFlow decodes with libjpeg's fast integer IDCT, PIL
      with the accurate one. One channel from colour files: within 1 for PNG (libpng's
      RGB to gray weights), up to 11 for JPEG; grayscale files are identical.
    - keras, resized (``tf.image.resize``, bilinear, no antialiasing, float output):
      enlarging both sides stays within 1 (about 15% of values round the other way);
      shrinking either side does not match: up to ~100 on noise, ~4 on a smooth
      gradient, because PIL averages each output pixel's whole footprint and TF
      interpolates between the 2 x 2 nearest input pixels.

    16-bit and float images are refused: PIL, and so torchvision, would clip them to 255.
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, not {channels}")
    height, width = size
    if height < 1 or width < 1:
        raise ValueError(f"size must be a positive (height, width), not {size}")
    files, classes = image_folder_files(root)
    images = np.empty((len(files), channels, height, width), dtype=np.uint8)
    mode = "RGB" if channels == 3 else "L"
    for i, (path, _) in enumerate(files):
        images[i] = read_image(path, mode, (height, width))
    labels = np.array([label for _, label in files], dtype=np.int64)
    return images, labels, tuple(classes)


def image_folder_files(root: Path) -> tuple[list[tuple[Path, int]], tuple[str, ...]]:
    """The files ``load_image_folder`` reads, each with its label, and the class names.

    A symlink loop, and a file reached twice (two links to one folder or one file, a
    class folder linked into another), are refused: they would multiply samples and put
    the same image in both the training and the validation split.
    """
    root = Path(root)
    how = f"put one sub-folder of PNG or JPEG images per class in it and pass --data {root}"
    if not root.exists():
        raise DataError(f"image folder {root} does not exist; {how}")
    if not root.is_dir():
        raise DataError(f"{root} is not a folder; {how}")
    classes = sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))
    if not classes:
        raise DataError(f"image folder {root} has no class sub-folders; {how}")
    if len(classes) == 1:
        raise DataError(f"image folder {root} has one class folder ({classes[0]}); a classifier needs two or more")
    seen: dict[tuple[int, int], Path] = {}
    files = [(path, label) for label, name in enumerate(classes) for path in _image_files(root / name, seen)]
    return files, tuple(classes)


def _image_files(folder: Path, seen: dict[tuple[int, int], Path]) -> list[Path]:
    """``folder``'s images, sub-folders included; ``seen`` maps each (device, inode)
    already reached, folders and files, to where it was reached."""
    found = []

    def first_visit(path: Path, what: str) -> None:
        try:
            stat = path.stat()
        except OSError as exc:  # a dangling link, a file gone meanwhile
            raise DataError(f"{path} cannot be read ({exc.strerror}); replace it or remove it") from None
        kind = special_file(path) if what == "file" else None
        if kind is not None:  # reading a FIFO would wait for ever, a device never end
            raise DataError(f"{path} is {kind}, not an image file; remove it")
        earlier = seen.setdefault((stat.st_dev, stat.st_ino), path)
        if earlier == path:
            return
        if what == "folder" and path.is_relative_to(earlier):
            raise DataError(f"{path} leads back to {earlier} (a symlink loop); remove the link")
        raise DataError(f"{path} is the same {what} as {earlier}; remove one link, so that each image is read once")

    walked = []
    for dirpath, _, names in os.walk(folder, followlinks=True):  # a loop is refused as soon as it is entered
        first_visit(Path(dirpath), "folder")
        walked.append((dirpath, names))
    for dirpath, names in sorted(walked):  # torchvision's order: sorted(os.walk(...))
        for name in sorted(names):
            if name.lower().endswith(IMAGE_SUFFIXES):
                first_visit(Path(dirpath, name), "file")
                found.append(Path(dirpath, name))
            elif name.lower().endswith(OTHER_IMAGE_SUFFIXES):
                raise DataError(f"{Path(dirpath, name)}: only PNG and JPEG images are read; convert it or move it out")
    if not found:
        raise DataError(f"class folder {folder} holds no PNG or JPEG images; add some or remove the folder")
    return found


def read_image(path: Path, mode: str, size: tuple[int, int]) -> np.ndarray:
    """One image as uint8 ``(C, H, W)``, converted to ``mode`` (RGB or L) and resized to
    ``size`` as every image of a folder is (``run.py predict`` reads new images so too)."""
    with open_image(path) as image:
        image = image.convert(mode)
    height, width = size
    if image.size != (width, height):
        image = image.resize((width, height), Image.Resampling.BILINEAR)
    pixels = np.asarray(image, dtype=np.uint8)
    return pixels[np.newaxis] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)


@contextlib.contextmanager
def open_image(path: Path) -> Iterator[Image.Image]:
    """``Image.open(path)``, with every reason not to read it one ``DataError``: not an
    image, more pixels than PIL's guard against decompression bombs allows (PIL would warn
    up to twice its limit, then refuse), or 16-bit or float pixels, which PIL would clip to
    255 on conversion (torchvision does so silently)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                if image.mode in ("I", "F") or image.mode.startswith("I;16"):
                    depth = "16-bit or float"
                    raise DataError(f"{path} has {image.mode} pixels ({depth}); save it with 8 bits per channel")
                yield image
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise DataError(f"{path} is too large to read safely ({exc}); shrink it first") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"{path} is not a readable image ({exc}); replace it or remove it") from None


# --- MNIST, as keras ships it ---------------------------------------------------------


def load_mnist_npz(path: Path) -> tuple[Labelled, Labelled, tuple[str, ...]]:
    """Train and test sets ``(images (N, 1, H, W), labels)`` from keras' ``mnist.npz``.

    The file holds ``x_train, y_train, x_test, y_test``: uint8 images ``(N, H, W)`` (any
    H x W, the same for both splits) and digit labels 0..9. Read without pickle.
    """
    path = Path(path)
    how = f"download mnist.npz from {MNIST_URL} and pass --data PATH"
    if not path.exists():
        raise DataError(f"MNIST file {path} not found; {how}")
    arrays = read_npz(path, ".npz file", how)
    missing = [key for key in MNIST_KEYS if key not in arrays]
    if missing:
        raise DataError(f"{path} lacks {', '.join(missing)}; an MNIST .npz holds {', '.join(MNIST_KEYS)}")
    train = _mnist_split(path, arrays["x_train"], arrays["y_train"], "train")
    test = _mnist_split(path, arrays["x_test"], arrays["y_test"], "test")
    if train[0].shape[2:] != test[0].shape[2:]:
        raise DataError(f"{path}: x_train images are {train[0].shape[2:]}, x_test images {test[0].shape[2:]}")
    return train, test, MNIST_CLASSES


def _mnist_split(path: Path, x: np.ndarray, y: np.ndarray, split: str) -> Labelled:
    if x.dtype != np.uint8 or x.ndim != 3:
        raise DataError(f"{path}: x_{split} must be uint8 images (N, H, W), not {x.dtype} {x.shape}")
    if not np.issubdtype(y.dtype, np.integer) or y.shape != x.shape[:1]:
        raise DataError(f"{path}: y_{split} must be {len(x)} integer labels, not {y.dtype} {y.shape}")
    if y.size and (y.min() < 0 or y.max() > 9):
        raise DataError(f"{path}: y_{split} holds labels outside 0..9 ({y.min()}..{y.max()})")
    return np.ascontiguousarray(x[:, np.newaxis]), y.astype(np.int64)


# --- CIFAR-10, the "python version" ---------------------------------------------------


def load_cifar10(root: Path, classes: tuple[str, ...] | None = None) -> tuple[Labelled, Labelled, tuple[str, ...]]:
    """Train and test sets ``(images (N, 3, 32, 32), labels)`` from the CIFAR-10 batches.

    ``root`` is the ``cifar-10-batches-py`` folder of the archive, or the folder that holds
    it (torchvision's ``root``). With ``classes``, e.g. ``("airplane", "bird")``, only those
    are kept, relabelled 0..k-1 in the order given.

    The batches are pickles, and unpickling can run arbitrary code: only use files from a
    source you trust. As a guard, they are read with an unpickler that accepts nothing but
    numpy arrays and plain containers (``encoding="bytes"``, as keras reads them), so a
    tampered file is refused rather than run.
    """
    root = Path(root)
    folder = root / CIFAR10_FOLDER if (root / CIFAR10_FOLDER).is_dir() else root
    how = f"download {CIFAR10_URL}, extract it and pass --data with the {CIFAR10_FOLDER} folder"
    if not folder.is_dir():
        raise DataError(f"CIFAR-10 folder {root} not found; {how}")
    for name in (*CIFAR10_TRAIN, CIFAR10_TEST, CIFAR10_META):
        kind = special_file(folder / name)
        if kind is not None:
            raise DataError(f"{folder / name} is {kind}, not a CIFAR-10 batch; {how}")
        if not (folder / name).is_file():
            raise DataError(f"{folder} lacks {name}; {how}")
    names = _cifar_label_names(folder / CIFAR10_META)
    relabel = None if classes is None else _relabelling(folder / CIFAR10_META, names, classes)
    batches = [_cifar_batch(folder / name, len(names)) for name in CIFAR10_TRAIN]
    train = np.concatenate([x for x, _ in batches]), np.concatenate([y for _, y in batches])
    test = _cifar_batch(folder / CIFAR10_TEST, len(names))
    if relabel is None:
        return train, test, names
    return _keep(train, relabel), _keep(test, relabel), tuple(classes)


def _relabelling(meta: Path, names: tuple[str, ...], classes: tuple[str, ...]) -> np.ndarray:
    """Old label -> new label (-1: dropped)."""
    unknown = [name for name in classes if name not in names]
    if unknown or not classes or len(set(classes)) != len(classes):
        problem = f"no class {', '.join(unknown)}" if unknown else "name at least one class, each once"
        raise DataError(f"CIFAR-10 classes {tuple(classes)}: {problem} (the names in {meta}: {', '.join(names)})")
    relabel = np.full(len(names), -1, dtype=np.int64)
    relabel[[names.index(name) for name in classes]] = np.arange(len(classes))
    return relabel


def _keep(split: Labelled, relabel: np.ndarray) -> Labelled:
    images, labels = split
    new = relabel[labels]
    kept = new >= 0
    return images[kept], new[kept]


def _cifar_label_names(path: Path) -> tuple[str, ...]:
    names = _field(path, _unpickle(path), "label_names")
    if not isinstance(names, list) or not names or not all(isinstance(n, (bytes, str)) for n in names):
        raise DataError(f"{path}: label_names must be a list of names")
    return tuple(n.decode() if isinstance(n, bytes) else n for n in names)


def _cifar_batch(path: Path, n_classes: int) -> Labelled:
    batch = _unpickle(path)
    data, labels = _field(path, batch, "data"), _field(path, batch, "labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        shape = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DataError(f"{path}: data must be uint8 rows of 3 x 32 x 32 pixels (N, 3072), not {shape}")
    labels = np.asarray(labels)
    if not np.issubdtype(labels.dtype, np.integer) or labels.shape != data.shape[:1]:
        raise DataError(f"{path}: labels must be {len(data)} integers, not {labels.dtype} {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise DataError(f"{path}: labels outside 0..{n_classes - 1} ({labels.min()}..{labels.max()})")
    # Each row is the red plane, then green, then blue, each row-major: already C, H, W.
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def _field(path: Path, batch: Any, key: str) -> Any:
    """``batch[b"key"]`` (Python 2 pickles, as distributed), or ``batch["key"]``."""
    if isinstance(batch, dict):
        for candidate in (key.encode(), key):
            if candidate in batch:
                return batch[candidate]
    raise DataError(f"{path} has no {key!r} entry; is it a CIFAR-10 python batch? Extract it again from {CIFAR10_URL}")


class _ArraysOnly(pickle.Unpickler):
    """An unpickler that builds numpy arrays and nothing else that is callable."""

    ALLOWED = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy._core.multiarray", "_reconstruct"),  # arrays, pickle protocols 0 to 4
        ("numpy._core.numeric", "_frombuffer"),  # arrays, protocol 5
        ("_codecs", "encode"),  # bytes, Python 3 protocols 0 to 2
    }

    def find_class(self, module: str, name: str) -> Any:
        module = module.replace("numpy.core.", "numpy._core.", 1)  # numpy 1.x names
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}, which a CIFAR-10 batch never holds")
        return super().find_class(module, name)


def _unpickle(path: Path) -> Any:
    try:
        with open(path, "rb") as handle:
            return _ArraysOnly(handle, encoding="bytes").load()
    except Exception as exc:  # unpickling malformed bytes can raise nearly anything
        raise DataError(f"{path} is not a CIFAR-10 python batch ({exc}); extract it again from {CIFAR10_URL}") from None
