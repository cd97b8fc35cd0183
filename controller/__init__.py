"""The cloud side of shoal: fleet repository loading, inventory and variables,
rendering, the git source, the publisher, the status writer and their commands.
See docs/ARCHITECTURE.md for the layers."""
