"""The edge agent updating itself to the release its Desired document names.

The fleet repository declares the agent's release (`agent:`, shadow/release.py); every
node's document carries it. An agent run with `shoal edge --self-update` is a small
supervisor (`supervisor`) that starts the real agent as a child process from the version
selected in its agent dir (`agentdir`). When the child accepts a document naming another
release, `updater` has `installer` put that release's wheel, checked against the sha256
from git, into a virtualenv of its own beside the others; then it records a trial, points
the selection at it and exits so the supervisor starts the new version. The new agent has
until the release's health deadline to connect, re-apply the node's document and send a
report; if it does not, or it exits first, the supervisor points the selection back and
the old agent reports why (`agentUpdate` in its Reported document). Every step is a file
written atomically or a symlink replaced atomically, so a power cut at any point leaves a
node running one complete version: see docs/agent-updates.md.
"""
