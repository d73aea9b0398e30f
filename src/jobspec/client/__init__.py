"""The DryvIQ API client: the only package that talks HTTP (and the only one importing httpx).

It owns everything between a `LiveJob` and the wire, so that the planner and the applier deal
only in values and in `jobspec.errors`:

- auth: a token fetched lazily, cached, refreshed before it expires (refresh-token grant when we
  have one), one re-authentication and one retry on a 401, one token fetch at a time;
- a bound on requests in flight (`Settings.concurrency`), shared by every call, token included;
  each slot of it sends on its own single-connection pool, never on a connection idle longer
  than `Settings.keepalive`;
- one adaptive limiter for the run: a 429 or 503 pauses every slot for the `Retry-After`,
  halves the requests in flight and caps the rate below what the server answered; clean
  answers raise both again up to the bound (`throttling()` says what happened);
- retries with exponential backoff and full jitter, honouring `Retry-After`, within a deadline;
- paging: large pages in a stable order (`sort=id ASC`), fetched concurrently by offset once
  the first page tells the total, else by following `next` links, with a bound on pages and
  an error for links that repeat or never end;
- a list is read defensively: a job marked `status: deleted` is gone, and a job jobspec
  cannot read (an odd id, no name: a system job) is skipped with one warning per listing;
- checking every reply at the boundary, so that server garbage becomes an `ApiError` naming the
  call (`GET v1/jobs/…: server answered text/html, not JSON (status 200)`), never a traceback.

What callers may see, each message starting with the call (`METHOD v1/path`):

    ApiError            an error status, a reply that is not the API, or retries exhausted
    ├── AuthError       credentials refused, or a 401 that survived re-authentication
    ├── NotFoundError   404 (or 406, as the vendor client reads it) on a call that needs the
    │                   job to exist (patch, clone, control)
    └── OutcomeUnknown  a non-idempotent call (create, clone, start) that may have reached the
                        server but whose reply was lost; it is never sent again

When a call may be repeated (`_retry.decide`, a pure decision tested by a table). A request is
retried only when repeating it cannot do harm:
- Idempotent calls (GET, PATCH with a body, DELETE, pause/resume/cancel) are retried on 429,
  502, 503, 504, connection errors and timeouts. A DELETE that meets 404 after an attempt whose
  outcome was unknown counts as done: the lost attempt deleted the job.
- Non-idempotent calls (POST create/clone, `start`) are retried only when the request provably
  was not processed: a connect error or connect timeout (nothing was sent) or 429 (a rate
  limit refuses the request at the door). Anything else after the request may have been sent
  (read/write timeout, a dropped connection, any 5xx: Envoy and Istio answer 503 when the
  upstream reset after doing the work) raises `OutcomeUnknown`; the applier then looks for
  the job instead of creating it twice.
Secrets (passwords, client secrets, tokens) never appear in messages, reprs or logs: token
calls are named only `POST connect/token`, and their bodies and headers are never quoted.
What the server says is quoted only after the client's `Scrubber` (which learns each token as
it is issued) has masked every known secret in any encoding, and only shortened: a hostile
server may echo the password form or the `Authorization` header back.

Every wait ends: a reply must arrive whole (headers and body) within `Settings.timeout`, since
httpx's read timeout restarts with every chunk; a whole listing within `listing_deadline`.
Environment proxies are used only for an https server that is not loopback.

Modules, all private; import from `jobspec.client`:

    _client.py      DryvIQClient: the API calls and the one loop that sends and retries
    _retry.py       RetryPolicy, Repeat and `decide`: retry, give up or outcome unknown (pure)
    _pace.py        Pace and `on_answer`: the in-flight limit, rate cap and pause (pure AIMD)
    _limiter.py     Limiter: carries out the pace for every request of the client
    _auth.py        TokenKeeper: credentials, token grants, refresh, static tokens
    _paging.py      Lister: paged listings, re-read when they change under us
    _replies.py     reading replies: JSON checks, error text, status errors, LiveJob decoding
    _transport.py   a client per request slot, proxies, Builder, the Requester protocol
    _wire.py        SlotTransport: one HTTP/1.1 connection per slot, under httpx
"""

from jobspec.client._client import ControlAction, DryvIQClient
from jobspec.client._paging import (
    LIST_ATTEMPTS,
    LIST_SORT,
    LISTING_DEADLINE,
    MAX_PAGES,
    PAGE_LIMIT,
    Slim,
)
from jobspec.client._replies import NOT_FOUND_STATUSES
from jobspec.client._retry import (
    NOT_PROCESSED_STATUSES,
    RETRY_STATUSES,
    Repeat,
    RetryPolicy,
    retry_after as _retry_after,
)
from jobspec.client._transport import CONNECT_TIMEOUT

__all__ = [
    "CONNECT_TIMEOUT",
    "LISTING_DEADLINE",
    "LIST_ATTEMPTS",
    "LIST_SORT",
    "MAX_PAGES",
    "NOT_FOUND_STATUSES",
    "NOT_PROCESSED_STATUSES",
    "PAGE_LIMIT",
    "RETRY_STATUSES",
    "ControlAction",
    "DryvIQClient",
    "Repeat",
    "RetryPolicy",
    "Slim",
    "_retry_after",
]
