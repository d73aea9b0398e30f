"""`jobspec version`: jobspec's version and its main dependencies', as text or JSON.

For bug reports and pipelines that pin: the lookup of installed versions is the CLI's; this
only lays them out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from jobspec.views import Screen

__all__ = ["DEPENDENCIES", "version_report"]

DEPENDENCIES: Mapping[str, str | None] = {
    "pydantic": None,
    "httpx": None,
    "ruamel.yaml": None,
    "deepdiff": None,
    "click": None,
    "rich": None,
    "psycopg": "postgres",
    "starlette": "emulator",
    "uvicorn": "emulator",
}
"""The distributions shown, and the extra that installs each optional one."""


def version_report(
    *,
    jobspec: str,
    python: str,
    platform: str,
    dependencies: Mapping[str, str | None],
    output_format: str,
) -> Screen:
    """One `name version` line each (`not installed` and its extra for a missing one), or one
    JSON object with a missing dependency as null."""
    if output_format == "json":
        document = {
            "jobspec": jobspec,
            "python": python,
            "platform": platform,
            "dependencies": dict(dependencies),
        }
        return Screen(out=json.dumps(document, indent=2) + "\n")
    width = max(map(len, dependencies), default=0)
    lines = [f"jobspec {jobspec}", f"Python {python} on {platform}"]
    for name, found in dependencies.items():
        extra = DEPENDENCIES.get(name)
        shown = found or ("not installed" + (f" (extra `{extra}`)" if extra else ""))
        lines.append(f"  {name.ljust(width)}  {shown}")
    return Screen(out="".join(f"{line}\n" for line in lines))
