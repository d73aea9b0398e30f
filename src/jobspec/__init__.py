"""jobspec: declarative reconciliation for DryvIQ transfer jobs.

The package, top layer first; a module imports only from the layers below it (enforced by
the import-linter contracts in pyproject.toml):

    cli/            parsing, wiring, printing and exit codes (the only click/rich importer):
                    a module per command group (plan, apply, state, adopt, jobs, inspect,
                    emulator, version), runtime (scrubber, error reporting, event loop,
                    signals), options, and
                    run.py, the one settings → store → specs → API path of server commands
    commands/       the sequences behind the commands, one module each: observe (plan,
                    drift), apply, adopt (import, import --discover), generate, jobs, state,
                    planfiles, fmt
    views/          each command's human and JSON output, as plain strings; listeners.py,
                    what apply shows as it runs (the human and the JSON listener);
                    versions.py, `jobspec version`
    emulator/       the local DryvIQ-compatible server (Starlette; only the CLI imports it):
                    app.py routes, jobs.py/vendor.py/categories.py/connections.py
                    handlers, replies.py, controls.py
                    (/_emulator/), config.py (EmulatorConfig), faults, runs, store, rules
    applier.py      runs a plan: journals every call, saves after every step, recovers
    recovery.py     settling an interrupted run's intents; finding a clone whose reply was lost
    quiet.py        the apply's Api: a search for a lost clone has the server to itself
    idle.py         waiting for a running job before deleting it
    firstrun.py     a verified cutover's steps: hold the original, start the clone, judge its run
    client/         the DryvIQ API client (the only httpx importer): DryvIQClient, and
                    private _auth, _paging, _replies, _retry (a pure decision), _transport
    settings.py     flags, environment and jobspec.toml merged into Settings
    state/          the state stores (file, PostgreSQL) and their codecs; see its docstring
    spec/           loading and validating spec files (the only ruamel importer); fmt's writer
    files.py        atomic file writes; bounded reads of regular files only
    gate.py         the one check in front of every clone, PATCH and DELETE (pure)
    checks/         pure checks the commands run: saved plans (planfile), adoption, import rows,
                    discovery (which live job is which spec's clone, by name)
    planner.py      make_plan(desired, prior, live) -> Plan: pure, deterministic
    drift.py        classifying drift: who moved (spec, server, source job)
    generate.py     specs for live jobs (`jobspec generate`): selection, addresses, --set
    overlaps.py     the plan's transfer-conflict check: the world after the plan
    retirement.py   the planner's retiring of originals and old clones; folder-mapping children
    jobroles.py     what each live job is to jobspec; selecting jobs by connection and path
    moves.py        `moved_from:`: renaming an address in the plan; plain renames refused
    cutover.py      the planner's verified cutover steps, and the verdict on a first run
    placing.py      endpoints the overlap check cannot place: refused or warned of
    connections.py  connections in specs checked against the server's, names resolved
    naming.py       the planner's clone names as identities: the name check, `name_key`
    render.py       plans as text, JSON and markdown (colour through the caller's paint)
    conflicts.py    the pure transfer-conflict check
    diff.py         managed-field comparison
    schema.py       the JSON Schema of spec files and the field reference
    api.py          the Api protocol the core takes (DryvIQClient is the real one)
    plan.py         Plan, Action, Step: serialisable values
    model.py        specs and state entries as typed values (re-exports livejob)
    livejob.py      a job as the API returned it; its configuration, fingerprint and digests
    enums.py        the enums of specs, jobs and state (re-exported by model)
    errors.py       the error tree: each error knows its exit code and hint
    merge.py        deep_merge, shared by the model and the emulator
    scrub.py        the Scrubber every piece of server text passes before it is shown; shorten
    netaddr.py      is_loopback, shared by settings and the emulator
    endpoints.py    where an endpoint writes: a path, an item chain's folder, or unplaced
    durations.py    the one duration grammar: --wait-for-idle, --wait, the spec's intervals
    collector.py    pausing the cyclic collector while specs load and the plan is made
"""

__version__ = "0.3.0"
