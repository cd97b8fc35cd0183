"""One module per `shoal` command the controller side provides (`add_parser`, `run`)."""
