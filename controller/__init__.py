"""The cloud side of shoal, one room per stage of the data flow.

    fleet/     the repository becomes a model: YAML reader, loading, validation, selectors, variables
    render/    the model becomes Desired documents: templating, manifests, memoized rendering
    review/    two revisions compared for a pull request: checkouts, diffing, reports
    service/   the running controller: git source, triggers, reconciler, publisher, HTTP
    status/    what the edges report, committed back to git and read by `shoal status`
    commands/  one module per `shoal` command of the controller side
    gitcli     the git command line, run one way for every room

Each room imports only the rooms below it (commands > service | review | status >
render > fleet > gitcli); the order is an import-linter contract in pyproject.toml.
docs/ARCHITECTURE.md follows one commit through them.

The controller's documented API is each room's `__all__` (in its `__init__.py`): what
the other rooms, the commands, `shoal` and the benchmarks use; tests/test_public_api.py
pins every list. The commands' API is `add_parser` and `run` of each command module.
"""
