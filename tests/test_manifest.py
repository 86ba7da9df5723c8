"""data/manifest.json matches the real sets in ../shared/data."""

import hashlib
import json
import os
import pathlib

import pytest

from conftest import ROOT, SHARED_DATA

MANIFEST = json.loads((ROOT / "data" / "manifest.json").read_text())


def _tree(root):
    digest, count = hashlib.sha256(), 0
    for folder, dirs, files in sorted(os.walk(root)):
        dirs.sort()
        for name in sorted(files):
            path = pathlib.Path(folder) / name
            digest.update(f"{path.relative_to(root).as_posix()}\t{path.stat().st_size}\n".encode())
            count += 1
    return digest.hexdigest(), count


@pytest.mark.real_data
@pytest.mark.parametrize("name", sorted(MANIFEST["sets"]))
def test_shared_copy_matches_manifest(name):
    root = SHARED_DATA / name
    if not root.exists():
        pytest.skip(f"real data not found at {root}")
    entry = MANIFEST["sets"][name]
    digest, count = _tree(root)
    assert count == entry["files"]
    assert digest == entry["tree_sha256"]
    for relative, expected in entry.get("sha256", {}).items():
        matches = list(root.rglob(relative))
        assert len(matches) == 1 and hashlib.sha256(matches[0].read_bytes()).hexdigest() == expected
