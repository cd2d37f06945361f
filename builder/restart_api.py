"""``POST /api/runs/{id}/restart``: run again from a chosen step, reusing what ended before it
(builder/restart.py). Mounted on ``api``: its authentication (session with CSRF, or a token)
and its rules hold; another user's run is a 404, as a missing one."""

from __future__ import annotations

from ninja import Field, Path, Router, Schema

from .restart import MAX_PATH, restart_run
from .schemas import MAX_INT, NO_NUL, ErrorsOut, RunOut

router = Router(tags=["runs"])
ERRORS = {400: ErrorsOut, 401: ErrorsOut, 403: ErrorsOut, 404: ErrorsOut, 409: ErrorsOut, 413: ErrorsOut,
          422: ErrorsOut}
RUN_ID = Path(..., ge=1, le=MAX_INT)


class RestartIn(Schema):
    from_step: str = Field(..., min_length=1, max_length=MAX_PATH, pattern=NO_NUL,
                           description="the step to run again from, as the monitor names it: load.parse, "
                                       "per_file[3].download (that item), per_file.download (every item)")


class RestartedOut(RunOut):
    resume: dict = Field(description="as a resume's answer: version, from_version, to_version, reused and dropped "
                                     "step paths, and from_step")


@router.post("/{int:run_id}/restart", response={201: RestartedOut, **ERRORS})
async def restart(request, body: RestartIn, run_id: int = RUN_ID):
    """Restart a run that has ended from one of its steps: a new run of the same version and
    inputs that reuses every completed step that ends before the chosen one starts, and runs
    the chosen step and everything after it (and beside it) again."""
    from .api import started_from  # api mounts this router

    return await started_from(request, run_id, lambda old, user: restart_run(old, user, body.from_step))
