"""Job categories: `GET v1/jobs/categories` and `POST v1/jobs/categories`.

The categories are Default (-1), the ones stored jobs name, and the ones made: by a POST, or
(docshapes) by a job body naming a category that does not exist ("any unique string will be
recognized as a new category"). The list key is `job_categories`, as the vendor SDK reads it;
without docshapes the reply also carries it as `categories` (the emulator's earlier key).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from jobspec.emulator import rules
from jobspec.emulator.auth import Principal
from jobspec.emulator.replies import BadRequest, dumps, json_reply, parse_json_object

if TYPE_CHECKING:
    from jobspec.emulator.app import Emulator

DEFAULT = {"id": -1, "name": "Default"}
FIRST_MADE = 100
"""Ids of made categories start here, clear of the demo's."""


class Categories:
    """The categories of one emulator's state, and their handlers."""

    def __init__(self, emulator: Emulator) -> None:
        self.store = emulator.store
        self.made = emulator.categories
        self.config = emulator.config

    def known(self) -> dict[Any, dict[str, Any]]:
        found: dict[Any, dict[str, Any]] = {-1: dict(DEFAULT)}
        for stored in self.store.live():
            category = stored.job.get("category")
            if isinstance(category, dict) and "id" in category:
                found.setdefault(category["id"], dict(category))
        for made in self.made.values():
            found.setdefault(made["id"], dict(made))
        return found

    def _make(self, name: str) -> dict[str, Any]:
        for one in self.known().values():
            if one.get("name") == name:
                return one
        taken = [key for key in self.known() if isinstance(key, int)]
        new_id = max([FIRST_MADE - 1, *taken]) + 1
        made: dict[str, Any] = {"id": new_id, "name": name}
        self.made[new_id] = made
        return made

    def named(self, body: rules.RawJob) -> rules.RawJob:
        """A job body whose `category` names a category by name only, given its id (made if
        new). Only under docshapes: the default emulator stores what it is sent."""
        category = body.get("category")
        if not self.config.quirk("docshapes") or not isinstance(category, dict):
            return body
        name = category.get("name")
        if "id" in category or not isinstance(name, str) or not name.strip():
            return body
        return {**body, "category": dict(self._make(name))}

    async def list_categories(self, request: Request, principal: Principal) -> Response:
        """Every category, by name; Default always."""
        categories = sorted(self.known().values(), key=lambda c: str(c.get("name")))
        meta = {"offset": 0, "limit": len(categories), "total_count": len(categories)}
        body: dict[str, Any] = {"status": 200, "type": "job_categories"}
        body["job_categories"] = categories
        if not self.config.quirk("docshapes"):
            body["categories"] = categories  # the emulator's earlier key, kept beside
        body["meta"] = meta
        return json_reply(dumps(body))

    async def add_category(self, request: Request, principal: Principal) -> Response:
        """`POST v1/jobs/categories` `{"name": …}` (the vendor CLI's `job-categories add`):
        201 with the category under `job_category`; an existing name answers it as it is."""
        body = parse_json_object(await request.body(), required=True)
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise BadRequest("a category needs a name")
        made = self._make(name)
        reply = {"status": 201, "type": "job_category", "job_category": made}
        return json_reply(dumps(reply), 201)
