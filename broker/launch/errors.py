"""The base error of the launch protocol: every refusal names the field or claim and the rule it broke."""


class LaunchError(Exception):
    """A launch document broke a rule; `where` is the field or claim, `reason` the rule in plain words.

    Subclasses set `subject` so the message says what kind of thing `where` names; routes catch this one
    type and render it as a 4xx page or problem-details JSON.
    """

    subject = "value"

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{self.subject} {where!r}: {reason}")
        self.where = where
        self.reason = reason


class LaunchRefused(Exception):
    """A login or launch the broker refuses; the route shows it to the person as a page, never with a token.

    `detail` says what was wrong (platform values in it are escaped by the page), `next_step` what to do;
    the status is always 4xx: a launch failure is never a half-finished success.
    """

    status_code = 400
    title = "The launch could not be completed"
    next_step = "Go back to your course and open the tool again."

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class UnknownTool(LaunchRefused):
    status_code = 404
    title = "No such tool"
    next_step = "Check the tool's launch URL with its vendor; it may have been mistyped."


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


class DeepLinkingRefused(Exception):
    """The tool's Deep Linking answer cannot be signed; `detail` names the field and the rule (problem JSON)."""

    def __init__(self, detail: str, *, status: int = 400) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status
