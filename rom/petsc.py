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
           "unused_report", "option_used", "parse_options", "FINALIZE_OPTIONS"]

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


def _is_number(tok):
    try:
        float(tok)
        return True
    except ValueError:
        return False


def parse_options(text, what="--petsc"):
    """``"-ksp_type cg -ksp_monitor"`` -> ``{"ksp_type": "cg", "ksp_monitor": ""}``
    (in the order given; a repeated option keeps its last value, as in PETSc; a
    negative number is a value). ``what`` names the source in error messages."""
    import shlex

    from rom import RomError

    opts, key = {}, None
    for tok in shlex.split(text or ""):
        if tok.startswith("-") and not _is_number(tok):
            key = tok.lstrip("-")
            if not key:
                raise RomError(f"{what}: '{tok}' without an option name")
            opts[key] = ""
        elif key is not None:
            opts[key] = tok
            key = None
        else:
            raise RomError(f"{what}: value '{tok}' without an option name")
    return opts


def initialize(options=None):
    """Initialize PETSc with ``options`` (a dict ``name -> value``, names without the
    dash, ``""`` for an option without a value) as its command line, after
    ``PETSC_OPTIONS``; in a PETSc started before (a library use, a test process: PETSc
    has read its command line already), set them in its database (``-log_view`` then
    starts the log here).

    Returns what :func:`forget` needs to put the database back as a process without
    these options would have it when the command ends: ``{name: previous value}``,
    the previous value that of the database before (PETSc started before) or of
    ``PETSC_OPTIONS`` (PETSc starts here), None when the option had none; the options
    PETSc reads when the process ends (``-log_view``, :data:`FINALIZE_OPTIONS`) are
    left in place."""
    options = dict(options or {})
    args = []
    for name, value in options.items():
        args += [f"-{name}"] + ([str(value)] if value not in (None, "") else [])
    started = "PETSc" in globals() or "petsc4py.PETSc" in sys.modules
    if started:
        before = database()
    else:  # PETSc reads PETSC_OPTIONS, then these as its command line
        try:
            before = parse_options(os.environ.get("PETSC_OPTIONS", ""), "PETSC_OPTIONS")
        except Exception:  # noqa: BLE001 - PETSc reports a malformed PETSC_OPTIONS itself
            before = {}
    PETSc = _start(args)
    restore = {name: before.get(name) for name in options
               if name != "log_view" and name not in FINALIZE_OPTIONS}
    if not started:
        return restore
    db = PETSc.Options()
    for name, value in options.items():
        db.setValue(name, "" if value is None else str(value))
    if db.hasName("log_view") and not PETSc.Log.isActive():  # (read: used)
        PETSc.Log.begin()
    return restore


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


def forget(restore):
    """Put back the options :func:`initialize` set (its return value ``{name:
    previous value or None}``) when the command has ended, failed or not: each to its
    previous value, or removed when it had none, so that a later command or library
    call in the same process sees the database of ``PETSC_OPTIONS`` and its own
    options only."""
    if restore:
        db = _start().Options()
        for name, value in restore.items():
            if value is None:
                db.delValue(name)
            else:
                db.setValue(name, value)
