"""Datasets the user brings: image folders (checked against torchvision and keras),
keras' mnist.npz and the CIFAR-10 python batches, and every way they can be broken."""

import io
import os
import pickle
import re
import struct
from pathlib import Path

import numpy as np
import pytest
from conftest import run_python
from PIL import Image

from common.data.loaders import load_cifar10, load_image_folder, load_mnist_npz
from common.errors import DataError

H, W = 13, 17  # files' own size: not square, and neither side is 3


def _save(path: Path, pixels: np.ndarray, mode: str | None = None, **options) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(pixels)
    (image.convert(mode) if mode else image).save(path, **options)


def _noise(rng: np.random.RandomState, *shape: int) -> np.ndarray:
    return rng.randint(0, 256, size=shape).astype(np.uint8)


def _torchvision(root: Path, size=None, gray=False):
    from torchvision import datasets, transforms

    steps = [transforms.Grayscale()] if gray else []
    steps += [transforms.Resize(size)] if size else []
    folder = datasets.ImageFolder(str(root), transform=transforms.Compose([*steps, transforms.PILToTensor()]))
    images = np.stack([folder[i][0].numpy() for i in range(len(folder))])
    return images, np.array(folder.targets), tuple(folder.classes)


def _keras(root: Path, size, color_mode="rgb"):
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras  # after conftest's torch_impl, as every test here

    dataset = keras.utils.image_dataset_from_directory(
        str(root), image_size=size, color_mode=color_mode, shuffle=False, batch_size=None, verbose=False
    )
    pairs = [(x.numpy(), y.numpy()) for x, y in dataset]
    images = np.stack([x for x, _ in pairs]).transpose(0, 3, 1, 2)  # float32, NCHW
    return images, np.array([y for _, y in pairs]), tuple(dataset.class_names), dataset.file_paths


def _diff(ours: np.ndarray, theirs: np.ndarray) -> float:
    return float(np.abs(ours.astype(np.float64) - theirs.astype(np.float64)).max())


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Classes whose sorted order is not their creation order; tricky names, modes and suffixes."""
    rng = np.random.RandomState(0)
    root = tmp_path / "images"
    for name in ("10.png", "9.png"):  # "10" sorts first
        _save(root / "b_cat" / name, _noise(rng, H, W, 3))
    _save(root / "b_cat" / "x.jpg", _noise(rng, H, W, 3), quality=90)
    _save(root / "B_upper" / "gray.png", _noise(rng, H, W))  # "B" sorts before "a"
    _save(root / "B_upper" / "rgba.png", _noise(rng, H, W, 4))
    _save(root / "B_upper" / "palette.png", _noise(rng, H, W, 3), mode="P")
    _save(root / "B_upper" / "z.png", _noise(rng, H, W, 3))
    _save(root / "B_upper" / "sub" / "deep.png", _noise(rng, H, W, 3))  # after z.png: folders by path
    (root / "B_upper" / "notes.txt").write_text("not an image, skipped by all three")
    _save(root / "a_dog" / "one.jpeg", _noise(rng, H, W, 3), quality=75)
    _save(root / "a_dog" / "two.PNG", _noise(rng, H, W, 3))
    _save(root / "stray.png", _noise(rng, H, W, 3))  # not in a class folder: skipped by all three
    return root


def test_image_folder_equals_torchvision_and_keras(folder):
    images, labels, classes = load_image_folder(folder, (H, W))
    assert images.shape == (10, 3, H, W) and images.dtype == np.uint8
    assert labels.dtype == np.int64 and classes == ("B_upper", "a_dog", "b_cat")

    tv_images, tv_labels, tv_classes = _torchvision(folder)
    assert tv_classes == classes and np.array_equal(tv_labels, labels)
    assert np.array_equal(tv_images, images)  # every file, PNG and JPEG

    k_images, k_labels, k_classes, paths = _keras(folder, (H, W))
    assert k_classes == classes and np.array_equal(k_labels, labels)
    png = np.array([p.lower().endswith(".png") for p in paths])
    assert [Path(p).name for p in paths][:5] == ["gray.png", "palette.png", "rgba.png", "z.png", "deep.png"]
    assert np.array_equal(k_images[png], images[png])
    # JPEG: TensorFlow decodes with libjpeg's fast integer IDCT, PIL with the accurate one.
    assert 0 < _diff(k_images[~png], images[~png]) <= 8


@pytest.mark.parametrize("size", [(26, 34), (20, 12), (7, 9)])  # larger, mixed, smaller
def test_image_folder_resize(tmp_path, size):
    rng = np.random.RandomState(1)
    root = tmp_path / "images"
    for i, shape in enumerate([(H, W), (H, W), (15, 11)]):  # files need not share a size
        _save(root / f"class{i % 2}" / f"{i}.png", _noise(rng, *shape, 3))
    images, _, _ = load_image_folder(root, size)
    assert images.shape == (3, 3, *size)
    assert np.array_equal(_torchvision(root, size)[0], images)  # PIL's bilinear, as torchvision's Resize
    keras_diff = _diff(_keras(root, size)[0], images)
    if size == (26, 34):  # enlarging: the same filter, up to rounding
        assert keras_diff <= 1
    else:  # shrinking: TF's resize does not antialias, PIL's does; they do not match
        assert keras_diff > 32


def test_image_folder_grayscale(tmp_path):
    rng = np.random.RandomState(2)
    root = tmp_path / "images"
    _save(root / "a" / "colour.png", _noise(rng, H, W, 3))
    _save(root / "a" / "gray.png", _noise(rng, H, W))
    _save(root / "b" / "photo.jpg", _noise(rng, H, W, 3))
    images, labels, _ = load_image_folder(root, (H, W), channels=1)
    assert images.shape == (3, 1, H, W) and labels.tolist() == [0, 0, 1]
    assert np.array_equal(_torchvision(root, gray=True)[0], images)
    larger = (2 * H, 2 * W)
    assert np.array_equal(_torchvision(root, larger, gray=True)[0], load_image_folder(root, larger, channels=1)[0])
    keras_images = _keras(root, (H, W), "grayscale")[0]
    assert np.array_equal(keras_images[1], images[1])  # a grayscale file: identical
    assert _diff(keras_images[0], images[0]) <= 1  # libpng's RGB -> gray weights vs PIL's
    assert _diff(keras_images[2], images[2]) <= 12  # libjpeg's gray output, fast IDCT


def test_hidden_folders_are_not_classes(folder):
    _save(folder / ".cache" / "thumb.png", np.zeros((H, W, 3), np.uint8))
    classes = load_image_folder(folder, (H, W))[2]
    assert classes == ("B_upper", "a_dog", "b_cat") == _keras(folder, (H, W))[2]


def test_image_folder_errors(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(DataError, match=f"folder {re.escape(str(missing))} does not exist; put one sub-folder.*--data"):
        load_image_folder(missing, (H, W))
    (tmp_path / "file.png").write_bytes(b"")
    with pytest.raises(DataError, match="file.png is not a folder"):
        load_image_folder(tmp_path / "file.png", (H, W))

    root = tmp_path / "images"
    _save(root / "stray.png", np.zeros((H, W), np.uint8))
    (root / ".hidden").mkdir()
    with pytest.raises(DataError, match=f"{re.escape(str(root))} has no class sub-folders"):
        load_image_folder(root, (H, W))

    _save(root / "a" / "ok.png", np.zeros((H, W), np.uint8))
    (root / "b").mkdir()
    (root / "b" / "readme.txt").write_text("no images here")
    with pytest.raises(DataError, match=r"class folder .*/b holds no PNG or JPEG images"):
        load_image_folder(root, (H, W))


@pytest.mark.parametrize(
    "name, write, message",
    [
        ("text.png", lambda p: p.write_text("not a picture"), "text.png is not a readable image"),
        ("cut.png", lambda p: _save(p, np.ones((H, W, 3), np.uint8) * 7), "cut.png is not a readable image"),
        ("old.bmp", lambda p: _save(p, np.zeros((H, W, 3), np.uint8)), "old.bmp: only PNG and JPEG"),
        ("deep.png", lambda p: Image.fromarray(np.full((H, W), 4000, np.uint16)).save(p), "deep.png has I;16"),
    ],
)
def test_bad_image_file_is_named(tmp_path, name, write, message):
    root = tmp_path / "images"
    _save(root / "a" / "ok.png", np.zeros((H, W), np.uint8))
    path = root / "b" / name
    path.parent.mkdir()
    write(path)
    if name == "cut.png":
        path.write_bytes(path.read_bytes()[:60])  # truncated mid-stream
    with pytest.raises(DataError, match=message):
        load_image_folder(root, (H, W))


# --- mnist.npz --------------------------------------------------------------------------


def _mnist_arrays() -> dict[str, np.ndarray]:
    rng = np.random.RandomState(3)
    return {
        "x_train": _noise(rng, 7, 10, 12),
        "y_train": np.array([0, 1, 2, 3, 9, 9, 5], np.uint8),
        "x_test": _noise(rng, 5, 10, 12),
        "y_test": np.array([4, 4, 8, 0, 1], np.uint8),
    }


@pytest.mark.parametrize("save", [np.savez, np.savez_compressed])
def test_mnist_round_trip(tmp_path, save):
    arrays = _mnist_arrays()
    save(tmp_path / "mnist.npz", **arrays)
    (x_train, y_train), (x_test, y_test), classes = load_mnist_npz(tmp_path / "mnist.npz")
    assert x_train.shape == (7, 1, 10, 12) and x_test.shape == (5, 1, 10, 12)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.int64 and y_test.dtype == np.int64
    assert np.array_equal(x_train[:, 0], arrays["x_train"]) and np.array_equal(x_test[:, 0], arrays["x_test"])
    assert y_train.tolist() == arrays["y_train"].tolist() and y_test.tolist() == arrays["y_test"].tolist()
    assert classes == tuple("0123456789")


@pytest.mark.parametrize(
    "change, message",
    [
        ({"y_test": None}, "lacks y_test; an MNIST .npz holds"),
        ({"x_train": np.zeros((7, 120), np.uint8)}, r"x_train must be uint8 images \(N, H, W\), not uint8 \(7, 120\)"),
        ({"x_test": np.zeros((5, 10, 12), np.float32)}, "x_test must be uint8 images"),
        ({"y_train": np.zeros(6, np.uint8)}, "y_train must be 7 integer labels"),
        ({"y_train": np.full(7, 0.5)}, "y_train must be 7 integer labels"),
        ({"y_test": np.array([0, 1, 2, 3, 10])}, r"y_test holds labels outside 0\.\.9"),
        ({"x_test": np.zeros((5, 12, 10), np.uint8)}, r"x_train images are \(10, 12\), x_test images \(12, 10\)"),
        ({"y_test": np.array([0, 1, 2, 3, None], dtype=object)}, "is not a readable .npz file"),
    ],
)
def test_malformed_mnist_is_named(tmp_path, change, message):
    arrays = {**_mnist_arrays(), **change}
    np.savez(tmp_path / "mnist.npz", **{k: v for k, v in arrays.items() if v is not None})
    with pytest.raises(DataError, match=f"mnist.npz.*{message}"):
        load_mnist_npz(tmp_path / "mnist.npz")


def test_mnist_not_an_npz(tmp_path):
    with pytest.raises(DataError, match=r"nope.npz not found; download mnist.npz from https://\S+ and pass --data"):
        load_mnist_npz(tmp_path / "nope.npz")
    (tmp_path / "mnist.npz").write_bytes(b"PK\x03\x04 truncated zip")
    with pytest.raises(DataError, match="mnist.npz is not a readable .npz file"):
        load_mnist_npz(tmp_path / "mnist.npz")
    np.save(tmp_path / "one.npy", np.zeros((2, 3, 3), np.uint8))
    with pytest.raises(DataError, match="one.npy holds one array, not a .npz file"):
        load_mnist_npz(tmp_path / "one.npy")


# --- CIFAR-10 -----------------------------------------------------------------------------

CIFAR_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
CIFAR_BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


class _Py2Pickler(pickle._Pickler):
    """Writes bytes as Python 2 ``str``, as the distributed CIFAR files hold them: read back
    as bytes with ``encoding="bytes"`` (keras, us) and as str with "latin1" (torchvision)."""

    dispatch = pickle._Pickler.dispatch.copy()

    def _save_str(self, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = _save_str


def _py2_dump(obj, path: Path) -> None:
    buffer = io.BytesIO()
    _Py2Pickler(buffer, protocol=2).dump(obj)
    path.write_bytes(buffer.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n"))


def _write_cifar(root: Path, per_batch: int = 4, n_test: int = 6, dump=_py2_dump) -> Path:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.RandomState(4)
    for i, name in enumerate(CIFAR_BATCHES):
        n = n_test if name == "test_batch" else per_batch
        data = _noise(rng, n, 3072)
        labels = [(i * per_batch + k) % 10 for k in range(n)]  # every class appears
        batch = {b"batch_label": name.encode(), b"labels": labels, b"data": data, b"filenames": [b"x.png"] * n}
        dump(batch, folder / name)
    meta = {b"label_names": [n.encode() for n in CIFAR_NAMES], b"num_cases_per_batch": per_batch}
    dump(meta, folder / "batches.meta")
    return folder


def test_cifar_equals_torchvision(tmp_path, monkeypatch):
    folder = _write_cifar(tmp_path)
    (x_train, y_train), (x_test, y_test), classes = load_cifar10(tmp_path)
    assert x_train.shape == (20, 3, 32, 32) and x_test.shape == (6, 3, 32, 32) and x_train.dtype == np.uint8
    assert y_train.dtype == np.int64 and classes == tuple(CIFAR_NAMES)

    from torchvision.datasets import cifar

    monkeypatch.setattr(cifar, "check_integrity", lambda *args, **kwargs: True)  # not the real files' MD5s
    for train, (images, labels) in ((True, (x_train, y_train)), (False, (x_test, y_test))):
        theirs = cifar.CIFAR10(str(tmp_path), train=train)
        assert np.array_equal(theirs.data.transpose(0, 3, 1, 2), images)  # theirs is HWC
        assert theirs.targets == labels.tolist() and tuple(theirs.classes) == classes

    # The batches folder itself works as well as the folder holding it.
    (x_again, _), _, _ = load_cifar10(folder)
    assert np.array_equal(x_again, x_train)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_cifar_pickled_again_by_python3(tmp_path, protocol):
    # Each protocol pickles arrays through different numpy functions; all must be accepted.
    _write_cifar(tmp_path / "py2")
    _write_cifar(tmp_path / "py3", dump=lambda obj, path: path.write_bytes(pickle.dumps(obj, protocol=protocol)))
    for ours, theirs in zip(load_cifar10(tmp_path / "py2"), load_cifar10(tmp_path / "py3")):
        assert all(np.array_equal(a, b) for a, b in zip(ours, theirs))


def test_cifar_rows_are_red_green_blue_planes(tmp_path):
    folder = _write_cifar(tmp_path)
    batch = pickle.loads((folder / "data_batch_1").read_bytes(), encoding="bytes")
    batch[b"data"][0] = np.repeat([255, 0, 0], 1024)  # row 0: all red
    batch[b"data"][0, 1024 + 33] = 77  # green plane, row 1, column 1
    _py2_dump(batch, folder / "data_batch_1")
    image = load_cifar10(folder)[0][0][0]
    assert (image[0] == 255).all() and image[1, 1, 1] == 77 and image[1].sum() == 77 and (image[2] == 0).all()


def test_cifar_class_filter_relabels_in_given_order(tmp_path):
    _write_cifar(tmp_path)
    (x_all, y_all), (t_all, u_all), _ = load_cifar10(tmp_path)
    (x, y), (t, u), classes = load_cifar10(tmp_path, classes=("airplane", "bird"))
    assert classes == ("airplane", "bird")
    kept = np.isin(y_all, [0, 2])
    assert np.array_equal(x, x_all[kept]) and y.tolist() == [int(v == 2) for v in y_all[kept]]
    assert np.array_equal(t, t_all[np.isin(u_all, [0, 2])]) and set(u.tolist()) <= {0, 1}
    assert y.dtype == np.int64 and {0, 1} == set(y.tolist())
    (_, y_rev), _, classes_rev = load_cifar10(tmp_path, classes=("bird", "airplane"))
    assert classes_rev == ("bird", "airplane") and np.array_equal(y_rev, 1 - y)


def test_cifar_missing_and_bad_classes(tmp_path):
    with pytest.raises(DataError, match=r"CIFAR-10 folder .*nowhere not found; download https://www.cs.toronto.edu"):
        load_cifar10(tmp_path / "nowhere")
    folder = _write_cifar(tmp_path)
    bad = [(("airplane", "plane"), "no class plane"), (("bird", "bird"), "each once"), ((), "at least one class")]
    for classes, message in bad:
        with pytest.raises(DataError, match=f"{message}.* \\(the names in .*batches.meta: airplane, automobile"):
            load_cifar10(tmp_path, classes=classes)
    (folder / "data_batch_3").unlink()
    with pytest.raises(DataError, match="cifar-10-batches-py lacks data_batch_3; download"):
        load_cifar10(tmp_path)


class _Exploit:
    marker: Path

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize(
    "name, batch, message",
    [
        ("test_batch", b"garbage, not a pickle", "test_batch is not a CIFAR-10 python batch"),
        ("data_batch_2", {b"data": np.zeros((4, 100), np.uint8), b"labels": [0] * 4}, r"uint8 rows .*\(4, 100\)"),
        ("data_batch_2", {b"data": np.zeros((4, 3072), np.float32), b"labels": [0] * 4}, "data must be uint8 rows"),
        ("data_batch_5", {b"data": np.zeros((4, 3072), np.uint8)}, "data_batch_5 has no 'labels' entry"),
        ("data_batch_1", {b"data": np.zeros((4, 3072), np.uint8), b"labels": [0] * 3}, "labels must be 4 integers"),
        ("data_batch_1", {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}, r"labels outside 0\.\.9"),
        ("batches.meta", {b"label_names": "airplane"}, "label_names must be a list"),
        ("batches.meta", [1, 2], "batches.meta has no 'label_names' entry"),
    ],
)
def test_malformed_cifar_is_named(tmp_path, name, batch, message):
    folder = _write_cifar(tmp_path)
    if isinstance(batch, bytes):
        (folder / name).write_bytes(batch)
    else:
        _py2_dump(batch, folder / name)
    with pytest.raises(DataError, match=message):
        load_cifar10(tmp_path)


def test_cifar_pickle_cannot_run_code(tmp_path):
    folder = _write_cifar(tmp_path)
    _Exploit.marker = tmp_path / "pwned"
    (folder / "data_batch_4").write_bytes(pickle.dumps({b"data": _Exploit()}))
    with pytest.raises(DataError, match=r"data_batch_4 is not a CIFAR-10 python batch \(refusing to load \w+\.system"):
        load_cifar10(tmp_path)
    assert not _Exploit.marker.exists()


# --- the rule of the layout ---------------------------------------------------------------


def test_common_modules_import_no_framework():
    code = (
        "import sys, common.data.colors, common.data.loaders;"
        "print(sorted(m for m in ('torch', 'torchvision', 'tensorflow', 'keras') if m in sys.modules))"
    )
    done = run_python("-c", code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
