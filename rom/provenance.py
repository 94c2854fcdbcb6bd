"""Provenance of the pipeline's runs: where and with what a run was made, and the key
of the inputs that decides whether a run is up to date.

The environment of a run (:func:`environment`) is a small dict stored as JSON in the
``run_info`` attribute of the file the run wrote (:func:`stamp_file`), read back by
the report (:func:`read_stamp`)::

    date      local time with its UTC offset (ISO 8601), when the run ended
    ranks     number of MPI processes of the run
    hosts     the distinct host names of its ranks, in rank order
    cpu       CPU model of rank 0's machine (/proc/cpuinfo, else platform)
    cores     {"logical": os.cpu_count(), "physical": cores of /proc/cpuinfo or None,
               "available": the CPUs this process may run on}
    versions  rom, python, numpy, scipy, h5py, hdf5, mpi4py, mpi (the MPI library),
              petsc4py, petsc: those the process has loaded ("not loaded": the run did
              not use it; nothing is imported or initialized here)

A run's inputs (:func:`inputs_key`) are a JSON-able dict (files by
:func:`file_identity`: absolute path, size and modification time); their SHA-256 is
the key stored with the run's output and compared on the next pipeline run (Kratos
RomApplication's ``rom_database``: an artifact cached under the hash of its settings).
"""

import hashlib
import json
import os
import platform
import socket
import sys
import time

__all__ = ["environment", "describe_machine", "describe_versions", "file_identity",
           "inputs_key", "stamp_file", "read_stamp"]


def _cpu_info():
    """``(model, physical cores or None)`` from /proc/cpuinfo (Linux), else platform's."""
    model, cores = None, set()
    try:
        with open("/proc/cpuinfo") as f:
            phys = core = None
            for line in f:
                key, _, value = line.partition(":")
                key, value = key.strip(), value.strip()
                if key == "model name" and model is None:
                    model = value
                elif key == "physical id":
                    phys = value
                elif key == "core id":
                    core = value
                elif not key and core is not None:  # end of a processor's block
                    cores.add((phys, core))
                    phys = core = None
            if core is not None:
                cores.add((phys, core))
    except OSError:
        pass
    return model or platform.processor() or platform.machine(), len(cores) or None


def _versions():
    """Versions of the stack as loaded by this process (no import, no initialization)."""
    from rom import __version__

    out = {"rom": __version__, "python": platform.python_version()}
    for name in ("numpy", "scipy", "h5py", "mpi4py", "petsc4py"):
        mod = sys.modules.get(name)
        out[name] = getattr(mod, "__version__", "unknown") if mod else "not loaded"
    h5py = sys.modules.get("h5py")
    out["hdf5"] = h5py.version.hdf5_version if h5py and hasattr(h5py, "version") else (
        "not loaded")
    mpi = sys.modules.get("mpi4py.MPI")
    try:
        # "Open MPI v4.1.4, package: ..., ident: ..." -> "Open MPI v4.1.4"
        out["mpi"] = (mpi.Get_library_version().splitlines()[0].split(",")[0].strip()
                      if mpi else "not loaded")
    except Exception:  # noqa: BLE001 - a version string is not worth a failure
        out["mpi"] = "unknown"
    petsc = sys.modules.get("petsc4py.PETSc")
    try:
        out["petsc"] = ".".join(map(str, petsc.Sys.getVersion())) if petsc else "not loaded"
    except Exception:  # noqa: BLE001
        out["petsc"] = "unknown"
    return out


def environment(comm):
    """Collective (one ``allgather`` of the host names). The environment of a run on
    ``comm`` (module docstring), the same dict on every rank."""
    hosts = comm.allgather(socket.gethostname())
    model, physical = _cpu_info()
    try:
        available = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        available = os.cpu_count()
    return {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "ranks": int(comm.size),
            "hosts": list(dict.fromkeys(hosts)), "cpu": model,
            "cores": {"logical": os.cpu_count(), "physical": physical,
                      "available": available},
            "versions": _versions()}


def describe_machine(env):
    """``"host (CPU model; 8 cores, 16 logical CPUs, 16 available to rank 0)"`` of an
    environment (the hosts of all its ranks)."""
    c = env.get("cores", {})
    counts = ([f"{c['physical']} cores"] if c.get("physical") else []) + [
        f"{c.get('logical')} logical CPUs", f"{c.get('available')} available to rank 0"]
    return f"{', '.join(env.get('hosts') or ['?'])} ({env.get('cpu')}; {', '.join(counts)})"


def describe_versions(env):
    """``"rom 0.1.0, Python 3.11.2, numpy ..., PETSc 3.18.4 (petsc4py 3.18.4), ..."``."""
    v = env.get("versions", {})
    return (f"rom {v.get('rom')}, Python {v.get('python')}, numpy {v.get('numpy')}, "
            f"scipy {v.get('scipy')}, PETSc {v.get('petsc')} (petsc4py {v.get('petsc4py')}), "
            f"mpi4py {v.get('mpi4py')} ({v.get('mpi')}), h5py {v.get('h5py')} "
            f"(HDF5 {v.get('hdf5')})")


def file_identity(path):
    """``[absolute path, size in bytes, modification time in ns]`` of ``path``, or
    ``[absolute path, None, None]`` when it does not exist."""
    path = os.path.abspath(path)
    try:
        st = os.stat(path)
    except OSError:
        return [path, None, None]
    return [path, int(st.st_size), int(st.st_mtime_ns)]


def inputs_key(inputs):
    """SHA-256 (hex) of the JSON-able dict ``inputs`` (keys sorted)."""
    text = json.dumps(inputs, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def stamp_file(path, **attrs):
    """Serial (call on one rank, with the file closed elsewhere). Set HDF5 attributes
    of the file ``path``: strings and numbers as they are, anything else as JSON."""
    import h5py

    from rom import RomError

    try:
        with h5py.File(path, "r+") as f:
            for k, v in attrs.items():
                f.attrs[k] = v if isinstance(v, (str, int, float)) else json.dumps(v)
    except OSError as exc:
        raise RomError(f"cannot record the run's provenance in {path}: {exc}") from None


def read_stamp(path, name="run_info"):
    """Serial. The JSON attribute ``name`` of the HDF5 file ``path`` (None when the
    file or the attribute is missing, or unreadable)."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            text = f.attrs.get(name)
        return None if text is None else json.loads(text)
    except (OSError, ValueError, TypeError):
        return None
