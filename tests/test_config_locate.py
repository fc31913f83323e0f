"""Configuration issues located in the text (R41) and the configuration written back as YAML."""

from __future__ import annotations

import importlib
from importlib import resources

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from unirouter import config
from unirouter.config import dump, locate

checks = importlib.import_module("unirouter.config.validate")

_parts = st.one_of(
    st.integers(min_value=0, max_value=10_000),
    st.text(min_size=1, max_size=12).filter(lambda s: not s.isdigit()),
)


@given(st.lists(_parts, min_size=1, max_size=6).filter(lambda loc: isinstance(loc[0], str)))
def test_a_field_path_parses_back_to_its_parts(loc: list[str | int]) -> None:
    """Every path R41's issues print (any key, quoted when it must be) reads back as its parts."""
    assert locate.parse_path(checks.field_path(loc)) == tuple(loc)


TEXT = """\
version: 1
queues:
  billing:
    kind: messaging
    overflow:
      - when: out_of_hours
        action: {transfer: general}
      - when: {waited_s: 300}
        action:
          transfer: elsewhere
  "odd name": {kind: record}
"""


@pytest.mark.parametrize(
    ("path", "line"),
    [
        ("queues.billing.kind", 4),
        ("queues.billing.overflow[0].action.transfer", 7),
        ("queues.billing.overflow[1].action.transfer", 10),
        ("queues.billing", 3),
        ("queues['odd name'].kind", 11),
        ("queues.billing.members", 3),  # missing: the mapping that lacks it
        ("queues.billing.overflow[5]", 5),
    ],
)
def test_r41_an_issue_path_is_found_at_the_line_it_was_written(path: str, line: int) -> None:
    """R41: the line of an issue's field, or of its nearest written ancestor."""
    assert locate.line_of(TEXT, path) == line


def test_text_that_does_not_parse_has_no_lines() -> None:
    """No line is guessed for a text that is not YAML or a path that is not one."""
    assert locate.line_of("a: [", "a") is None
    assert locate.line_of(TEXT, "queues..x") is None


@pytest.mark.parametrize("name", ["spec_example.yaml", "demo_scenario.yaml", "contact_centre.yaml"])
def test_the_compact_yaml_of_a_configuration_reads_back_equal(name: str) -> None:
    """The editable file leaves defaults out yet validates back to the same configuration."""
    data = yaml.safe_load(resources.files("unirouter").joinpath("examples", name).read_text())
    loaded = config.validate(data.get("config", data) if "queues" not in data else data)
    text = dump.to_yaml(loaded)
    assert config.validate(yaml.safe_load(text)) == loaded
    assert len(text) < len(yaml.safe_dump(loaded.model_dump(mode="json", warnings=False)))
