"""The fleet repository as a model: read, validated and merged, nothing rendered yet.

`loading.load_fleet(root)` reads every YAML file (`yamlreader` keeps each value's line),
validates it against `schemas/`, parses selectors (`selectors`) and returns the frozen
`Fleet` of `model`, or raises one `FleetError` carrying every `Problem` (`problems`).
`variables` merges a node's and an app's variables by precedence. Called by `render/`,
`review/`, the commands and the controller's reconciler; imports no other room.
"""
