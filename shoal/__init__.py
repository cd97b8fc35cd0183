"""The `shoal` command: dispatches to the controller's and the edge's commands, and the demo."""

__version__ = "0.1.0"
