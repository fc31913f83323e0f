"""Configuration text is read within bounds (issue 17 item 4): ``unirouter config validate`` on a
file gets the same size, depth and alias-expansion bounds as ``PUT /v1/config``."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from unirouter import cli, errors
from unirouter.config import bounded

BOMB = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [
        f"{n}: &{n} [" + ",".join([f"*{p}"] * 9) + "]"
        for p, n in zip("abcdefgh", "bcdefghi", strict=True)
    ]
)


def _validate(path: Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli.main, ["config", "validate", str(path)])
    return result.exit_code, result.stderr


def test_the_cli_refuses_an_alias_bomb_naming_the_bound(tmp_path: Path) -> None:
    """Issue 17 item 4: the 386-byte bomb is one issue naming max_nodes, at once."""
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB + "\n")
    assert len(BOMB) < 400
    code, err = _validate(path)
    assert code == 1 and "expands to more than 500000 nodes" in err and "Traceback" not in err
    assert f"{path}:6:" in err  # the first list past the bound: 9 ** 6 strings


@pytest.mark.parametrize(
    "text",
    ["version: " + "[" * 20_000 + "]" * 20_000, "agents: {a: {attributes: {x: &x [*x]}}}"],
    ids=["20,000 deep", "an alias holding itself"],
)
def test_the_cli_refuses_deep_or_recursive_yaml_with_one_sentence(
    tmp_path: Path, text: str
) -> None:
    """Issue 17 item 4: no RecursionError or hang, one issue and exit 1."""
    path = tmp_path / "deep.yaml"
    path.write_text(text + "\n")
    code, err = _validate(path)
    assert code == 1 and str(path) in err and "Traceback" not in err


def test_the_cli_refuses_a_file_over_max_bytes_without_reading_it(tmp_path: Path) -> None:
    """A file over 1 MiB is refused by its size alone."""
    path = tmp_path / "big.yaml"
    path.write_text("# " + "x" * (1024 * 1024) + "\n")
    code, err = _validate(path)
    assert code == 1 and "a configuration may have at most 1048576" in err


def test_aliases_count_where_they_are_used_but_are_composed_once() -> None:
    """The expansion bound counts each alias as the node it names (10 + 1 + 10 here)."""
    text = "a: &a [1,2,3,4,5,6,7,8,9]\nb: *a\n"
    node, data = bounded.parse_yaml(text, bounds=bounded.Bounds(max_nodes=23))
    assert data == {"a": list(range(1, 10)), "b": list(range(1, 10))} and node is not None
    with pytest.raises(errors.ConfigTooComplex) as refused:
        bounded.parse_yaml(text, bounds=bounded.Bounds(max_nodes=22))
    assert refused.value.limit_name == "max_nodes"


def test_depth_counts_the_nesting_an_alias_brings_along() -> None:
    """Two 40-deep lists, one inside the other through an alias, are 80 deep."""
    text = "a: &a " + "[" * 40 + "]" * 40 + "\nb: " + "[" * 40 + "*a" + "]" * 40 + "\n"
    bounded.parse_yaml(text, bounds=bounded.Bounds(max_depth=90))
    with pytest.raises(errors.ConfigTooComplex) as refused:
        bounded.parse_yaml(text)
    assert refused.value.limit_name == "max_depth"


def test_json_deeper_than_the_bound_is_refused_without_recursion() -> None:
    """JSON 100,000 deep, and 65 deep, name max_depth; 64 deep is read."""
    for depth in (100_000, 65):
        with pytest.raises(errors.ConfigTooComplex):
            bounded.parse_json("[" * depth + "]" * depth)
    assert bounded.parse_json("[" * 64 + "]" * 64) is not None
