"""Platform profiles: what each LMS needs beyond the letter of LTI-DR 1.0, one small module per platform.

A profile is chosen by the configuration host for the platforms that have a fixed one (Blackboard's
Developer Portal), else by the document's `product_family_code`; any other platform gets the 1EdTech-strict
generic profile (see `selection.py`). Adding a platform is adding a module here, listing it in `selection.py`
(and an emulator and fixture to test it).
"""
