"""Confinement layers of the sandbox worker (sandbox_worker.py).

reexec_under_filter: installs the seccomp filter the worker and all its children run under, then
    replaces the process with a fresh interpreter running the same command. Installing a filter
    needs ctypes; once loaded, its types stay reachable from any object (object.__subclasses__()),
    and with them a way to call any C function, so no process that runs model-written text may
    have ever loaded it.
confine_child: what a freshly forked child does to itself before it touches model-written text:
    private descriptors, its own directory, an unprivileged uid where the worker is root, resource
    limits, an audit hook, and removal of every way to end the process with a chosen status.
"""

import json
import os
import resource
import signal
import sys

# The one descriptor execveat may run: the worker's own interpreter, for the re-exec above. It is
# closed by that exec, and RLIMIT_NOFILE stays below it, so nothing can open it again.
EXEC_FD = 255

# Allowed bits of clone() flags: what fork() passes. No threads, shared memory or namespaces.
_CLONE_ALLOWED = 0x01000000 | 0x00200000 | 0x00100000 | 0xFF  # CHILD_SETTID CHILD_CLEARTID PARENT_SETTID CSIGNAL

# (audit arch, has x32, refused calls -> errno, clone nr, execveat nr)
_FILTERS = {
    "x86_64": (
        0xC000003E,
        True,
        {
            59: 1, 58: 1, 435: 38,  # execve vfork clone3 (ENOSYS: libc falls back to clone)
            41: 1, 53: 1, 42: 1, 43: 1, 49: 1, 50: 1, 288: 1,  # sockets
            62: 1, 200: 1, 234: 1, 129: 1, 297: 1, 424: 1,  # kill tkill tgkill sigqueue pidfd_send_signal
            101: 1, 310: 1, 311: 1, 438: 1, 440: 1,  # ptrace process_vm_* pidfd_getfd process_madvise
            272: 1, 308: 1, 165: 1, 166: 1, 155: 1, 161: 1,  # unshare setns mount umount2 pivot_root chroot
            112: 1, 109: 1,  # setsid setpgid: stay in the process group the miner kills
            321: 1, 298: 1, 250: 1, 248: 1, 249: 1, 425: 1, 426: 1, 427: 1, 323: 1,
            169: 1, 246: 1, 320: 1, 175: 1, 313: 1, 176: 1, 167: 1, 168: 1, 103: 1,
            133: 1, 259: 1, 303: 1, 304: 1,
        },
        56,
        322,
    ),
    "aarch64": (
        0xC00000B7,
        False,
        {
            221: 1, 435: 38,
            198: 1, 199: 1, 203: 1, 202: 1, 200: 1, 201: 1, 242: 1,
            129: 1, 130: 1, 131: 1, 138: 1, 240: 1, 424: 1,
            117: 1, 270: 1, 271: 1, 438: 1, 440: 1,
            97: 1, 268: 1, 40: 1, 39: 1, 41: 1, 51: 1,
            157: 1, 154: 1,
            280: 1, 241: 1, 219: 1, 217: 1, 218: 1, 425: 1, 426: 1, 427: 1, 282: 1,
            142: 1, 104: 1, 294: 1, 105: 1, 273: 1, 106: 1, 224: 1, 225: 1, 116: 1,
            33: 1, 264: 1, 265: 1,
        },
        220,
        281,
    ),
}


def _filter_program(audit_arch, has_x32, refused, clone_nr, execveat_nr):
    import struct

    def stmt(code, k):
        return struct.pack("=HBBI", code, 0, 0, k)

    def jump(code, k, jt, jf):
        return struct.pack("=HBBI", code, jt, jf, k)

    ld_abs, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    kill_process, eperm, allow = 0x80000000, 0x00050001, 0x7FFF0000
    arg0_low = 16  # seccomp_data.args[0], low word (little-endian)
    prog = [stmt(ld_abs, 4), jump(jeq, audit_arch, 1, 0), stmt(ret, kill_process), stmt(ld_abs, 0)]
    if has_x32:
        prog += [jump(jge, 0x40000000, 0, 1), stmt(ret, eperm)]
    for nr, err in sorted(refused.items()):
        prog += [jump(jeq, nr, 0, 1), stmt(ret, 0x00050000 | err)]
    # clone: fork-like flags only. execveat: only the re-exec descriptor (the kernel reads an int).
    prog += [jump(jeq, clone_nr, 0, 4), stmt(ld_abs, arg0_low)]
    prog += [jump(jset, ~_CLONE_ALLOWED & 0xFFFFFFFF, 0, 1), stmt(ret, eperm), stmt(ret, allow)]
    prog += [jump(jeq, execveat_nr, 0, 4), stmt(ld_abs, arg0_low)]
    prog += [jump(jeq, EXEC_FD, 0, 1), stmt(ret, allow), stmt(ret, eperm)]
    prog.append(stmt(ret, allow))
    return prog


def _install_filter(machine):
    import ctypes

    prog = _filter_program(*_FILTERS[machine])

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    code = ctypes.create_string_buffer(b"".join(prog))
    fprog = SockFprog(len(prog), ctypes.cast(code, ctypes.c_void_p))
    libc = ctypes.CDLL(None, use_errno=True)
    prctl = libc.prctl
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    if prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        return f"PR_SET_NO_NEW_PRIVS failed (errno {ctypes.get_errno()})"
    if prctl(22, 2, ctypes.addressof(fprog), 0, 0) != 0:  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
        return f"seccomp filter refused (errno {ctypes.get_errno()})"
    return None


def reexec_under_filter(config):
    """Returns the seccomp problem (None when installed) in the re-executed process, or here when no
    filter can be installed (then ctypes was never loaded and no re-exec is needed)."""
    if config.get("stage") == "filtered":
        return config.get("seccomp_problem")
    if not config.get("seccomp", True):
        return "disabled"
    machine = os.uname().machine.lower()
    machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)
    if sys.platform != "linux" or machine not in _FILTERS:
        return f"unsupported platform {sys.platform}/{machine}"
    problem = _install_filter(machine)
    fd = os.open(sys.executable, os.O_RDONLY | os.O_CLOEXEC)
    if fd != EXEC_FD:
        os.dup2(fd, EXEC_FD, inheritable=False)
        os.close(fd)
    nofile = min(int(config.get("nofile", EXEC_FD)), EXEC_FD)
    resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
    staged = json.dumps({**config, "stage": "filtered", "seccomp_problem": problem})
    os.execve(EXEC_FD, [*sys.orig_argv[:-1], staged], dict(os.environ))
    raise AssertionError("unreachable")


# ----------------------------------------------------------------------------------------------
# Child confinement.
def drop_privileges(uid):
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)


def apply_limits(limits):
    """limits: [(RLIMIT name, value)]. Returns the names the kernel accepted."""
    applied = []
    for name, value in limits:
        try:
            resource.setrlimit(getattr(resource, name), (value, value))
            applied.append(name)
        except (ValueError, OSError, AttributeError):
            pass
    return applied


def _refuse_loading(*_args, **_kwargs):
    raise ImportError("sandbox: loading new modules is not allowed")


# The harness's own exit function is the one thing that turns a child into a verdict; code under
# test must find no other. Fresh or re-executed builtin modules would bring _exit back.
def _remove_exits():
    import _imp
    import posix

    for module in (posix, os):
        module.__dict__.pop("_exit", None)
    for name in ("create_builtin", "exec_builtin", "create_dynamic", "exec_dynamic"):
        setattr(_imp, name, _refuse_loading)


_PATH_EVENT = "sandbox.path"
# open is checked by its own audit event, which does not show dir_fd; the guard refuses that.
_GUARDED = ("stat", "lstat", "access", "readlink", "statvfs", "pathconf", "open")


def _guard_path_functions():
    """stat and friends raise no audit event; route them through one so the hook can check the path
    (and refuse dir_fd, which resolves relative paths from elsewhere). The originals end up only in
    the hook's closure, out of reach of code under test."""
    import posix

    audit = sys.audit
    originals = {}
    sets = (os.supports_dir_fd, os.supports_effective_ids, os.supports_fd, os.supports_follow_symlinks)

    def guarded(name):
        def call(path, *args, **kwargs):
            out = []
            audit(_PATH_EVENT, name, path, args, kwargs, out)
            return out[0]

        call.__name__ = call.__qualname__ = name
        return call

    for name in _GUARDED:
        original = getattr(posix, name, None)
        if original is None:
            continue
        originals[name] = original
        wrapper = guarded(name)
        setattr(posix, name, wrapper)
        setattr(os, name, wrapper)
        for s in sets:
            if original in s:
                s.discard(original)
                s.add(wrapper)
    return originals


_DENY_IMPORTS = frozenset(
    "ctypes _ctypes socket _socket subprocess _posixsubprocess multiprocessing _multiprocessing pty "
    "sqlite3 _sqlite3 dbm _dbm _gdbm ssl _ssl asyncio _asyncio urllib http ftplib smtplib telnetlib "
    "webbrowser xmlrpc socketserver mmap fcntl _xxsubinterpreters tkinter _tkinter".split()
)
_DENY_EVENTS = frozenset(
    "os.system os.fork os.forkpty os.kill os.killpg signal.pthread_kill os.putenv os.unsetenv "
    "os.chdir os.fchdir os.chmod os.chown os.chflags os.lchflags os.link os.symlink os.mkdir "
    "os.remove os.rename os.rmdir os.truncate os.utime os.setxattr os.removexattr "
    "resource.setrlimit resource.prlimit gc.get_objects gc.get_referrers gc.get_referents "
    "sys._current_frames sys._current_exceptions sys.settrace sys.setprofile sys.addaudithook "
    "code.__new__ marshal.load marshal.loads _thread.start_new_thread builtins.input pdb.Pdb".split()
)
_DENY_PREFIXES = ("socket.", "ctypes.", "subprocess.", "os.exec", "os.posix_spawn", "os.spawn",
                  "shutil.", "sqlite3.", "sys.monitoring.", "_winapi.", "winreg.", "msvcrt.", "webbrowser.")
# Attributes that hand out a frame; from any frame, f_back leads to the harness's.
_FRAME_ATTRS = frozenset(("tb_frame", "gi_frame", "cr_frame", "ag_frame"))
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC


def _install_audit_hook(job_dir, library_roots, originals):
    from stat import S_ISLNK

    lstat = originals.get("lstat", os.lstat)
    readlink = originals.get("readlink", os.readlink)
    getcwd, fsdecode, sep = os.getcwd, os.fsdecode, os.sep
    work = job_dir
    read_roots = tuple(sorted({work, "/dev/null", "/dev/urandom", *library_roots}))

    def resolve(path):
        """os.path.realpath with the unguarded lstat/readlink (the guarded ones would recurse)."""
        pending = (path if path.startswith(sep) else getcwd() + sep + path).split(sep)[::-1]
        done, links = "", 0
        while pending:
            name = pending.pop()
            if name in ("", "."):
                continue
            if name == "..":
                done = done[: done.rfind(sep)]
                continue
            candidate = done + sep + name
            try:
                is_link = S_ISLNK(lstat(candidate).st_mode)
            except OSError:
                is_link = False
            if not is_link:
                done = candidate
                continue
            links += 1
            if links > 40:
                return None
            target = readlink(candidate)
            if target.startswith(sep):
                done = ""
            pending.extend(target.split(sep)[::-1])
        return done or sep

    def under(path, prefixes):
        return path is not None and any(
            path == r or path.startswith(r if r.endswith(sep) else r + sep) for r in prefixes
        )

    def checked(path, roots, what):
        """The resolved path, if it lies under roots. Only str/bytes: a path object could name
        one file to this check and another to the call that follows."""
        if not isinstance(path, (str, bytes)):
            raise PermissionError(f"sandbox: {what} takes str or bytes paths here, not {type(path).__name__}")
        full = resolve(fsdecode(path))
        if not under(full, roots):
            raise PermissionError(f"sandbox: {what} {full or fsdecode(path)} is not allowed")

    def hook(event, args):
        if event == "open":
            path, mode, flags = args
            if path is None or isinstance(path, int):
                return
            writing = bool((flags or 0) & _WRITE_FLAGS) or (
                isinstance(mode, str) and any(c in mode for c in "wax+")
            )
            if writing:
                checked(path, (work,), "writing")
            else:
                checked(path, read_roots, "reading")
        elif event == "os.listdir" or event == "os.scandir":
            path = args[0]
            if path is not None and not isinstance(path, int):
                checked(path, read_roots, "listing")
        elif event == _PATH_EVENT:
            name, path, call_args, call_kwargs, out = args
            if call_kwargs.get("dir_fd") is not None:
                raise PermissionError(f"sandbox: {name} with dir_fd is not allowed")
            if name != "open" and not isinstance(path, int):
                checked(path, read_roots, name)
            out.append(originals[name](path, *call_args, **call_kwargs))
        elif event == "import":
            name = args[0] or ""
            if name in _DENY_IMPORTS or name.split(".")[0] in _DENY_IMPORTS:
                raise ImportError(f"sandbox: import of {name} is not allowed")
        elif event == "sys._getframe":
            # ValueError, as for a too-shallow stack: callers such as collections.namedtuple expect it.
            raise ValueError("sandbox: frame access is not allowed")
        elif event == "object.__getattr__":
            if args[1] in _FRAME_ATTRS:
                raise PermissionError(f"sandbox: {args[1]} is not allowed")
        elif event in _DENY_EVENTS or event.startswith(_DENY_PREFIXES):
            raise PermissionError(f"sandbox: {event} is not allowed")

    sys.addaudithook(hook)


def _disable_like_the_validator():
    """The validator's worker initializer: the same functions disabled, so behaviour matches."""
    import builtins

    builtins.exit = None
    builtins.quit = None
    for name in (
        "kill system putenv remove removedirs rmdir fchdir setuid fork forkpty killpg rename renames "
        "truncate replace unlink fchmod fchown chmod chown chroot lchown"
    ).split():
        if hasattr(os, name):
            setattr(os, name, None)


def confine_child(plan, job_dir):
    """In a freshly forked child, before any model-written text: afterwards descriptor 3 (the
    report pipe) is the only way out besides the exit status, and os._exit is gone (the caller
    holds the only reference)."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.closerange(4, EXEC_FD + 1)
    sys.stdin, sys.stdout, sys.stderr = sys.__stdin__, sys.__stdout__, sys.__stderr__  # now /dev/null
    os.chdir(job_dir)
    if plan["uid"] is not None:
        drop_privileges(plan["uid"])
    apply_limits(plan["limits"])
    signal.signal(signal.SIGALRM, plan["alarm_handler"])
    # Handlers receive the interrupted frame; none but the harness's may be installed.
    import _signal

    _signal.signal = None
    _remove_exits()
    originals = _guard_path_functions()
    _install_audit_hook(job_dir, plan["library_roots"], originals)
    _disable_like_the_validator()
