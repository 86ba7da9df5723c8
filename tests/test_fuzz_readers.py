"""Damaged files and odd label tables: each one reads correctly or gets protkit's clear error.

Property-based (hypothesis), derandomized so CI repeats the same examples: truncated,
bit-flipped, spliced and random-byte PNG/TIFF/JPEG files go through the readers, a class folder
and `Dataset.verify`; CSVs with other encodings, BOMs, blank lines, stray spaces and duplicate ids
go through `Dataset.from_csv`. Allowed outcomes: a result, `ImageReadError` naming the file, or
`DataError` naming it. Nothing else may escape, and nothing may be written.
"""

import os
import pathlib
import tempfile

import cv2
import numpy as np
import pytest
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protkit.data import DataError, Dataset, ImageReadError, check_image, probe_image, read_image

FUZZ = settings(max_examples=60, deadline=3000, derandomize=True, database=None, print_blob=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _encoded(extension, array, **params):
    ok, data = cv2.imencode(extension, array, [*params.get("flags", [])])
    assert ok
    return data.tobytes()


def _tiff(array, **kwargs):
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "seed.tif")
        tifffile.imwrite(path, array, photometric="minisblack", **kwargs)
        return pathlib.Path(path).read_bytes()


_RNG = np.random.default_rng(0)
SEEDS = {
    "gray8.png": _encoded(".png", _RNG.integers(0, 255, (24, 20), dtype=np.uint8)),
    "gray16.png": _encoded(".png", _RNG.integers(0, 65535, (16, 16), dtype=np.uint16)),
    "rgb.png": _encoded(".png", _RNG.integers(0, 255, (12, 18, 3), dtype=np.uint8)),
    "gray.jpg": _encoded(".jpg", _RNG.integers(0, 255, (24, 24), dtype=np.uint8)),
    "colour.jpg": _encoded(".jpg", _RNG.integers(0, 255, (16, 24, 3), dtype=np.uint8)),
    "u16.tif": _tiff(_RNG.integers(0, 4000, (20, 20), dtype=np.uint16)),
    "stack.tif": _tiff(_RNG.integers(0, 255, (3, 16, 16), dtype=np.uint8)),
    "deflate.tif": _tiff(_RNG.random((12, 12)).astype(np.float32), compression="zlib"),
}


@st.composite
def damaged_files(draw):
    """(file name, bytes): a seed file truncated, bit-flipped, spliced, or random bytes."""
    name = draw(st.sampled_from(sorted(SEEDS)))
    data = bytearray(SEEDS[name])
    kind = draw(st.sampled_from(["truncate", "flip", "splice", "random", "intact"]))
    if kind == "truncate":
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif kind == "flip":
        for position in draw(st.lists(st.integers(0, len(data) - 1), min_size=1, max_size=8)):
            data[position] ^= 1 << draw(st.integers(0, 7))
    elif kind == "splice":
        start = draw(st.integers(0, len(data)))
        data[start:start + draw(st.integers(0, 64))] = draw(st.binary(min_size=0, max_size=64))
    elif kind == "random":
        data = bytearray(draw(st.binary(min_size=0, max_size=512)))
    # Sometimes the extension lies about the content.
    extension = draw(st.sampled_from([os.path.splitext(name)[1], ".png", ".tif", ".jpg"]))
    return os.path.splitext(name)[0] + extension, bytes(data)


def _read_or_clear_error(function, path):
    try:
        return function(path)
    except ImageReadError as error:
        assert error.path == str(path) and str(error).startswith(str(path))
        return None


@FUZZ
@given(damaged_files())
def test_damaged_image_files_read_or_raise_image_read_error(file):
    name, data = file
    with tempfile.TemporaryDirectory() as folder:
        path = pathlib.Path(folder) / name
        path.write_bytes(data)
        header = _read_or_clear_error(probe_image, path)
        checked = _read_or_clear_error(check_image, path)
        image = _read_or_clear_error(read_image, path)
        if image is not None:
            assert image.ndim == 3 and image.shape[-1] >= 1
        for info in (header, checked):
            if info is not None and image is not None:
                assert (info.height, info.width, info.channels) == image.shape, (info, image.shape)
                assert info.dtype == image.dtype.name
        assert os.listdir(folder) == [name]  # nothing written next to it


@settings(FUZZ, max_examples=30)
@given(damaged_files())
def test_damaged_file_in_a_class_folder_is_named_by_verify(file):
    name, data = file
    with tempfile.TemporaryDirectory() as folder:
        root = pathlib.Path(folder) / "cells"
        for label in ("a", "b"):
            (root / label).mkdir(parents=True)
            for i in range(2):
                cv2.imwrite(str(root / label / f"ok{i}.png"), np.full((24, 20), 40 * i, np.uint8))
        (root / "a" / f"fuzzed{os.path.splitext(name)[1]}").write_bytes(data)
        before = sorted(p.name for p in root.rglob("*"))
        dataset = Dataset.from_folder(root)
        assert len(dataset) == 5
        for decode in (False, True):
            try:
                dataset.verify(decode=decode)
            except DataError as error:
                assert "fuzzed" in str(error) and "--skip-bad" in str(error)
            clean = dataset.verify(skip_bad=True, decode=decode)
            assert len(clean) in (4, 5) and len(clean) + len(clean.skipped) == 5
        assert sorted(p.name for p in root.rglob("*")) == before


ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "latin-1", "cp1252"]


@st.composite
def label_tables(draw):
    """(bytes, encoding) of a label CSV with odd but plausible content."""
    ids = st.sampled_from(["1", "2", "3", " 2 ", "9", "", "x y", "ä", "1"])
    labels = st.sampled_from(["Golgi", "NuMem", "Golgi NuMem", " Golgi ", "", "0", "21", "Zellkern", "é"])
    rows = draw(st.lists(st.tuples(ids, labels), min_size=0, max_size=8))
    lines = [draw(st.sampled_from(["Id,Target", " Id , Target ", "Id,Target,Extra", "Target,Id"]))]
    for item_id, label in rows:
        line = f"{item_id},{label}"
        if draw(st.booleans()):
            line = f'"{item_id}","{label}"'
        lines.append(line)
        if draw(st.integers(0, 4)) == 0:
            lines.append(draw(st.sampled_from(["", " ", ",", '"'])))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    encoding = draw(st.sampled_from(ENCODINGS))
    text = newline.join(lines) + draw(st.sampled_from(["", newline, newline * 3]))
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=200)), "bytes"
    return text.encode(encoding, errors="replace"), encoding


@FUZZ
@given(label_tables(), st.booleans())
def test_odd_label_tables_load_or_raise_data_error(table, skip_bad):
    data, encoding = table
    with tempfile.TemporaryDirectory() as folder:
        folder = pathlib.Path(folder)
        for item_id in ("1", "2", "3"):
            cv2.imwrite(str(folder / f"{item_id}.png"), np.zeros((4, 4), np.uint8))
        csv = folder / "labels.csv"
        csv.write_bytes(data)
        before = sorted(os.listdir(folder))
        try:
            dataset = Dataset.from_csv(csv, folder, skip_bad=skip_bad)
        except DataError as error:
            assert str(csv) in str(error)
        else:
            assert len(set(dataset.ids)) == len(dataset.ids)  # a repeated id never makes two items
            assert all(os.path.isfile(path) for item in dataset.items for path in item)
            assert encoding not in ("latin-1", "cp1252") or data.isascii()
        assert sorted(os.listdir(folder)) == before


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_bom_tables_read_like_plain_utf8(tmp_path, encoding):
    cv2.imwrite(str(tmp_path / "1.png"), np.zeros((4, 4), np.uint8))
    (tmp_path / "labels.csv").write_bytes("Id,Target\n1,Zellkern\n\n".encode(encoding))
    dataset = Dataset.from_csv(tmp_path / "labels.csv", tmp_path)
    assert dataset.ids == ["1"] and dataset.class_names == ["Zellkern"]


def test_latin1_table_is_refused_with_the_position(tmp_path):
    (tmp_path / "labels.csv").write_bytes("Id,Target\n1,Zellkern\n2,Kernhülle\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"labels\.csv: not UTF-8 text \(byte 0xfc at position 28\)"):
        Dataset.from_csv(tmp_path / "labels.csv", tmp_path)


def test_duplicate_ids_are_a_problem_then_a_counted_skip(tmp_path):
    for i in (1, 2):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.zeros((4, 4), np.uint8))
    (tmp_path / "labels.csv").write_text("Id,Target\n1,a\n2,b\n1,b\n")
    with pytest.raises(DataError, match=r"row 4: duplicate id '1' \(first in CSV row 2\)"):
        Dataset.from_csv(tmp_path / "labels.csv", tmp_path)
    dataset = Dataset.from_csv(tmp_path / "labels.csv", tmp_path, skip_bad=True)
    assert dataset.ids == ["1", "2"] and len(dataset.skipped) == 1
