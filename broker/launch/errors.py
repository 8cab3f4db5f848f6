"""Launch refusals: each says what was wrong with a login, a launch or a Deep Linking answer, and what to do."""

from __future__ import annotations

from broker.refusals import Refusal


class LaunchRefused(Refusal):
    """A login or launch the broker refuses; the route shows it to the person as a page, never with a token.

    Platform values in `detail` are escaped by the page; the status is always 4xx: a launch failure is never a
    half-finished success.
    """

    status_code = 400
    title = "The launch could not be completed"
    next_step = "Go back to your course and open the tool again."


class UnknownTool(LaunchRefused):
    status_code = 404
    title = "No such tool"
    next_step = "Check the tool's launch URL with its vendor; it may have been mistyped."


class ToolSuspended(LaunchRefused):
    status_code = 403
    title = "This tool is suspended"
    next_step = "The tool cannot be opened for now; ask the tool's vendor when it will be back."


class ToolNotReady(LaunchRefused):
    status_code = 409
    title = "This tool is not ready for launches"
    next_step = "Tell the tool's vendor: their tool has no launch URL set at the broker."


class BadLoginRequest(LaunchRefused):
    title = "The launch request is incomplete"
    next_step = "Open the tool again from your course; if it keeps failing, tell your LMS administrator."


class UnknownPlatform(LaunchRefused):
    title = "This LMS is not registered with the tool"
    next_step = (
        "An LMS administrator registers the tool first (Dynamic Registration, with the tool's registration "
        "URL); then open it again from your course."
    )


class RegistrationOfAnotherTool(LaunchRefused):
    status_code = 409
    title = "This LMS sent another tool's launch here"
    next_step = (
        "An LMS administrator should open this tool's entry in the LMS's tool list: it was most likely "
        "overwritten when another tool was registered on the same domain. Register the original tool again "
        "from its own registration URL, then open it again from your course."
    )


class RegistrationNotActive(LaunchRefused):
    status_code = 403
    title = "The tool is not active for this LMS yet"
    next_step = "The tool's vendor activates new institutions; ask them, or your LMS administrator, about it."


class LaunchStateRefused(LaunchRefused):
    title = "This launch has expired or was already used"
    next_step = "Open the tool again from your course; each launch link works once, for a few minutes."


class IdTokenRefused(LaunchRefused):
    title = "The LMS's launch message could not be trusted"
    next_step = "Open the tool again; if it keeps failing, send this page to your LMS administrator."


class DeploymentRefused(LaunchRefused):
    status_code = 403
    title = "This placement of the tool is not approved"
    next_step = "Ask the tool's vendor to approve this deployment of the tool, then open it again."


class PlatformKeysUnavailable(LaunchRefused):
    # 424: the request was fine, but a document it depends on (the platform's keys) could not be had.
    status_code = 424
    title = "The LMS's signing keys could not be fetched"
    next_step = "Try again in a minute; if it keeps failing, tell your LMS administrator its key set is unreachable."


class PlatformSentError(LaunchRefused):
    title = "Your LMS did not complete the launch"
    next_step = "Sign in to your LMS again and open the tool from your course."


class DeepLinkingRefused(Refusal):
    """The tool's Deep Linking answer cannot be signed; `detail` names the field and the rule (problem JSON)."""

    title = "Deep Linking response refused"
