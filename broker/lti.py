"""The LTI vocabulary, spelled once: document keys, message types, claim names, service scopes and placements.

Names a single platform invents (Canvas placements, Blackboard's misspelt keys) stay with that platform's
profile in broker/registration/profiles/.
"""

from __future__ import annotations

LTI_VERSION = "1.3.0"

# ---------------------------------------------------------------- Dynamic Registration documents
PLATFORM_CONFIGURATION_KEY = "https://purl.imsglobal.org/spec/lti-platform-configuration"
TOOL_CONFIGURATION_KEY = "https://purl.imsglobal.org/spec/lti-tool-configuration"

# ---------------------------------------------------------------- message types
RESOURCE_LINK_REQUEST = "LtiResourceLinkRequest"
DEEP_LINKING_REQUEST = "LtiDeepLinkingRequest"
DEEP_LINKING_RESPONSE = "LtiDeepLinkingResponse"
SUBMISSION_REVIEW_REQUEST = "LtiSubmissionReviewRequest"
# Submission review launches open an existing resource link, so they carry one like a resource link launch.
LINK_LAUNCHES = frozenset({RESOURCE_LINK_REQUEST, SUBMISSION_REVIEW_REQUEST})
# What a platform may launch, and so what a tool may ask for when it registers.
LAUNCH_MESSAGE_TYPES = LINK_LAUNCHES | {DEEP_LINKING_REQUEST}

# ---------------------------------------------------------------- claims of a launch (id_token) and of a response
_CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
_DL_CLAIM = "https://purl.imsglobal.org/spec/lti-dl/claim/"
MESSAGE_TYPE = _CLAIM + "message_type"
VERSION = _CLAIM + "version"
DEPLOYMENT_ID = _CLAIM + "deployment_id"
TARGET_LINK_URI = _CLAIM + "target_link_uri"
RESOURCE_LINK = _CLAIM + "resource_link"
ROLES = _CLAIM + "roles"
CONTEXT = _CLAIM + "context"
DEEP_LINKING_SETTINGS = _DL_CLAIM + "deep_linking_settings"
CONTENT_ITEMS = _DL_CLAIM + "content_items"
DL_DATA = _DL_CLAIM + "data"
DL_MSG = _DL_CLAIM + "msg"
DL_ERRORMSG = _DL_CLAIM + "errormsg"

# OpenID Connect standard claims a tool may ask for; LTI claims follow from the message type.
PERSONAL_CLAIMS = frozenset({"name", "given_name", "family_name", "middle_name", "nickname", "email", "picture"})
IDENTITY_CLAIMS = PERSONAL_CLAIMS | {"iss", "sub", "locale"}

# ---------------------------------------------------------------- service scopes
AGS_LINEITEM = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
AGS_LINEITEM_READONLY = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"
AGS_RESULT_READONLY = "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"
AGS_SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
NRPS_MEMBERSHIPS = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
GROUPS_READONLY = "https://purl.imsglobal.org/spec/lti-gs/scope/contextgroup.readonly"
TOOL_SETTINGS = "https://purl.imsglobal.org/spec/lti-ts/scope/toolsetting"
NOTICE_HANDLERS = "https://purl.imsglobal.org/spec/lti/scope/noticehandlers"

# ---------------------------------------------------------------- placements the LTI-DR spec names
CONTENT_AREA = "ContentArea"
RICH_TEXT_EDITOR = "RichTextEditor"
