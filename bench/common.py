"""What the benchmarks share: the repository root, the environment of an ``mpirun``
as root with one thread per rank, and git worktrees of other revisions (for side by
side comparisons)."""

import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1", OMP_NUM_THREADS="1",
           OPENBLAS_NUM_THREADS="1")


def worktree(rev, parent):
    """``(short hash, path)`` of a checkout of git revision ``rev`` in
    ``parent/rev_<short hash>`` (made once per commit)."""
    short = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", rev], check=True,
                           capture_output=True, text=True).stdout.strip()
    path = os.path.join(parent, f"rev_{short}")
    if not os.path.isdir(path):
        subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", path, short],
                       check=True, capture_output=True)
    return short, path


def hf_summary(text):
    """The numbers of the summary ``run.py hf`` prints (``text``: its output, with the
    line ``GNUTIME rss_kb=...`` of GNU time around it): dofs, steps done, Newton and
    Krylov iterations, seconds (setup, steps, law, assembly, linear solve and its
    preconditioner set-up), step cuts and accurate restarts, the peak RSS in GB."""
    import re

    def num(pattern):
        return float(re.search(pattern, text).group(1))

    return {"dofs": int(num(r"(\d+) dofs")), "steps_done": int(num(r"(\d+) of \d+ step")),
            "newton": int(num(r"Newton iterations\s+(\d+)")),
            "krylov": int(num(r"KSP iterations (\d+)")),
            "setup": num(r"setup ([\d.]+)"), "steps": num(r"steps ([\d.]+) \(law"),
            "law": num(r"\(law ([\d.]+)"), "assembly": num(r"assembly ([\d.]+)"),
            "solve": num(r"linear solve ([\d.]+)"),
            "pc_setup": num(r"preconditioner set-up ([\d.]+)"),
            "cuts": text.count("cut:"), "restarts": text.count("step restarted with accurate"),
            "rss_gb": num(r"GNUTIME rss_kb=(\d+)") / 2 ** 20}


def run(cmd, ranks=1, stderr=False):
    """Run ``cmd`` (under ``mpirun -n ranks`` when ranks > 1) from the repository root;
    its standard output (followed by its standard error with ``stderr``), or exit with
    the end of its output if it fails."""
    import sys

    if ranks > 1:
        cmd = ["mpirun", "-n", str(ranks)] + list(cmd)
    p = subprocess.run(cmd, capture_output=True, text=True, env=ENV, cwd=ROOT)
    if p.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return p.stdout + (p.stderr if stderr else "")
