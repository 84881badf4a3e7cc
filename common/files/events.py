"""TensorBoard's event files, written with the standard library alone.

TensorBoard's own writer (``tensorboard.summary``) imports TensorFlow, and JAX as well,
when they are installed; a column whose run must load neither (the JAX column) writes its
scalars here instead. An event file is a TFRecord file of ``Event`` protocol buffers: each
record is its length (uint64), the length's masked CRC-32C, the bytes, their masked
CRC-32C. The first event names the file's version; each scalar is an ``Event`` with a
``Summary`` of one ``simple_value``.
"""

from __future__ import annotations

import os
import socket
import struct
import time
from pathlib import Path


def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), the checksum TFRecord files use."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _masked(crc: int) -> int:
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, kind: int, payload: bytes) -> bytes:
    return _varint(number << 3 | kind) + payload


def _bytes_field(number: int, payload: bytes) -> bytes:
    return _field(number, 2, _varint(len(payload)) + payload)


def event(step: int, file_version: str | None = None, scalar: tuple[str, float] | None = None) -> bytes:
    """An ``Event``: wall_time (1, double), step (2, int64), file_version (3) or a summary
    (5: ``Summary.value`` (1): tag (1), simple_value (2, float))."""
    encoded = _field(1, 1, struct.pack("<d", time.time())) + _field(2, 0, _varint(step))
    if file_version is not None:
        encoded += _bytes_field(3, file_version.encode())
    if scalar is not None:
        tag, value = scalar
        summary_value = _bytes_field(1, tag.encode()) + _field(2, 5, struct.pack("<f", value))
        encoded += _bytes_field(5, _bytes_field(1, summary_value))
    return encoded


def record(data: bytes) -> bytes:
    """One TFRecord: length, its masked CRC, the data, its masked CRC."""
    length = struct.pack("<Q", len(data))
    return length + struct.pack("<I", _masked(crc32c(length))) + data + struct.pack("<I", _masked(crc32c(data)))


class EventWriter:
    """One run's event file in ``folder`` (made if need be), named as TensorBoard names its own."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        name = f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}.{os.getpid()}.0"
        self.handle = open(folder / name, "ab")  # noqa: SIM115  (open until close)
        self.handle.write(record(event(0, file_version="brain.Event:2")))

    def scalar(self, tag: str, value: float, step: int) -> None:
        self.handle.write(record(event(step, scalar=(tag, value))))
        self.handle.flush()

    def close(self) -> None:
        self.handle.close()


class CurveWriters:
    """TensorBoard's layout for ``SummaryWriter.add_scalars``: a run per curve, a folder
    ``{tag}_{run}`` each, opened at its first scalar; for the trainers whose framework's own
    writer would load TensorFlow (JAX's, Keras' on every backend)."""

    def __init__(self) -> None:
        self.writers: dict[str, EventWriter] = {}

    def write(self, folder: Path, epoch: int, scalars: list[tuple[str, str, float]]) -> None:
        for tag, run, value in scalars:
            name = f"{tag}_{run}"
            if name not in self.writers:
                self.writers[name] = EventWriter(folder / name)
            self.writers[name].scalar(tag, value, epoch)

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()
        self.writers = {}
