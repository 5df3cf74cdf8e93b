"""The remote (SSH) backend: run any config on a host profile and keep a local mirror.

    hosts    host profiles (hosts.yaml), pinned host keys
    ssh      connections (strict host keys, key/agent auth, keepalives), quoted commands
    agent    the stdlib-only script the remote runs (hashes, tar in/out, process identity)
    sync     files by content hash, with SFTP or a tar stream on an exec channel
    check    what a host can do: exec, SFTP, python, torch, CUDA, disk, clock
    launch   launch, cancel, resume, fetch, attach; the mirror's remote.json
    follow   the follower process: the remote event log into the mirror by byte offset
"""
