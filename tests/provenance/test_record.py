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


def test_checkpoints_and_controlnets_round_trip():
    """The new lists type their entries, serialise without nulls and load back equal."""
    data = {"model": "base.safetensors", "sampler": "euler", "scheduler": "karras",
            "checkpoints": [{"name": "base.safetensors", "role": "base", "hash": "ab" * 32},
                            "refiner.safetensors"],
            "controlnets": [{"name": "canny", "weight": "0.5", "preprocessor": "canny", "start": 0, "end": 0.8}]}
    rec = GenerationRecord.from_dict(data)
    assert [(c.name, c.role) for c in rec.checkpoints] == [("base.safetensors", "base"), ("refiner.safetensors", "base")]
    assert rec.controlnets[0].weight == 0.5 and rec.controlnets[0].start == 0.0
    out = rec.to_dict()
    assert out["checkpoints"][1] == {"name": "refiner.safetensors", "role": "base"}
    assert out["controlnets"] == [{"name": "canny", "weight": 0.5, "preprocessor": "canny", "start": 0.0, "end": 0.8}]
    assert GenerationRecord.from_dict(json.loads(json.dumps(out))) == rec


def test_records_from_before_the_new_fields_load_unchanged():
    """A record written before checkpoints/controlnets/sampler existed loads with them empty and
    serialises exactly as it was."""
    old = {"generator": "diffusers", "model": "m", "scheduler": "EulerDiscreteScheduler", "steps": 30,
           "loras": [{"name": "film", "weight": 0.8, "hash": None}], "extra": {"strength": 0.6}}
    rec = GenerationRecord.from_dict(old)
    assert rec.checkpoints == [] and rec.controlnets == [] and rec.sampler is None
    assert rec.to_dict() == old


@pytest.mark.parametrize("content,match", [
    pytest.param('{"checkpoints": [{"role": "base"}]}', "checkpoints: each entry needs a name", id="ckpt-name"),
    pytest.param('{"checkpoints": [{"name": "a", "hash": [1]}]}', "hash of 'a' is not a string", id="ckpt-hash"),
    pytest.param('{"controlnets": [{"name": "c", "weight": "x"}]}', "weight of 'c' is not a number", id="cn-weight"),
    pytest.param('{"controlnets": [7]}', "controlnets: each entry needs a name", id="cn-type"),
])
def test_bad_checkpoint_and_controlnet_entries_are_clear_errors(tmp_path, content, match):
    """Malformed checkpoints/controlnets entries in --params name the problem."""
    p = tmp_path / "params.json"
    p.write_text(content)
    with pytest.raises(ParamsError, match=match):
        GenerationRecord.from_json_file(p)


def test_a1111_parameters_with_refiner_and_controlnets_parse_back():
    """The A1111 text we write for a record with a refiner, a ControlNet and a sampler apart from
    its schedule reads back, with A1111's own syntax, to the same settings."""
    from detectors.metadata._a1111 import a1111_info

    rec = GenerationRecord.from_dict({
        "prompt": "a fox", "negative_prompt": "blurry", "sampler": "DPM++ 2M", "scheduler": "Karras", "steps": 30,
        "guidance": 7.0, "seed": 42, "width": 1024, "height": 1024, "model": "sd_xl_base_1.0",
        "model_hash": "31e35c80fc" + "0" * 54,
        "checkpoints": [{"name": "sd_xl_base_1.0", "role": "base"},
                        {"name": "sd_xl_refiner_1.0", "role": "refiner", "short_hash": "7440042bbd"}],
        "controlnets": [{"name": "diffusers_xl_canny_full", "hash": "2b69fca4", "preprocessor": "canny",
                         "weight": 0.9, "start": 0.0, "end": 0.8}],
        "loras": [{"name": "detail", "weight": 0.5, "short_hash": "5b0e4a9b4d29"}],
    })
    text = a1111_parameters(rec)
    info = a1111_info(text, where="png:parameters")
    assert (info.sampler, info.scheduler, info.steps, info.seed, info.model_hash) == ("DPM++ 2M", "Karras", 30, 42,
                                                                                   "31e35c80fc")
    assert [(c["name"], c["role"]) for c in info.checkpoints] == [("sd_xl_base_1.0", "base"),
                                                                   ("sd_xl_refiner_1.0", "refiner")]
    assert info.checkpoints[1]["hash"] == "7440042bbd"
    assert info.controlnets == [{"name": "diffusers_xl_canny_full", "hash": "2b69fca4", "preprocessor": "canny",
                                 "weight": 0.9, "start": 0.0, "end": 0.8}]
    assert [(lo.name, lo.weight, lo.hash) for lo in info.loras] == [("detail", 0.5, "5b0e4a9b4d29")]


def test_a1111_prompt_keeps_its_own_lora_tags_once():
    """A prompt that already holds a LoRA's tag (read from A1111's own text) does not get it twice."""
    rec = GenerationRecord.from_dict({"prompt": "a cat <lora:detail:0.5>", "loras": [{"name": "detail", "weight": 0.5}]})
    assert a1111_parameters(rec).splitlines()[0] == "a cat <lora:detail:0.5>"
