"""The configuration reference (``python -m sanicms settings``) is made from the fields."""


def test_the_configuration_reference_is_the_settings_fields():
    from pathlib import Path

    from sanicms.config import reference

    page = (Path(__file__).resolve().parents[4] / "docs" / "configuration.md").read_text()
    start = page.index("<!-- settings: generated")
    block = page[page.index("\n", start) + 1:page.index("<!-- end of settings -->")]
    assert block.strip() == reference().strip(), "run: python -m sanicms settings, and paste it into the page"
