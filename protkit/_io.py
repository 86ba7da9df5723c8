"""Moved: the atomic writers live in `protkit.runs`, `markdown_table` in `protkit.evaluation`."""

from protkit.runs import RunFolder, atomic_path, write_json, write_text  # noqa: F401


def prepare_output_dir(path, overwrite=False):
    """Create ``path``, refusing a non-empty folder unless ``overwrite`` (see `protkit.runs.RunFolder`)."""
    return RunFolder.open(path, overwrite=overwrite).path


def markdown_table(frame, digits=3):
    """See `protkit.evaluation.markdown_table`."""
    from protkit.evaluation import markdown_table as table

    return table(frame, digits)
