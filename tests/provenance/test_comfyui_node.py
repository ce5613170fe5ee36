"""The ComfyUI node "Save Image (Content Credentials)", loaded as ComfyUI loads a custom node
(importlib of the folder's ``__init__.py`` under the folder's name) and called as ComfyUI calls an
output node: an IMAGE tensor (batch x height x width x channels, float32 in 0..1) with the hidden
``prompt`` (API graph) and ``extra_pnginfo`` (``{"workflow": UI graph}``). ComfyUI itself is not
installed here: its ``folder_paths`` is absent, so the node's own path rule and an output folder
passed to the constructor stand in for it."""
from __future__ import annotations

import copy
import importlib.util
import json
import sys

import numpy as np
import pytest

from support.read_back import read_metadata
from support import REPO, natural_image
from provenance import Registry, VerifyOptions, verify_file
from support.metadata_samples import BASE, POSITIVE, REFINER, SDXL_REFINER_PROMPT, SDXL_REFINER_WORKFLOW

torch = pytest.importorskip("torch")

NODE_DIR = REPO / "integrations" / "comfyui" / "provenance_save"


@pytest.fixture(scope="module")
def node_module():
    """Import the node exactly as ComfyUI's nodes.load_custom_node does."""
    name = NODE_DIR.name
    spec = importlib.util.spec_from_file_location(name, NODE_DIR / "__init__.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(name, None)


def _graphs():
    """ComfyUI_examples' SDXL base + refiner workflow, with this node in Save Image's place."""
    prompt = copy.deepcopy(SDXL_REFINER_PROMPT)
    prompt["19"] = {"class_type": "ProvenanceSaveImage", "inputs": {"filename_prefix": "sdxl/refined",
                                                                   "images": ["17", 0]}}
    workflow = copy.deepcopy(SDXL_REFINER_WORKFLOW)
    for node in workflow["nodes"]:
        if node["type"] == "SaveImage":
            node["type"] = "ProvenanceSaveImage"
            node["widgets_values"] = ["sdxl/refined"]
    return prompt, workflow


def _images(n: int, size: int = 256):
    batch = np.stack([natural_image(size, size, seed=s) for s in range(n)]).astype(np.float32) / 255.0
    return torch.from_numpy(batch)


def test_node_declares_what_comfyui_reads(node_module):
    """The mappings, INPUT_TYPES with the hidden prompt/extra_pnginfo, an output node returning nothing,
    and no ComfyUI, torch or provenance import when ComfyUI loads it."""
    cls = node_module.NODE_CLASS_MAPPINGS["ProvenanceSaveImage"]
    assert node_module.NODE_DISPLAY_NAME_MAPPINGS["ProvenanceSaveImage"] == "Save Image (Content Credentials)"
    types = cls.INPUT_TYPES()
    assert types["required"]["images"][0] == "IMAGE" and types["required"]["filename_prefix"][0] == "STRING"
    assert types["hidden"] == {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}
    assert cls.RETURN_TYPES == () and cls.OUTPUT_NODE is True and callable(getattr(cls, cls.FUNCTION))
    assert isinstance(cls.CATEGORY, str)
    source = (NODE_DIR / "__init__.py").read_text()
    top_level = [line for line in source.splitlines() if line.startswith(("import ", "from "))]
    assert all(not any(m in line for m in ("folder_paths", "torch", "provenance", "comfy")) for line in top_level)


def test_node_writes_verified_images_holding_the_workflows_checkpoints_and_seed(node_module, tmp_path, identity):
    """A batch of two: named and numbered as Save Image names them, the ui result shaped as
    ComfyUI expects, the workflow embedded byte for byte as SaveImage embeds it, each file
    trusted with our watermark, its manifest naming both checkpoints (base, refiner) and the
    base sampler's seed, and recorded in the registry."""
    prompt, workflow = _graphs()
    node = node_module.ProvenanceSaveImage(output_dir=str(tmp_path / "output"))
    result = node.save_images(images=_images(2), filename_prefix="sdxl/refined", prompt=prompt,
                              extra_pnginfo={"workflow": workflow})
    assert result == {"ui": {"images": [
        {"filename": "refined_00001_.png", "subfolder": "sdxl", "type": "output"},
        {"filename": "refined_00002_.png", "subfolder": "sdxl", "type": "output"}]}}
    with Registry() as registry:
        assert registry.count() == 2
    for item in result["ui"]["images"]:
        path = tmp_path / "output" / item["subfolder"] / item["filename"]
        data = path.read_bytes()
        text = read_metadata(data)["text"]
        assert text["prompt"] == json.dumps(prompt) and text["workflow"] == json.dumps(workflow)
        report = verify_file(path, options=VerifyOptions(trust_anchors_pem=identity.anchors_pem, forensics=False))
        assert report.c2pa.status == "trusted", report.c2pa
        assert any(w.detected and w.kind == "content-id" for w in report.watermarks)
        generation = report.c2pa.generation
        assert generation["generator"] == "ComfyUI" and generation["seed"] == 721897303308196
        assert [(c["name"], c["role"]) for c in generation["checkpoints"]] == [(BASE, "base"), (REFINER, "refiner")]
        assert generation["prompt"] == POSITIVE
        assert report.verdict.label == "ai-generated"
    # the next run continues the counter, as Save Image does
    again = node.save_images(images=_images(1), filename_prefix="sdxl/refined", prompt=prompt,
                             extra_pnginfo={"workflow": workflow})
    assert again["ui"]["images"][0]["filename"] == "refined_00003_.png"


def test_node_refuses_a_prefix_leading_outside_the_output_folder(node_module, tmp_path, identity):
    """As ComfyUI refuses it: a filename_prefix with ../ cannot write outside the output folder."""
    node = node_module.ProvenanceSaveImage(output_dir=str(tmp_path / "output"))
    with pytest.raises(ValueError, match="outside the output folder"):
        node.save_images(images=_images(1), filename_prefix="../escape", prompt=None, extra_pnginfo=None)
    assert not list(tmp_path.glob("escape*"))


@pytest.mark.shared_data
def test_node_with_a_real_comfyui_workflow(node_module, tmp_path, identity, shared_data):
    """The SDXL-Turbo example of ComfyUI_examples (in the shared data, with the prompt and workflow
    ComfyUI embedded): its checkpoint and seed come out in the manifest."""
    from PIL import Image

    path = shared_data / "generated" / "sdxl" / "comfyanonymous-ComfyUI_examples__sdturbo_sdxlturbo_example_d907bf7d.png"
    if not path.exists():
        pytest.skip("the ComfyUI example is not in this copy of the shared data")
    with Image.open(path) as img:
        prompt, workflow = json.loads(img.text["prompt"]), json.loads(img.text["workflow"])
        pixels = np.asarray(img.convert("RGB"), dtype=np.float32)[None] / 255.0
    prompt["25"] = {"class_type": "ProvenanceSaveImage", "inputs": {"filename_prefix": "turbo", "images": ["8", 0]}}
    node = node_module.ProvenanceSaveImage(output_dir=str(tmp_path))
    result = node.save_images(images=torch.from_numpy(pixels), filename_prefix="turbo", prompt=prompt,
                              extra_pnginfo={"workflow": workflow})
    out = tmp_path / result["ui"]["images"][0]["filename"]
    report = verify_file(out, options=VerifyOptions(trust_anchors_pem=identity.anchors_pem, forensics=False))
    generation = report.c2pa.generation
    assert report.c2pa.status == "trusted"
    assert generation["model"] == "sd_xl_turbo_1.0_fp16.safetensors" and generation["seed"] == 0
    assert generation["sampler"] == "euler_ancestral" and generation["steps"] == 1
