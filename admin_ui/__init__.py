"""Operator and tenant-admin pages. None yet: tenants are run with the `broker` CLI and the /api/v1 API."""
