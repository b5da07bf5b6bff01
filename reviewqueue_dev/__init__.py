"""Development and demo tools for reviewqueue: sandboxes, the demo seeder, the process supervisor, `reviewqueue run`.

Used by `reviewqueue run` (through the `reviewqueue.commands` entry point) and by tests; the runtime package
`reviewqueue` never imports it.
"""
