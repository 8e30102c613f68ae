"""Background training runs: ``jobs`` (submit, status, cancel, reconcile, wait), the child process, JobStatus.

``jobs`` is offered as a module: its functions read best qualified (``jobs.submit``, ``jobs.status``).
"""

from fashion_core.training import jobs
from fashion_core.training.process import start_here
from fashion_core.training.status import JobStatus

__all__ = ["JobStatus", "jobs", "start_here"]
