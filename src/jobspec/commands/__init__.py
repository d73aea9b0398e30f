"""The sequences behind the commands: one module per sequence.

specs + state + live jobs → planner → plan; plan + lock → applier → state. Each sequence is a
function that takes its collaborators (an `Api`, a `StateStore`, callbacks), so it is tested
directly, without the CLI. Nothing here prints or exits: what a person sees goes out through
an `ApplyListener` (apply) or comes back as a value the CLI hands to `views`. The pure checks
these sequences run live one layer down, in `jobspec.checks`.

    observe.py    observe (read the live jobs, plan), drift, select
    apply.py      apply: lock, check a saved plan or plan, confirm, apply; ApplyListener
    adopt.py      import_job, import_batch, read_import_file
    generate.py   generate_specs
    state.py      forget, move_address, repoint_server, restore_backup, copy_state
    planfiles.py  read_plan_file, save_plan_file
    fmt.py        format_specs
"""
