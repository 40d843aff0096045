"""The workers' seccomp filters, compiled with libseccomp (through ``pyseccomp``) in the grader.

The BPF program travels to the worker as bytes; the worker loads it itself (``prctl`` after
``no_new_privs``) just before the first student cell, so the worker needs neither libseccomp nor any
privilege. Refused system calls fail with ``EPERM`` (``clone3`` with ``ENOSYS``, so that the C
library falls back to ``clone``, whose flags a filter can inspect); everything else is allowed.

Two filters:

- the **base** filter: debugging and inspecting other processes (``ptrace``, ``process_vm_readv``,
  ``process_vm_writev``, ``kcmp``), mounting and namespaces (``mount``, ``umount2``, ``pivot_root``,
  ``chroot``, ``unshare``, ``setns``, the new mount API, and ``clone`` with any namespace flag),
  kernel keyrings, ``bpf``, ``perf_event_open``, ``userfaultfd``, ``io_uring``, module loading,
  ``kexec``, ``reboot``, ``swapon``, ``acct``, ``quotactl``, handle-based opens, ``syslog``;
- the **single-process** filter adds ``fork``, ``vfork`` and ``clone`` without ``CLONE_THREAD``
  (threads stay allowed): used when no cgroup counts the submission's processes, so that a
  per-process rlimit (address space) bounds the whole submission.
"""

from __future__ import annotations

import errno
import functools
import tempfile
from collections.abc import Sequence

#: System calls every worker is refused.
REFUSED = (
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "unshare",
    "setns",
    "open_tree",
    "move_mount",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "init_module",
    "finit_module",
    "delete_module",
    "kexec_load",
    "kexec_file_load",
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "quotactl",
    "open_by_handle_at",
    "name_to_handle_at",
    "lookup_dcookie",
    "syslog",
    "fanotify_init",
)
#: ``clone`` flags that create namespaces.
NAMESPACE_FLAGS = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000)
CLONE_THREAD = 0x00010000


class SeccompUnavailable(RuntimeError):
    """libseccomp (or its Python binding) is not installed."""


def _library():  # type: ignore[no-untyped-def]
    try:
        import pyseccomp
    except (ImportError, OSError, RuntimeError) as exc:  # the binding, or libseccomp.so.2, is missing
        raise SeccompUnavailable(f"libseccomp is not available ({exc})") from None
    return pyseccomp


@functools.cache
def program(single_process: bool) -> bytes:
    """The BPF program (``struct sock_filter`` array) of the worker filter; see the module docstring.

    Raises :class:`SeccompUnavailable` without libseccomp.
    """
    sc = _library()
    refuse = sc.ERRNO(errno.EPERM)
    filt = sc.SyscallFilter(sc.ALLOW)
    for name in REFUSED:
        try:
            filt.add_rule(refuse, name)
        except (OSError, ValueError, RuntimeError):  # not a system call on this architecture
            continue
    filt.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
    for flag in NAMESPACE_FLAGS:
        filt.add_rule(refuse, "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
    if single_process:
        for name in ("fork", "vfork"):
            try:
                filt.add_rule(refuse, name)
            except (OSError, ValueError, RuntimeError):
                continue
        filt.add_rule(refuse, "clone", sc.Arg(0, sc.MASKED_EQ, CLONE_THREAD, 0))
    with tempfile.TemporaryFile() as handle:
        filt.export_bpf(handle)
        handle.seek(0)
        return bytes(handle.read())


def refused(single_process: bool) -> Sequence[str]:
    """Names of the refused calls, for the record."""
    extra = ("fork", "vfork", "clone without CLONE_THREAD") if single_process else ()
    return (*REFUSED, "clone3 (ENOSYS)", "clone with namespace flags", *extra)
