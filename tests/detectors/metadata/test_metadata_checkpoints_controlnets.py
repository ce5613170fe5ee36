"""Every checkpoint with its role, and the ControlNets, as each tool writes them (issue 21): A1111's
``Refiner``/``Hires checkpoint`` titles and sd-webui-controlnet's units, Fooocus' refiner fields,
InvokeAI's CoreMetadata refiner and ``controlnets``, ComfyUI's ControlNet-apply nodes and the UI
graph's ``models`` hashes, and our own stamp's record read back."""
from __future__ import annotations

import copy
import json

import piexif
import piexif.helper
import pytest

from support.metadata_samples import SDXL_REFINER_PROMPT, SDXL_REFINER_WORKFLOW
from support.metadata_samples import FOOOCUS, INVOKE_V5, generator, png_bytes
from support.metadata_samples import A1111_REFINER_CONTROLNET



def test_a1111_refiner_and_controlnet_units():
    """Base and refiner in order with their short hashes; each ControlNet unit with its model,
    hash, preprocessor, weight and step range (a unit without a preprocessor names none)."""
    info = generator(png_bytes({"parameters": A1111_REFINER_CONTROLNET}))
    assert info.checkpoints == [{"name": "sd_xl_base_1.0", "role": "base", "hash": "31e35c80fc"},
                                {"name": "sd_xl_refiner_1.0", "role": "refiner", "hash": "7440042bbd"}]
    assert info.controlnets == [
        {"name": "diffusers_xl_canny_full", "hash": "2b69fca4", "preprocessor": "canny", "weight": 0.9,
         "start": 0.0, "end": 0.8},
        {"name": "t2i-adapter_diffusers_xl_depth_midas", "hash": "9c183166", "weight": 0.5, "start": 0.1,
         "end": 1.0}]
    assert "ControlNet 0" not in info.extra and "Refiner" not in info.extra
    assert info.extra["Refiner switch at"] == "0.8"
    assert info.to_dict()["controlnets"][0]["name"] == "diffusers_xl_canny_full"


def test_a1111_flat_controlnet_keys_of_early_versions():
    """The first sd-webui-controlnet versions wrote flat ``ControlNet-0 Model:`` keys; a disabled unit is not listed."""
    text = ("a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512, Model: v1-5, "
            "ControlNet-0 Enabled: True, ControlNet-0 Module: openpose, ControlNet-0 Model: control_sd15_openpose "
            "[fef5e48e], ControlNet-0 Weight: 1, ControlNet-1 Enabled: False, ControlNet-1 Module: depth, "
            "ControlNet-1 Model: control_sd15_depth [fef5e48e]")
    info = generator(png_bytes({"parameters": text}))
    assert info.controlnets == [{"name": "control_sd15_openpose", "hash": "fef5e48e", "preprocessor": "openpose",
                                 "weight": 1.0}]
    assert info.checkpoints == []  # one model: ``model`` says it all, as before


def test_a1111_single_model_lists_no_checkpoints():
    """Without a refiner or hires checkpoint the A1111 reading is unchanged (no checkpoints list)."""
    from support.metadata_samples import A1111_TEXT

    info = generator(png_bytes({"parameters": A1111_TEXT}))
    assert info.checkpoints == [] and info.controlnets == []


def test_fooocus_refiner():
    """Fooocus' set_data() writes refiner_model and its hash when a refiner ran: base, then refiner."""
    data = dict(FOOOCUS, refiner_model="sd_xl_refiner_1.0", refiner_model_hash="7440042bbd", refiner_switch=0.8)
    info = generator(png_bytes({"parameters": json.dumps(data, sort_keys=True), "fooocus_scheme": "fooocus"}))
    assert info.checkpoints == [
        {"name": "juggernautXL_v8Rundiffusion.safetensors", "role": "base", "hash": "aeb7e9e689"},
        {"name": "sd_xl_refiner_1.0", "role": "refiner", "hash": "7440042bbd"}]
    assert "refiner_model" not in info.extra and info.extra["refiner_switch"] == 0.8


def test_fooocus_without_refiner_lists_no_checkpoints():
    """refiner_model "None" (the FOOOCUS fixture) is no refiner."""
    info = generator(png_bytes({"parameters": json.dumps(FOOOCUS, sort_keys=True), "fooocus_scheme": "fooocus"}))
    assert info.checkpoints == []


def test_invokeai_refiner_and_controlnets():
    """CoreMetadata (invokeai/app/invocations/metadata.py): refiner_model, controlnets with
    control_model/control_weight/begin/end_step_percent, t2iAdapters with t2i_adapter_model/weight."""
    data = copy.deepcopy(INVOKE_V5)
    data["refiner_model"] = {"key": "r1", "hash": "blake3:feed", "name": "sdxl-refiner", "base": "sdxl-refiner",
                             "type": "main"}
    data["refiner_steps"] = 10
    data["controlnets"] = [{"image": {"image_name": "a.png"}, "control_model": {
        "key": "c1", "hash": "blake3:cafe", "name": "canny-sdxl", "base": "sdxl", "type": "controlnet"},
        "control_weight": 0.75, "begin_step_percent": 0, "end_step_percent": 0.6, "control_mode": "balanced",
        "resize_mode": "just_resize"}]
    data["t2iAdapters"] = [{"image": {"image_name": "b.png"}, "t2i_adapter_model": {
        "key": "t1", "hash": "blake3:beef", "name": "t2i-depth", "base": "sdxl", "type": "t2i_adapter"},
        "weight": 0.5, "begin_step_percent": 0, "end_step_percent": 1}]
    info = generator(png_bytes({"invokeai_metadata": json.dumps(data)}))
    assert info.checkpoints == [{"name": "Deliberate v2", "role": "base", "hash": "blake3:abcdef0123"},
                                {"name": "sdxl-refiner", "role": "refiner", "hash": "blake3:feed"}]
    assert info.controlnets == [
        {"name": "canny-sdxl", "weight": 0.75, "hash": "blake3:cafe", "start": 0.0, "end": 0.6},
        {"name": "t2i-depth", "weight": 0.5, "hash": "blake3:beef", "start": 0.0, "end": 1.0}]
    assert info.extra["refiner_steps"] == 10


def _comfy_with_controlnet_and_lora():
    graph = copy.deepcopy(SDXL_REFINER_PROMPT)
    # ComfyUI's ControlNetApplyAdvanced between the base prompts and the base sampler, its control
    # image made by the Canny node from a loaded image; a LoRA on the base model.
    graph["30"] = {"class_type": "ControlNetLoader", "inputs": {"control_net_name": "controlnet-canny-sdxl.safetensors"}}
    graph["31"] = {"class_type": "LoadImage", "inputs": {"image": "pose.png", "upload": "image"}}
    graph["32"] = {"class_type": "Canny", "inputs": {"image": ["31", 0], "low_threshold": 0.4, "high_threshold": 0.8}}
    graph["33"] = {"class_type": "ControlNetApplyAdvanced", "inputs": {
        "positive": ["6", 0], "negative": ["7", 0], "control_net": ["30", 0], "image": ["32", 0],
        "strength": 0.65, "start_percent": 0.0, "end_percent": 0.75}}
    graph["34"] = {"class_type": "LoraLoader", "inputs": {"lora_name": "add-detail-xl.safetensors",
                                                          "strength_model": 0.8, "strength_clip": 1.0,
                                                          "model": ["4", 0], "clip": ["4", 1]}}
    graph["10"]["inputs"].update(positive=["33", 0], negative=["33", 1], model=["34", 0])
    workflow = copy.deepcopy(SDXL_REFINER_WORKFLOW)
    workflow["models"] += [
        {"name": "add-detail-xl.safetensors", "hash": "ab" * 32, "hash_type": "SHA256", "directory": "loras"},
        {"name": "controlnet-canny-sdxl.safetensors", "hash": "cd" * 32, "hash_type": "SHA256",
         "directory": "controlnet"}]
    return graph, workflow


def test_comfyui_controlnet_apply_and_model_hashes():
    """The ControlNet applied to the base sampler's conditioning, with its strength, step range,
    preprocessor and the hash the UI graph's models list gives; the LoRA gets its hash there too."""
    graph, workflow = _comfy_with_controlnet_and_lora()
    info = generator(png_bytes({"prompt": json.dumps(graph), "workflow": json.dumps(workflow)}))
    assert info.controlnets == [{"name": "controlnet-canny-sdxl.safetensors", "weight": 0.65, "start": 0.0,
                                 "end": 0.75, "hash": "cd" * 32, "preprocessor": "Canny"}]
    assert [(lo.name, lo.weight, lo.hash) for lo in info.loras] == [("add-detail-xl.safetensors", 0.8, "ab" * 32)]
    # the prompts are still found through the ControlNet node
    assert info.prompt == SDXL_REFINER_PROMPT["6"]["inputs"]["text"]
    assert [c["role"] for c in info.checkpoints] == ["base", "refiner"]


@pytest.mark.parametrize("record,expected", [
    pytest.param({"sampler": "euler", "scheduler": "karras"}, ("euler", "karras"), id="sampler-and-schedule"),
    pytest.param({"scheduler": "EulerDiscreteScheduler"}, ("EulerDiscreteScheduler", None), id="older-record"),
])
def test_own_stamp_reads_sampler_checkpoints_and_controlnets(record, expected):
    """Our record in EXIF UserComment: a sampler apart from the schedule (older records named
    only the scheduler), and the checkpoints and ControlNets lists."""
    record = dict(record, model="base.safetensors",
                  checkpoints=[{"name": "base.safetensors", "role": "base", "hash": "ef" * 32},
                               {"name": "refiner.safetensors", "role": "refiner", "short_hash": "7440042bbd"}],
                  controlnets=[{"name": "cn-canny", "weight": 0.5, "preprocessor": "canny"}])
    comment = json.dumps({"content_id": "0123456789abcdef", "generation": record})
    exif = piexif.dump({"Exif": {piexif.ExifIFD.UserComment: piexif.helper.UserComment.dump(comment,
                                                                                            encoding="unicode")}})
    from PIL import Image
    import io
    from support.metadata_samples import random_pixels

    buf = io.BytesIO()
    Image.fromarray(random_pixels()).save(buf, "PNG", exif=exif)
    info = generator(buf.getvalue())
    assert info.tool == "provenance" and (info.sampler, info.scheduler) == expected
    assert info.checkpoints == [{"name": "base.safetensors", "role": "base", "hash": "ef" * 32},
                                {"name": "refiner.safetensors", "role": "refiner", "hash": "7440042bbd"}]
    assert info.controlnets == [{"name": "cn-canny", "weight": 0.5, "preprocessor": "canny"}]
