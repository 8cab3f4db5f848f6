"""Schoology (PowerSchool) emulator: **our assumption, not documented behaviour.**

Digest §5.6: no public LTI Dynamic Registration exists for Schoology (LTIAAS: "only supports manual tool
registration"). What *is* documented is the manual-configuration layout (developers.schoology.com,
app-platform/lti-apps): issuer ``https://schoology.schoology.com``; OIDC auth
``https://lti-service.svc.schoology.com/lti-service/authorize-redirect``; token
``.../lti-service/access-token``; JWKS ``.../lti-service/.well-known/jwks``; JWT client assertions only.

So this emulator is the strict spec platform (``GenericEmulator``) dressed in that layout, for the day
Schoology offers DR or for a broker profile that must not trip over it:

* issuer and configuration document on ``base_url`` (``http://127.0.0.1:<port>``, standing for
  ``schoology.schoology.com``); configuration path ``/.well-known/openid-configuration`` (**assumed**);
* the ``lti-service`` endpoints on the other loopback name (``http://localhost:<port>``, standing for
  ``lti-service.svc.schoology.com``) with the documented paths; the registration endpoint
  ``/lti-service/registration`` there is **assumed**;
* ``product_family_code`` ``schoology`` (**assumed**); answers ``200`` (as every real LMS does) with the
  request echoed, ``client_id`` and a tool-configuration ``deployment_id``; errors as RFC 7591.
"""

from __future__ import annotations

from tests.emulators.generic import GenericEmulator

LTI_SERVICE = "/lti-service"


class SchoologyEmulator(GenericEmulator):
    """Assumed Schoology DR: strict spec rules, Schoology's documented host and path layout."""

    name = "schoology"
    product_family_code = "schoology"
    configuration_path = "/.well-known/openid-configuration"
    registration_path = LTI_SERVICE + "/registration"
    registration_status = 200

    @property
    def service_base_url(self) -> str:
        return self.alt_base_url

    def service_paths(self) -> dict[str, str]:
        return {
            "authorization_endpoint": LTI_SERVICE + "/authorize-redirect",
            "token_endpoint": LTI_SERVICE + "/access-token",
            "jwks_uri": LTI_SERVICE + "/.well-known/jwks",
        }
