"""Who is calling: the master key, a virtual key, a JWT identity, or anyone (open mode), with
the role and model list that decide what they may do."""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from pllm.errors import PermissionDenied

__all__ = ["ROLES", "Principal"]

ROLES = ("user", "viewer", "admin")


@dataclass(frozen=True, slots=True)
class Principal:
    kind: str  # "master" | "key" | "jwt" | "open"
    role: str
    key_id: str | None = None
    key_name: str | None = None
    user_id: str | None = None
    team_id: str | None = None
    models: tuple[str, ...] | None = None
    """Model names (or fnmatch patterns such as `gpt-4o*`) this caller may use; None = all."""
    rpm: int | None = None
    tpm: int | None = None
    key_budget: str | None = None
    """The budget a key's spend counts against (a rotated key's moved to its successor)."""

    @property
    def actor(self) -> str:
        """How admin events name who acted (never a secret)."""
        if self.kind == "key":
            return f"key:{self.key_id}"
        if self.kind == "jwt":
            return f"jwt:{self.user_id}"
        return self.kind

    def allows(self, model: str) -> bool:
        models = self.models
        if models is None:
            return True
        return any(m == model or fnmatchcase(model, m) for m in models)

    def check_inference(self, model: str) -> None:
        if self.role == "viewer":
            raise PermissionDenied("This key has the viewer role: it can read admin data but "
                                   "not call models", code="insufficient_role")
        if not self.allows(model):
            raise PermissionDenied(f"This key is not allowed to use the model '{model}'",
                                   param="model", code="model_not_allowed")

    def check_read(self) -> None:
        """Read-only admin data: health, stats, keys without secrets, spend."""
        if self.role not in ("admin", "viewer"):
            raise PermissionDenied("This needs the admin or viewer role",
                                   code="insufficient_role")

    def check_write(self) -> None:
        if self.role != "admin":
            raise PermissionDenied("This needs the admin role (or the master key)",
                                   code="insufficient_role")


MASTER = Principal("master", "admin")
OPEN = Principal("open", "admin")
