"""The edge side of shoal: the agent loop, durable local store, Kubernetes runtime,
health, reporter and `shoal edge`. Imports `shadow` and `transport`, never `controller`."""
