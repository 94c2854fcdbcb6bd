"""Single place where petsc4py is initialised; import ``PETSc`` from here.

PETSc options are taken the PETSc way. PETSc is initialized once per process: by
:func:`initialize` with the command's options (``run.py hf CASE --petsc "-ksp_monitor
-log_view"``) as its command line, else at the first use of ``rom.petsc.PETSc``
without any. PETSc itself then reads the environment variable ``PETSC_OPTIONS`` and
the command line (the later wins) into its global options database, and handles the
options of its start and end: ``-log_view`` (the performance log, printed by rank 0
when the process ends; ``-log_view :log.txt`` into a file), ``-options_left`` (its
table of the options and of those never used, at the end), ``-help``, ``-info``,
``-malloc_debug`` ...

Solvers read that database through their options prefix
(:class:`rom.assembly.LinearSolver`): the HF solver's KSP and PC have none
(``-ksp_type``, ``-pc_type``, ``-ksp_rtol``, ``-ksp_monitor``, ``-ksp_view`` ...), the
steady thermal solver's have ``thermal_`` (``-thermal_ksp_monitor``). The project's
defaults and a case's ``[solver.petsc]`` table are not in the database: a solver
applies them only where the user has given nothing (:class:`LinearSolver`).

:func:`unused_options` lists the options given but never read by PETSc (misspelt,
or for no solver the command built); the commands report them when they end
(:func:`unused_report`).
"""

import os
import sys

os.environ.setdefault("PETSC_DIR", "/usr/lib/petscdir/petsc3.18/x86_64-linux-gnu-real")
_path = os.path.join(os.environ["PETSC_DIR"], "lib", "python3", "dist-packages")
if os.path.isdir(_path) and _path not in sys.path:
    sys.path.append(_path)

import petsc4py  # noqa: E402

# PETSc: a module attribute once PETSc is initialized (__getattr__)
__all__ = ["PETSc", "initialize", "forget", "database", "unused_options",  # noqa: F822
           "unused_report", "option_used", "FINALIZE_OPTIONS"]

# options PETSc reads only in PetscFinalize (never "used" before the process ends)
FINALIZE_OPTIONS = ("options_left", "options_view", "malloc_dump", "malloc_view",
                    "memory_view", "objects_dump", "log_view_memory", "log_view_gpu_time")

_LIB = None  # the PETSc library petsc4py loaded (for functions petsc4py 3.18 lacks)


def _program_name():
    """The program name PETSc is given (never an option: ``python -c`` has ``-c``)."""
    arg0 = sys.argv[0] if sys.argv and sys.argv[0] else ""
    return os.path.basename(arg0) if arg0 and not arg0.startswith("-") else "python"


def _start(args=()):
    """Initialize PETSc with ``args`` as its command line (once); the PETSc module."""
    if "PETSc" not in globals():
        petsc4py.init([_program_name(), *args])
        from petsc4py import PETSc

        _restore_mmap()
        globals()["PETSc"] = PETSc
    return globals()["PETSc"]


def __getattr__(name):  # ``from rom.petsc import PETSc`` initializes PETSc if needed
    if name == "PETSc":
        return _start()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def initialize(options=None):
    """Initialize PETSc with ``options`` (a dict ``name -> value``, names without the
    dash, ``""`` for an option without a value) as its command line, after
    ``PETSC_OPTIONS``. Returns the names of the options set in the database of a PETSc
    started before (a library use, a test process: PETSc has read its command line
    already; ``-log_view`` then starts the log here), to remove when the command ends;
    ``[]`` when PETSc starts here."""
    args = []
    for name, value in (options or {}).items():
        args += [f"-{name}"] + ([str(value)] if value not in (None, "") else [])
    started = "PETSc" in globals() or "petsc4py.PETSc" in sys.modules
    PETSc = _start(args)
    if not started:
        return []
    db = PETSc.Options()
    for name, value in (options or {}).items():
        db.setValue(name, "" if value is None else str(value))
    if db.hasName("log_view") and not PETSc.Log.isActive():  # (read: used)
        PETSc.Log.begin()
    return list(options or {})


def option_used(name):
    """Has PETSc read option ``name`` (without its dash) from the options database?
    (``PetscOptionsUsed``, which petsc4py 3.18 does not wrap: called through ctypes in
    the library petsc4py itself loaded. Unlike ``hasName``, it does not mark the
    option used.)"""
    import ctypes

    global _LIB
    if _LIB is None:
        _LIB = ctypes.CDLL(_start().__file__)
        _LIB.PetscOptionsUsed.argtypes = [ctypes.c_void_p, ctypes.c_char_p,
                                          ctypes.POINTER(ctypes.c_int)]
    used = ctypes.c_int(0)
    if _LIB.PetscOptionsUsed(None, name.encode(), ctypes.byref(used)) != 0:
        return True  # cannot tell: do not accuse the option
    return bool(used.value)


def database():
    """The options of PETSc's database, ``{name: value}`` (names without the dash,
    ``""`` for an option without a value), without marking them used."""
    return {k: ("" if v is None else v) for k, v in _start().Options().getAll().items()}


def unused_options():
    """The options of the database that PETSc never read, ``{name: value}``, but
    those it reads only when the process ends (:data:`FINALIZE_OPTIONS`). Local (each
    rank reads its own database; PETSc's objects are collective, so the ranks agree)."""
    return {k: v for k, v in database().items()
            if k not in FINALIZE_OPTIONS and not option_used(k)}


def unused_report(extra=None, reason=None):
    """The warning, one paragraph, naming the options given but never used (``extra``:
    other options the command did not use, ``{name: value}``; ``reason``: why, instead
    of the general hint), or None: none, or
    ``-options_left`` given (PETSc lists them itself at the end: ``-options_left``
    true) or the report declined (``-options_left 0``, as PETSc's own)."""
    unused = dict(extra or {})
    if "PETSc" in globals():
        if "options_left" in database():
            return None
        unused.update(unused_options())
    if not unused:
        return None
    names = " ".join(f"-{k}" + (f" {v}" if v else "") for k, v in unused.items())
    reason = reason or ("misspelt, or for no solver of this command: the HF solver reads "
                        "unprefixed options, the thermal solver -thermal_ ones; "
                        "-options_left for PETSc's table, -options_left 0 to silence this")
    return f"warning: PETSc option(s) given but never used: {names} ({reason})"


def _restore_mmap():
    """PETSc's initialization (a library it loads) sets glibc's ``M_MMAP_MAX`` to 0:
    every large numpy array then lives in the heap, and the process keeps what it frees
    there (measured: 450 MB of the temporaries of a 1M-dof mesh generation stayed
    resident, and PETSc's matrices were allocated beside them). Restore glibc's
    default, so that large arrays are mapped and given back when freed."""
    import ctypes

    try:
        ctypes.CDLL(None).mallopt(-4, 65536)  # M_MMAP_MAX, glibc's default
    except (OSError, AttributeError):  # not glibc
        pass


def forget(names):
    """Remove the options ``names`` that :func:`initialize` set in the database of a
    PETSc started before (the command has ended), but ``-log_view``: PETSc prints the
    log when the process ends."""
    if names:
        db = _start().Options()
        for name in names:
            if name != "log_view":
                db.delValue(name)
