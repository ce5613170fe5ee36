"""The generation record: parsing --params, keeping unknown fields, refusing wrong types."""
from __future__ import annotations

import json

import pytest

from provenance import GenerationRecord, ParamsError
from provenance._record import a1111_parameters


def test_from_json_file_keeps_unknown_fields(tmp_path):
    """Known fields are typed; unknown ones are kept under extra, never dropped."""
    p = tmp_path / "params.json"
    p.write_text(json.dumps({"prompt": "x", "steps": "30", "seed": 7, "cfg_rescale": 0.7,
                             "loras": ["detail:0.5", {"name": "film", "weight": 1}]}))
    rec = GenerationRecord.from_json_file(p)
    assert rec.steps == 30 and rec.seed == 7
    assert rec.extra == {"cfg_rescale": 0.7}
    assert [(lo.name, lo.weight) for lo in rec.loras] == [("detail", 0.5), ("film", 1.0)]
    assert "width" not in rec.to_dict()


@pytest.mark.parametrize("content,match", [
    pytest.param("{not json", "not valid JSON", id="syntax"),
    pytest.param("[1, 2]", "JSON object", id="array"),
    pytest.param('{"steps": "many"}', "steps: expected a number", id="steps"),
    pytest.param('{"seed": 1.5}', "seed: expected a number", id="float-seed"),
    pytest.param('{"source": "cloud"}', "source: expected one of local, api", id="source"),
    pytest.param('{"loras": [{"weight": 1}]}', "needs a name", id="lora"),
])
def test_bad_params_are_clear_errors(tmp_path, content, match):
    """Malformed --params files name the problem."""
    p = tmp_path / "params.json"
    p.write_text(content)
    with pytest.raises(ParamsError, match=match):
        GenerationRecord.from_json_file(p)


def test_flags_override_params():
    """merged() applies non-None overrides only."""
    rec = GenerationRecord(model="a", seed=1).merged(model="b", seed=None)
    assert rec.model == "b" and rec.seed == 1


def test_a1111_parameters_minimal():
    """A record with only a model still renders valid A1111 text."""
    assert a1111_parameters(GenerationRecord(model="m")) == "\nModel: m"
