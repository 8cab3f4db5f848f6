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
