import base64
import hashlib
import re
from html.parser import HTMLParser

import pytest

from broker.autopost import CSP, auto_post_form, content_security_policy
from broker.inline_scripts import AUTO_POST
from broker.pages import render_document

HOSTILE = '"><script>alert(1)</script>'


class FormReader(HTMLParser):
    """Reads the page the way a browser's parser would: the tags it sees and the form it would post."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        values = dict(attrs)
        if tag == "form":
            self.action = values["action"]
        if tag == "input":
            self.fields[values["name"] or ""] = values["value"] or ""
        self._in_title = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


def read(page: str) -> FormReader:
    reader = FormReader()
    reader.feed(page)
    return reader


def test_form_posts_every_field_to_the_action():
    page = auto_post_form(
        "https://tool.example.com/launch?x=1&y=2", {"launch_token": "a.b.c"}, title="Launching"
    )
    form = read(page)
    assert form.action == "https://tool.example.com/launch?x=1&y=2"
    assert form.fields == {"launch_token": "a.b.c"}
    assert 'method="post"' in page


def test_hostile_values_stay_inert_text():
    page = auto_post_form(
        "https://lms.example.edu/return?q=" + HOSTILE.replace(" ", "%20"),
        {"JWT": HOSTILE, HOSTILE: "x"},
        title=HOSTILE,
    )
    form = read(page)
    assert form.tags.count("script") == 1
    assert form.fields == {"JWT": HOSTILE, HOSTILE: "x"}
    assert form.title == HOSTILE
    assert HOSTILE not in page


def test_page_submits_itself_and_has_a_button_without_script():
    form = read(auto_post_form("https://tool.example.com/", {}, title="Go"))
    assert "button" in form.tags
    assert form.tags.count("script") == 1


def test_script_hash_matches_the_inline_script():
    page = auto_post_form("https://tool.example.com/", {"a": "b"}, title="Go")
    script = re.search(r"<script>(.*?)</script>", page, re.DOTALL)
    assert script is not None
    digest = base64.b64encode(hashlib.sha256(script.group(1).encode()).digest()).decode()
    assert f"'sha256-{digest}'" == AUTO_POST.csp_hash
    assert f"script-src {AUTO_POST.csp_hash}" in CSP


def test_page_loads_nothing_from_elsewhere():
    page = auto_post_form("https://tool.example.com/", {"a": "b"}, title="Go")
    assert not re.search(r"\b(src|href)=", page)


@pytest.mark.parametrize(
    "action",
    ["javascript:alert(1)", " JavaScript:alert(1)", "data:text/html,hi", "/relative", "https:nohost"],
)
def test_only_absolute_http_urls_can_be_the_action(action):
    with pytest.raises(ValueError, match="http"):
        auto_post_form(action, {"a": "b"}, title="Go")


def test_the_page_policy_lets_the_form_go_only_to_the_action_origin() -> None:
    policy = content_security_policy("https://tool.example:8443/launch?x=1", frame_ancestors="https:")
    assert policy.startswith(CSP)
    assert "form-action https://tool.example:8443;" in policy
    assert policy.endswith("frame-ancestors https:")


@pytest.mark.parametrize(
    ("action", "fields", "title"),
    [
        ("https://tool.example.com/launch?x=1&y=2", {"launch_token": "a.b.c"}, "Opening Quiz <Tool>…"),
        ("https://lms.example.edu/r?q=" + HOSTILE, {"JWT": HOSTILE, HOSTILE: "&'\"", "empty": ""}, HOSTILE),
        ("https://tool.example.com/", {}, ""),
    ],
)
def test_the_page_is_its_template_rendered_for_every_call(action: str, fields: dict[str, str], title: str) -> None:
    """The page is filled in from its template rendered once per action, title and field names: each call's
    values, never an earlier call's, escaped as the template escapes them."""
    for round_ in range(3):
        values = {name: f"{value}{round_}" for name, value in fields.items()}
        expected = render_document(
            "auto_post.html", {"title": title, "action": action, "fields": values, "script": AUTO_POST}
        )
        assert auto_post_form(action, values, title=title) == expected
