"""A model module whose own import fails (a dependency that is not installed): tests/integration/test_cli_errors.py
checks that the CLI names the module and the missing import in one line."""

import xgboost_not_installed  # type: ignore[import-not-found]  # noqa: F401
