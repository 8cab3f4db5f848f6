"""LTI 1.3 launch protocol: login initiation, id_token and message checks, relay and Deep Linking tokens."""
