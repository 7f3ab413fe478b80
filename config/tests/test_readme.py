"""The README's configuration table must name every variable the settings read."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_environment_variable_is_documented():
    settings_source = (ROOT / "config" / "settings.py").read_text()
    names = set(re.findall(r'env\.\w+\(\s*"([A-Z][A-Z0-9_]+)"', settings_source))
    names |= set(re.findall(r'_required_in_production\(\s*"([A-Z][A-Z0-9_]+)"', settings_source))
    names |= set(re.findall(r'_rate\(\s*"([A-Z][A-Z0-9_]+)"', settings_source))  # rate limits
    readme = (ROOT / "README.md").read_text()

    assert len(names) > 20
    missing = sorted(name for name in names if f"`{name}`" not in readme)
    assert missing == []


def test_readme_shows_the_two_commands():
    readme = (ROOT / "README.md").read_text()

    assert "make run" in readme
    assert "make test" in readme


def test_the_docs_stand_alone():
    """README, ARCHITECTURE and CONTRIBUTING link only to files in the repository."""
    root = Path(__file__).resolve().parents[2]
    for name in ("README.md", "ARCHITECTURE.md", "CONTRIBUTING.md"):
        text = (root / name).read_text()
        # A path out of the repository ("../shared/..."), not an elision ("POST .../refunds/").
        assert not re.search(r"(?<![.])\.\./", text), name
        # Nor a file of this machine by its absolute path (the conventions once lived in
        # /work/shared/, which exists here and nowhere else).
        assert not re.search(r"(?<![\w.:/])/(?:work|home|tmp|Users|root)/", text), name
        for target in re.findall(r"\]\(([^)#]+)\)", text):
            if not target.startswith(("http://", "https://", "mailto:")):
                path = (root / target).resolve()
                assert path.is_relative_to(root), f"{name} links out of the repository: {target}"
                assert path.exists(), f"{name} links to a missing {target}"
