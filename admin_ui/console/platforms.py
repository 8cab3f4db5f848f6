"""Where an LMS administrator pastes a registration URL, per LMS (sources: docs/platforms.md)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PasteHere:
    lms: str
    where: str
    note: str = ""


PASTE_HERE = (
    PasteHere("Moodle", "Site administration → Plugins → Activity modules → External tool → Manage tools: paste it "
              "into “Tool URL” and press “Add LTI Advantage”.",
              "Moodle then lists the tool as pending: the admin activates it, and adds it to courses."),
    PasteHere("Canvas", "Admin → Developer Keys → + Developer Key → + LTI Registration: paste it into the "
              "“Dynamic Registration URL” field.",
              "The new key starts off: the admin turns it on, then installs the app by its client ID."),
    PasteHere("Blackboard Learn", "Not in Learn itself: you (the vendor) paste it in the Anthology Developer Portal's "
              "“LTI Dynamic Registration”; each Learn admin then deploys the tool by its client ID (Admin → "
              "LTI Tool Providers → Register LTI 1.3/Advantage Tool)."),
    PasteHere("Brightspace", "Admin Tools → Manage Extensibility → LTI Advantage → Register Tool → Dynamic: "
              "paste it into “Tool initiation registration endpoint”.",
              "Brightspace registers the tool disabled and allows one enabled registration per domain."),
    PasteHere("Sakai", "Administration Workspace → External Tools → LTI Advantage Auto Provision: create the tool "
              "entry, then “Use LTI Advantage Auto Configuration” and paste it."),
    PasteHere("Schoology", "Schoology documents no Dynamic Registration: its admins set LTI 1.3 tools up by hand. "
              "Should it offer it, paste the URL where it asks for a registration URL."),
)  # fmt: skip
