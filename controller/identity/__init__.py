"""Fleet identity: the certificate authority, node credentials, install bundles, the
broker's confinement and revocation that follows git.

`authority` issues and renews certificates; `provisioning` registers nodes in bulk
(one commit on a new branch) and `bundles` writes each node's install bundle;
`brokerconfig` generates a Mosquitto configuration confining each node to its own
shadow; `revocation` keeps the broker's dynamic-security clients in step with the
nodes of each revision. Called by `controller/commands/` (`shoal ca`, `shoal provision`,
`shoal broker-config`) and, for revocation, by the running controller (`service/`).
Imports `render/` and `fleet/` only.
"""
