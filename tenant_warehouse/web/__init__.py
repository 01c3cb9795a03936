"""`warehouse serve`: the tenant dashboard (Starlette + Jinja2 + plotly, served offline).

A tenant logs in and sees its own numbers, read through the one tenant door
(`tenant_warehouse.tenants.access.tenant_reader`); an operator sees the global marts. The tenant
of every query comes from the server-side session, never from the browser.
"""
