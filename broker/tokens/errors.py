"""Service token refusals: a token request that cannot be answered with a token. The API answers them as problem
details JSON; the registration page's Verify button shows them with its own next steps.
"""

from __future__ import annotations

from broker.refusals import Refusal


class TokenRefused(Refusal):
    title = "The token request was refused"


class BadScopes(TokenRefused):
    title = "Bad scopes"


class VerifyFormExpired(TokenRefused):
    title = "This page has expired"


class RegistrationNotFound(TokenRefused):
    status_code = 404
    title = "Not found"


class RegistrationDisabled(TokenRefused):
    status_code = 409
    title = "Registration disabled"


class NoTokenEndpoint(TokenRefused):
    status_code = 409
    title = "No token endpoint"


class NoSigningKey(TokenRefused):
    status_code = 409
    title = "No signing key"


class NothingToVerify(TokenRefused):
    status_code = 409
    title = "Nothing to verify with a service token"


class ScopesRefused(TokenRefused):
    status_code = 403
    title = "The platform refused these scopes"


class GrantRefused(TokenRefused):
    status_code = 502
    title = "The platform refused the token request"


class TokenEndpointFailed(TokenRefused):
    status_code = 502
    title = "The platform's token endpoint failed"


class TokenEndpointTimeout(TokenRefused):
    status_code = 504
    title = "The platform did not answer in time"
