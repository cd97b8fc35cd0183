"""Two revisions of a fleet repository compared node by node, for a pull request.

`checkouts` materialises any git revision (or the working tree) of a fleet directory,
`revision` says which revision local commands stamp on documents, `diffing` renders
both sides and groups nodes with identical changes (`objectdiff` compares one app's
objects), and `diffreport` prints the result as text, markdown or JSON. Called by
`shoal diff` and `shoal render`; imports `render/` and `fleet/`.
"""
