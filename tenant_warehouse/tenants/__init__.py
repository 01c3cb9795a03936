"""The tenant side: what tenants may see (catalog), who they are (registry, tenants.yml), how
they read it (access: the one `tenant_reader` door) and how the warehouse enforces it
(PostgreSQL roles and security_barrier views, BigQuery row access policies)."""
