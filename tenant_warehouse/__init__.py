"""tenant_warehouse: keep a warehouse in sync with multi-tenant application databases."""

__version__ = "0.1.0"
