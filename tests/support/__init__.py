"""Real parts for tests: a Mosquitto broker per suite, git remotes, waiting helpers."""
