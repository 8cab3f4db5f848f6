"""Registration refusals: each carries the HTTP status, what went wrong and what to do next.

The class name is stored as the failed attempt's `error_code`; the `reference` is the attempt's id. A platform
profile may know better than the generic next step (see profiles/*.explain_refusal) and passes its own.
"""

from __future__ import annotations

from broker.refusals import Refusal


class RegistrationError(Refusal):
    status_code = 400
    title = "The registration could not start"
    next_step = "Start the registration again from your LMS."


class UnknownTenantError(RegistrationError):
    status_code = 404
    title = "No such tool"
    next_step = "Check the registration URL with the tool's vendor; it may have been mistyped."


class TenantSuspendedError(RegistrationError):
    status_code = 403
    title = "This tool is suspended"
    next_step = "The tool cannot be registered for now; ask the tool's vendor when it will be back."


class InitiationError(RegistrationError):
    title = "The registration request is incomplete"
    next_step = (
        "Start the registration from your LMS's tool registration page, which adds the "
        "openid_configuration parameter for you."
    )


class PlatformConfigurationRejected(RegistrationError):
    title = "The platform's configuration cannot be used"
    next_step = "Ask your LMS administrator or vendor to correct the named field, then start again."


class PlatformRefusedError(RegistrationError):
    status_code = 502
    title = "The platform refused the registration"
    next_step = (
        "Registration tokens work once and expire; start the registration again from your LMS. "
        "If the platform's message names a field, send it to the tool's vendor."
    )


class RegistrationTokenRejectedError(PlatformRefusedError):
    title = "Your LMS no longer accepts this registration"
    next_step = (
        "Registration links work once and expire, usually after an hour. "
        "Start the registration again from your LMS."
    )


class ToolConfigurationInvalidError(RegistrationError):
    title = "This tool is not configured correctly"
    next_step = "Nothing was sent to your platform. Send the reference below to the tool's vendor."


class RequestNotSentError(RegistrationError):
    title = "This tool's registration does not fit your platform"
    next_step = (
        "Nothing was sent to your platform, so it has nothing to undo. Send the reference below to the "
        "tool's vendor, who can adjust the tool's configuration for your platform."
    )


class PlatformUnavailableError(RegistrationError):
    status_code = 502
    title = "The platform answered badly"
    next_step = "Check that your LMS is reachable, then start the registration again from it."


class AnswerUnusableError(RegistrationError):
    status_code = 502
    title = "The platform accepted the registration, but its answer cannot be used"
    next_step = (
        "Your LMS may now list this tool without a working registration: remove it there, then send the "
        "reference below to the tool's vendor. The platform's answer is kept in our records."
    )


class PlatformTimeoutError(RegistrationError):
    status_code = 504
    title = "The platform did not answer in time"
    next_step = "Your LMS may be busy; start the registration again from it in a minute."


class ReviewExpiredError(RegistrationError):
    title = "This registration form has expired"
    next_step = "Start the registration again from your LMS; the form is valid for 30 minutes."


class AlreadySubmittedError(RegistrationError):
    status_code = 409
    title = "This registration was already submitted"
    next_step = "Wait a moment and check your LMS's tool list; start again from the LMS if the tool is missing."


class StorageFailedError(RegistrationError):
    status_code = 503
    title = "The platform accepted the registration, but we could not save it"
    next_step = (
        "Do not register again: send the reference below to the tool's vendor, who can recover the "
        "registration from our records."
    )


class RegistrationConflictError(RegistrationError):
    status_code = 409
    title = "Your LMS updated another tool instead of adding this one"
    next_step = (
        "Nothing was saved for this tool, and the other tool's registration at the broker is unchanged, but "
        "your LMS now holds this tool's settings under the other tool's entry. In your LMS's tool list, restore "
        "that tool (register it again from its own registration URL), then register this tool as a new tool: "
        "when the LMS offers to update an existing tool on the same domain, choose to add a new one."
    )
