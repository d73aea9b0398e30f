"""A DryvIQ-compatible server for trying specs and for the tests (`jobspec emulator`).

It serves the jobs API of `dryviq-api.md` plus test controls under `/_emulator/`. It plays
the server, so it shares no code with the client: nothing outside this package imports it
except `cli/` and the tests, and of jobspec it imports only `errors`, `netaddr` and the
pure `merge` (both directions are import-linter contracts in pyproject.toml).

    config.py   EmulatorConfig: every setting (it extends FaultSettings and RunSettings),
                and the check for public addresses
    rules.py    what a job may contain and how create / patch / clone change it (pure)
    store.py    jobs in memory, optionally written through to SQLite
    auth.py     token grants and bearer checks
    faults.py   latency, 503, 429 and lost replies, seeded and targetable
    runs.py     runs that start, end and get cancelled on the emulator's clock; history
    demo.py     the demo jobs with fixed ids
    replies.py  reading request bodies and parameters; JSON and error replies, dropped replies
    jobs.py     the jobs API handlers: token, list, get, create, clone, patch, delete
    vendor.py   the vendor client's extra routes: history, categories, bulk control, stats
    controls.py the /_emulator/ test controls: reset, seed, stats, faults, runs, tokens
    app.py      create_app(config) -> Starlette: the request prelude and the routes
    server.py   uvicorn: serve() in the foreground, running_emulator() in a thread
"""
