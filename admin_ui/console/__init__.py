"""The tenant console (`/console/`): a signed-in vendor account sees and runs only the tenants it belongs to."""

from __future__ import annotations

from starlette.routing import Route

from admin_ui.console import audit, credentials, overview, registrations, tool, webhooks

routes = [
    Route("/console/", overview.index, methods=["GET"], name="console"),
    Route("/console/{slug}/", overview.overview, methods=["GET"], name="console_overview"),
    Route("/console/{slug}/hostname", overview.set_hostname, methods=["POST"]),
    Route("/console/{slug}/members", overview.members, methods=["GET", "POST"], name="console_members"),
    Route("/console/{slug}/registrations", registrations.registrations, methods=["GET"]),
    Route("/console/{slug}/registrations/{id}", registrations.registration, methods=["GET"]),
    Route("/console/{slug}/registrations/{id}/verify", registrations.verify, methods=["POST"]),
    Route("/console/{slug}/registrations/{id}/{action:str}", registrations.change, methods=["POST"]),
    Route("/console/{slug}/attempts", registrations.attempts, methods=["GET"]),
    Route("/console/{slug}/attempts/{id}", registrations.attempt, methods=["GET"]),
    Route("/console/{slug}/webhooks", webhooks.webhooks, methods=["GET"]),
    Route("/console/{slug}/webhooks", webhooks.set_url, methods=["POST"]),
    Route("/console/{slug}/webhooks/rotate-secret", webhooks.rotate_secret, methods=["POST"]),
    Route("/console/{slug}/events/{event_id}/replay", webhooks.replay, methods=["POST"]),
    Route("/console/{slug}/api-keys", credentials.api_keys, methods=["GET"]),
    Route("/console/{slug}/api-keys", credentials.create_api_key, methods=["POST"]),
    Route("/console/{slug}/api-keys/{id}/revoke", credentials.revoke_api_key, methods=["POST"]),
    Route("/console/{slug}/signing-keys", credentials.signing_keys, methods=["GET"]),
    Route("/console/{slug}/signing-keys/rotate", credentials.rotate_signing_key, methods=["POST"]),
    Route("/console/{slug}/audit", audit.audit_log, methods=["GET"]),
    Route("/console/{slug}/tool", tool.tool, methods=["GET"]),
    Route("/console/{slug}/tool", tool.save_tool, methods=["POST"]),
]
