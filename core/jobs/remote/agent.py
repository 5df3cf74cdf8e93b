"""The remote side of the SSH backend: a stdlib-only script run as `PYTHON -c SOURCE CMD ARGS`.

It needs nothing installed on the host but Python (no rsync, no tar, no project yet):

    info WORK_DIR            python, torch, CUDA and GPU, free disk, clock: one JSON line
    hashes DIR               {relative path: sha256} of every file under DIR: one JSON line
    extract DIR              a tar stream on stdin unpacked into DIR (members confined to DIR)
    cat DIR NAME             one file of DIR, its bytes on stdout (a download without SFTP)
    private_dir DIR          DIR made (or kept) 0700 and owned by this user: the work dir
    owned PATH...            {path: null (missing) | true | false}: exists and is this user's
    start_time PID           the process identity core.runs.process uses (boot id:start ticks)
    signal PID STARTED SIG   send SIG to PID only if its identity still equals STARTED
    lockheld RUN_DIR         whether a process holds RUN_DIR/worker.lock, and who: one JSON line
"""

import hashlib
import json
import os
import shutil
import sys
import tarfile
import time


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def info(work_dir):
    out = {
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "time": time.time(),
        "torch": None,
        "cuda": False,
        "gpu": None,
        "gpus": 0,
    }
    probe = work_dir
    while probe and not os.path.isdir(probe):
        probe = os.path.dirname(probe)
    try:
        out["free_bytes"] = shutil.disk_usage(probe or "/").free
    except OSError:
        out["free_bytes"] = None
    out["work_dir_exists"] = os.path.isdir(work_dir)
    out["work_dir_writable"] = os.access(probe or "/", os.W_OK)
    try:
        import torch

        out["torch"] = torch.__version__
        out["cuda"] = bool(torch.cuda.is_available())
        if out["cuda"]:
            out["gpus"] = torch.cuda.device_count()
            out["gpu"] = torch.cuda.get_device_name(0)
    except Exception as exc:  # a broken torch is reported, not fatal
        out["torch_error"] = "%s: %s" % (type(exc).__name__, exc)
    try:
        import venv  # noqa: F401 — the venv module, which Debian ships apart (python3-venv)

        out["venv"] = True
    except ImportError:
        out["venv"] = False
    print(json.dumps(out))


def hashes(root):
    out = {}
    if os.path.isdir(root):
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            for name in filenames:
                path = os.path.join(dirpath, name)
                if os.path.isfile(path) and not os.path.islink(path):
                    out[os.path.relpath(path, root)] = _sha256(path)
    print(json.dumps(out))


def extract(root):
    os.makedirs(root, exist_ok=True)
    real = os.path.realpath(root)
    with tarfile.open(fileobj=sys.stdin.buffer, mode="r|") as tar:
        for member in tar:
            target = os.path.realpath(os.path.join(real, member.name))
            if not member.isfile() or not target.startswith(real + os.sep):
                raise SystemExit("refused tar member %r" % member.name)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            tmp = target + ".part"
            with tar.extractfile(member) as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst)
            os.chmod(tmp, member.mode & 0o700 or 0o600)
            os.replace(tmp, target)  # a reader never sees half a file


def cat(root, name):
    with open(os.path.join(root, name), "rb") as fh:
        shutil.copyfileobj(fh, sys.stdout.buffer, 1 << 20)
    sys.stdout.buffer.flush()


def private_dir(path):
    os.makedirs(path, mode=0o700, exist_ok=True)
    st = os.stat(path)
    if st.st_uid != os.getuid():
        raise SystemExit("%s is owned by uid %d, not by this user (uid %d)" % (path, st.st_uid, os.getuid()))
    os.chmod(path, 0o700)


def owned(paths):
    out = {}
    for path in paths:
        try:
            out[path] = os.lstat(path).st_uid == os.getuid()
        except FileNotFoundError:
            out[path] = None
    print(json.dumps(out))


def _boot_id():
    try:
        with open("/proc/sys/kernel/random/boot_id") as fh:
            return fh.read().strip()
    except OSError:
        return "noboot"


def start_time(pid):
    try:
        with open("/proc/%d/stat" % pid, "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    rest = data[data.rfind(b")") + 2 :].split()
    if len(rest) < 20 or rest[0] in (b"Z", b"X"):
        return None
    return "%s:%s" % (_boot_id(), rest[19].decode("ascii"))


def signal_if_same(pid, started, sig):
    now = start_time(pid)
    if now is None:
        print(json.dumps({"sent": False, "why": "no such process"}))
    elif now != started:
        print(
            json.dumps(
                {"sent": False, "why": "pid %d is another process now (started %s, not %s)" % (pid, now, started)}
            )
        )
    else:
        os.kill(pid, sig)
        print(json.dumps({"sent": True}))


def lock_held(run_dir):
    """core.runs.lock.holder over here: an instant shared flock on worker.lock, never created."""
    import fcntl

    try:
        fd = os.open(os.path.join(run_dir, "worker.lock"), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        print(json.dumps({"held": False, "holder": None}))
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                who = json.loads(os.pread(fd, 4096, 0).decode("utf-8"))
            except (OSError, ValueError):
                who = {}
            print(json.dumps({"held": True, "holder": who if isinstance(who, dict) else {}}))
            return
        fcntl.flock(fd, fcntl.LOCK_UN)
        print(json.dumps({"held": False, "holder": None}))
    finally:
        os.close(fd)


def main(argv):
    # What it makes (the project, data, venvs) is this user's alone, even on a shared server.
    os.umask(0o077)
    cmd, args = argv[0], argv[1:]
    if cmd == "info":
        info(args[0])
    elif cmd == "hashes":
        hashes(args[0])
    elif cmd == "extract":
        extract(args[0])
    elif cmd == "cat":
        cat(args[0], args[1])
    elif cmd == "private_dir":
        private_dir(args[0])
    elif cmd == "owned":
        owned(args)
    elif cmd == "start_time":
        print(json.dumps(start_time(int(args[0]))))
    elif cmd == "signal":
        signal_if_same(int(args[0]), args[1], int(args[2]))
    elif cmd == "lockheld":
        lock_held(args[0])
    else:
        raise SystemExit("unknown command %r" % cmd)


if __name__ == "__main__":
    main(sys.argv[1:])
