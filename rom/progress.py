"""Progress bars with a remaining-time estimate, on rank 0 (tqdm).

Long phases (the steps of an HF, online or adaptive run, the snapshot files of the
offline stage, the empirical cubature's residual decades) show one bar on rank 0's
standard error: done / total, elapsed time, rate and the time remaining, estimated by
tqdm from the rate so far (the HF steps are counted in simulated time, so that cut
steps and short steps do not distort it). Other ranks show nothing.

Bars are on when rank 0 writes to a terminal, or runs under ``mpirun`` (Open MPI
forwards the children's output through pipes to its own terminal, so a child cannot
see the terminal: a bar is drawn there all the same); ``ROM_PROGRESS=0`` turns them
off, ``ROM_PROGRESS=1`` on everywhere (e.g. into a log file). While a bar is shown,
log lines go through :meth:`Progress.log`, which clears the bar, prints the line and
draws the bar again below it.
"""

import os
import sys

__all__ = ["Progress", "enabled"]


def enabled(comm=None):
    """Whether this rank shows progress bars (module docstring)."""
    if comm is not None and comm.rank != 0:
        return False
    env = os.environ.get("ROM_PROGRESS", "")
    if env in ("0", "1"):
        return env == "1"
    return sys.stderr.isatty() or "OMPI_COMM_WORLD_SIZE" in os.environ


class Progress:
    """A progress bar of ``total`` units (rank 0; a no-op elsewhere or when disabled).

    Parameters
    ----------
    comm : mpi4py communicator or None
    total : float
        The amount of work (steps, simulated seconds, files, decades of a residual).
    desc : str
        What is progressing (shown before the bar).
    unit : str
        The unit of ``total`` (shown in the rate).
    log : callable or None
        The log function of the phase (:meth:`log` calls it without breaking the bar).
    """

    def __init__(self, comm, total, desc, unit="step", log=None):
        self._log = log
        self.bar = None
        self.done = 0.0
        if enabled(comm) and total and total > 0:
            from tqdm import tqdm

            self.bar = tqdm(total=float(total), desc=desc, unit=unit, leave=False,
                            dynamic_ncols=True, file=sys.stderr, mininterval=0.5,
                            bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.4g}/{total:.4g} "
                                       "{unit} [{elapsed}<{remaining}]")

    def advance(self, amount=1.0):
        """Add ``amount`` units of work done."""
        self.update(self.done + amount)

    def update(self, done):
        """Set the work done to ``done`` units (clipped to the total)."""
        self.done = float(done)
        if self.bar is not None:
            self.bar.update(min(self.done, self.bar.total) - self.bar.n)

    def log(self, *args, **kwargs):
        """Call the phase's log function with the bar cleared while it prints."""
        if self._log is None:
            return
        if self.bar is None:
            self._log(*args, **kwargs)
            return
        self.bar.clear()
        self._log(*args, **kwargs)
        sys.stdout.flush()
        self.bar.refresh()

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
