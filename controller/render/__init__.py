"""A loaded fleet becomes rendered apps and Desired documents.

`templating` compiles each app's Jinja templates in a sandbox (`filters`, `undefined`),
`manifests` checks that the output is Kubernetes objects and adds shoal's labels,
`rendering.render_fleet` renders every node, memoized by the context paths each
template reads (`rendercache` keeps compiled apps across revisions, `incremental`
re-renders only what a commit can change), `payloads` encodes documents for the wire,
and `checking` collects every problem for `shoal validate`. Called by the commands,
`review/`, `status/` and `service/`; imports only `fleet/`.
"""
