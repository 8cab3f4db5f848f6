"""Schoology (PowerSchool): no Dynamic Registration is documented; this profile is the strict spec with a name.

Facts (docs/platforms.md, Schoology): Schoology documents manual LTI 1.3 set-up only (issuer
`https://schoology.schoology.com`, services on `lti-service.svc.schoology.com`, JWT client assertions). The
profile exists so a future Schoology document is recognised (its `product_family_code` is assumed to be
`schoology`) and held to the spec's rules, with no guessed adaptations.
"""

from __future__ import annotations

from dataclasses import replace

from broker.registration.profiles import generic

PROFILE = replace(
    generic.PROFILE,
    name="schoology",
    title="Schoology",
    product_family_codes=frozenset({"schoology"}),
)
