"""Built-in plugins. They register through entry points in pyproject.toml, like any third party."""
