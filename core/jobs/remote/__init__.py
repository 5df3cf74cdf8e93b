"""The remote (SSH) backend: run any config on a host profile and keep a local mirror.

hosts    host profiles (hosts.yaml), pinned host keys
ssh      connections (strict host keys, key/agent auth, keepalives), quoted commands
agent    the stdlib-only script the remote runs (hashes, tar in/out, process identity)
sync     files by content hash, with SFTP or a tar stream on an exec channel
check    what a host can do: exec, SFTP, python, torch, CUDA, disk, clock
launch   launch, cancel, resume, fetch, attach; the mirror's remote.json
follow   the follower process: the remote event log into the mirror by byte offset
"""

import warnings

from cryptography.utils import CryptographyDeprecationWarning

# asyncssh names DSA in its type hints, which cryptography deprecates with a warning per
# hint at import time (ten lines before every `synapse remote` command's output). Every
# submodule imports asyncssh after this package, so this one scoped filter covers them all.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", category=CryptographyDeprecationWarning, module=r"asyncssh(\.|$)")
    import asyncssh  # noqa: F401
