"""LMS emulators for end-to-end tests: real Starlette apps served over loopback HTTP that behave like the
platform they name during LTI Dynamic Registration (each platform's facts: docs/platforms.md).

Typical use::

    with MoodleEmulator.running() as moodle:
        url = moodle.initiation_url(tenant_registration_url)   # or registration_initiation_params()
        ...drive the broker...
        assert moodle.registrations[0]["client_id"]

``serve`` / ``serve_on`` / ``bind_loopback`` serve any ASGI app (the broker too) the same way.
"""

from tests.emulators.blackboard import BlackboardEmulator
from tests.emulators.brightspace import BrightspaceEmulator
from tests.emulators.canvas import CanvasEmulator
from tests.emulators.generic import GenericEmulator
from tests.emulators.moodle import MoodleEmulator
from tests.emulators.platform import (
    REMOVE,
    PlatformEmulator,
    RecordedRequest,
    RegistrationToken,
)
from tests.emulators.sakai import SakaiEmulator
from tests.emulators.schoology import SchoologyEmulator
from tests.emulators.server import LoopbackServer, base_url_of, bind_loopback, serve, serve_on

EMULATORS: dict[str, type[PlatformEmulator]] = {
    "moodle": MoodleEmulator,
    "canvas": CanvasEmulator,
    "sakai": SakaiEmulator,
    "blackboard": BlackboardEmulator,
    "brightspace": BrightspaceEmulator,
    "generic": GenericEmulator,
    "schoology": SchoologyEmulator,
}

__all__ = [
    "EMULATORS",
    "REMOVE",
    "BlackboardEmulator",
    "BrightspaceEmulator",
    "CanvasEmulator",
    "GenericEmulator",
    "LoopbackServer",
    "MoodleEmulator",
    "PlatformEmulator",
    "RecordedRequest",
    "RegistrationToken",
    "SakaiEmulator",
    "SchoologyEmulator",
    "base_url_of",
    "bind_loopback",
    "serve",
    "serve_on",
]
