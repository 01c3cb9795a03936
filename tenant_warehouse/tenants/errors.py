"""Errors of the tenant side; the `warehouse tenants` commands print them on one line, exit 2."""

from __future__ import annotations


class TenantError(ValueError):
    """A user mistake: unknown tenant or relation, bad tenant id, invalid tenants.yml or catalog.
    The message names the tenant/file/key/relation and the cause."""


class TenantAccessError(RuntimeError):
    """The warehouse could not be put in the declared state (roles, views, policies): a tenant
    without access is a visible failure, so this always fails the build step loudly."""
