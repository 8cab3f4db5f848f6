"""The admin UI: the front page, account pages, the tenant console (`/console/`), the operator console
(`/admin/`) and, outside production, the demo LMS of "try it without an LMS" (`/try`)."""
