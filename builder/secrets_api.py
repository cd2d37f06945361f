"""``/api/secrets``: a user's own secrets (names and descriptions; values are write-only).

Sharing a secret with other users or groups is a staff task (the admin). A secret of
someone else's is a 404, exactly as a name that does not exist.
"""

from __future__ import annotations

from django.core.validators import RegexValidator
from django.shortcuts import get_object_or_404
from ninja import Path, Router, Status

from .models import Secret
from .runtime import environment_secrets, may_use_environment_secrets
from .schemas import ErrorsOut, SecretIn, SecretOut

router = Router(tags=["secrets"])
ERRORS = {400: ErrorsOut, 401: ErrorsOut, 403: ErrorsOut, 404: ErrorsOut, 413: ErrorsOut, 422: ErrorsOut}
NAME = Path(..., pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
MAX_SECRETS = 500  # a user's own


@router.get("", response={200: list[SecretOut], **ERRORS})
def list_secrets(request):
    """The secrets my runs may read: mine, those shared with me or my groups, the server's."""
    from django.db.models import Q

    user = request.user
    found: dict[str, dict] = {}
    if may_use_environment_secrets(user):
        found.update({name: {"name": name, "source": "server"} for name in environment_secrets()})
    shared = (Secret.objects.filter(Q(shared_with=user) | Q(shared_with_groups__user=user))
              .exclude(owner=user).select_related("owner").distinct().order_by("updated_at"))
    for secret in shared:
        found[secret.name] = {"name": secret.name, "description": secret.description, "source": "shared",
                              "owner": secret.owner.get_username(), "updated_at": secret.updated_at}
    for secret in Secret.objects.filter(owner=user):
        found[secret.name] = {"name": secret.name, "description": secret.description, "source": "mine",
                              "owner": user.get_username(), "updated_at": secret.updated_at}
    return [found[name] for name in sorted(found)]


@router.put("/{name}", response={200: SecretOut, 201: SecretOut, 409: ErrorsOut, **ERRORS})
def put_secret(request, body: SecretIn, name: str = NAME):
    """Create or replace one of my secrets."""
    from ninja.errors import HttpError

    RegexValidator(r"^[A-Za-z_][A-Za-z0-9_]*$")(name)
    secret = Secret.objects.filter(owner=request.user, name=name).first()
    if secret is None:
        if Secret.objects.filter(owner=request.user).count() >= MAX_SECRETS:
            raise HttpError(409, f"you have {MAX_SECRETS} secrets already: delete one first")
        secret = Secret.objects.create(owner=request.user, name=name, value=body.value, description=body.description)
        return Status(201, _out(secret))
    secret.value, secret.description = body.value, body.description
    secret.save(update_fields=["value", "description", "updated_at"])
    return _out(secret)


@router.delete("/{name}", response={204: None, **ERRORS})
def delete_secret(request, name: str = NAME):
    """Delete one of my secrets (runs that read it fail from then on)."""
    get_object_or_404(Secret, owner=request.user, name=name).delete()
    return Status(204, None)


def _out(secret: Secret) -> dict:
    return {"name": secret.name, "description": secret.description, "source": "mine",
            "owner": secret.owner.get_username(), "updated_at": secret.updated_at}
