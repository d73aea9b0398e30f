"""Load and validate the YAML spec files: the only package that imports ruamel.yaml.

It owns the way from `specs/*.yaml` to `DesiredJob` values, and every problem on the way,
each at a `file:line:column` (1-based) that a user or an editor can jump to. Problems are
collected across all files in one pass, so a syntax error in one file hides nothing in another.

    loading.py    which files are specs, reading them safely, values to `DesiredJob`
    events.py     YAML events to plain values with positions; tags, scalars, limits
    problems.py   pydantic errors as positioned problems with "did you mean"
    writing.py    `fmt`'s canonical text and the files `generate` writes
"""

from jobspec.spec.events import MAX_DEPTH, MAX_NODES
from jobspec.spec.loading import (
    MAX_FILE_BYTES,
    SPEC_SUFFIXES,
    collect_problems,
    load_specs,
    read_pairs,
    spec_files,
    yaml_value,
)
from jobspec.spec.writing import GeneratedJob, format_spec_text, render_generated

__all__ = [
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_NODES",
    "SPEC_SUFFIXES",
    "GeneratedJob",
    "collect_problems",
    "format_spec_text",
    "load_specs",
    "read_pairs",
    "render_generated",
    "spec_files",
    "yaml_value",
]
