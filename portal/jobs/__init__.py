"""The scheduler: periodic jobs from the ``register_jobs`` hook, one process at a time per job.

* ``tables``: the lease row of each job (who runs it, until when, how its last run ended) and the
  run history; ``JobClaim`` for "this happened once" keys (a job's per-row idempotency).
* ``runner``: ``run_job`` (claim the lease, run, record), the in-app ``Scheduler`` started by the
  app's lifespan, and ``JobContext``, what a job's ``run`` receives.
* ``routes``: the staff page listing the jobs and their last runs.

See docs/architecture.md ("Scheduler") for the contract.
"""
