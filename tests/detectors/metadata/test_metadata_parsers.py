"""Generator-metadata parsers: each fixture is written the way the tool itself writes its files.

The writers below follow each tool's own source or documentation (cited per test), never our
parser's output: A1111's infotext and piexif UserComment, the stealth-pnginfo extension's LSB
writer, NovelAI's text chunks and nai_meta_writer.py, ComfyUI's SaveImage chunks with its default
graph, InvokeAI's three formats, Fooocus's meta_parser.py, SwarmUI's metadata doc, Easy
Diffusion's sdkit save_dicts, and Draw Things' XMP.
"""
from __future__ import annotations

import copy
import gzip
import io
import json

import numpy as np
import piexif
import piexif.helper
import pytest
from PIL import Image

from detectors.metadata import PARSERS, GeneratorInfo, read_image_metadata, register_parser
from provenance import decode_image
from support.metadata_samples import A1111_TEXT, COMFY_PROMPT, COMFY_WORKFLOW, FOOOCUS, fooocus_exif, INVOKE_V3, INVOKE_V5, random_pixels, generator, png_bytes

# --- writers -----------------------------------------------------------------------------------






def jpeg_bytes(*, exif: bytes | Image.Exif | None = None, xmp: str | None = None, fmt: str = "JPEG") -> bytes:
    buf = io.BytesIO()
    kwargs = {}
    if exif is not None:
        kwargs["exif"] = exif
    if xmp is not None:
        kwargs["xmp"] = xmp.encode()
    Image.fromarray(random_pixels()).save(buf, fmt, quality=90, **kwargs)
    return buf.getvalue()


def a1111_exif(text: str) -> bytes:
    """modules/images.py: piexif UserComment, encoding="unicode", for JPEG and WebP."""
    return piexif.dump({"Exif": {piexif.ExifIFD.UserComment: piexif.helper.UserComment.dump(text, encoding="unicode")}})




# --- AUTOMATIC1111 / Forge ---------------------------------------------------------------------
# Infotext as modules/processing.py create_infotext writes it (and parse_generation_parameters'
# docstring shows): prompt, "Negative prompt: ...", then the "Key: value" settings line.



def _check_a1111(info: GeneratorInfo, tool: str = "AUTOMATIC1111") -> None:
    assert info.tool == tool
    assert info.prompt == "masterpiece, best quality, a lighthouse at dusk <lora:detailTweaker:0.8>"
    assert info.negative_prompt == "lowres, bad anatomy"
    assert (info.steps, info.sampler, info.scheduler, info.cfg, info.seed) == (28, "DPM++ 2M", "Karras", 6.5,
                                                                             965400086)
    assert (info.width, info.height, info.model, info.model_hash) == (512, 768, "v1-5-pruned-emaonly", "6ce0161689")
    assert [(lo.name, lo.weight, lo.hash) for lo in info.loras] == [("detailTweaker", 0.8, "5b0e4a9b4d29")]
    assert info.upscaler == "R-ESRGAN 4x+"
    assert info.extra["Denoising strength"] == "0.45"


@pytest.mark.parametrize("container", [
    pytest.param("png", id="png-parameters"),
    pytest.param("jpeg", id="jpeg-usercomment"),
    pytest.param("webp", id="webp-usercomment"),
])
def test_a1111_parameters(container):
    """A1111 infotext is read from the PNG parameters chunk and the JPEG/WebP EXIF UserComment."""
    if container == "png":
        data = png_bytes({"parameters": A1111_TEXT})
    else:
        data = jpeg_bytes(exif=a1111_exif(A1111_TEXT), fmt=container.upper())
    info = generator(data)
    _check_a1111(info)
    assert info.raw == {("png:parameters" if container == "png" else "exif:UserComment"): A1111_TEXT}


def test_forge_is_told_from_its_version_string():
    """Forge writes A1111 infotext with a Version starting "f<digit>"; the tool is Forge."""
    text = A1111_TEXT.replace("Version: v1.10.1", "Version: f2.0.1v1.10.1-previous-313-g8a042934")
    info = generator(png_bytes({"parameters": text}))
    _check_a1111(info, tool="Forge")
    assert info.version == "f2.0.1v1.10.1-previous-313-g8a042934"


def test_text_without_a_settings_line_is_not_a1111():
    """A parameters chunk that is only a prompt (no Steps line) is not claimed as A1111."""
    evidence = read_image_metadata(decode_image(png_bytes({"parameters": "just a caption, nothing else"})))
    assert evidence.generator is None


# --- stealth pnginfo ---------------------------------------------------------------------------
# sd-webui-stealth-pnginfo (scripts/stealth_pnginfo.py) prepare_data/add_data: signature bits,
# 32-bit length in bits, payload bits (gzip for *comp), written for x in width: for y in height:
# into the alpha LSB, or into the R, G, B LSBs of each pixel in turn.


def stealth_png(text: str, *, mode: str, compressed: bool) -> bytes:
    signature = f"stealth_{'png' if mode == 'alpha' else 'rgb'}{'comp' if compressed else 'info'}"
    binary_signature = "".join(format(byte, "08b") for byte in signature.encode("utf-8"))
    param = gzip.compress(text.encode("utf-8")) if compressed else text.encode("utf-8")
    binary_param = "".join(format(byte, "08b") for byte in param)
    binary_data = binary_signature + format(len(binary_param), "032b") + binary_param
    image = Image.fromarray(random_pixels(96, 96, seed=5))
    if mode == "alpha":
        image.putalpha(255)
    width, height = image.size
    pixels = image.load()
    index = 0
    for x in range(width):
        for y in range(height):
            if index >= len(binary_data):
                break
            values = pixels[x, y]
            if mode == "alpha":
                r, g, b, a = values
                a = (a & ~1) | int(binary_data[index])
                index += 1
                pixels[x, y] = (r, g, b, a)
            else:
                r, g, b = values
                r = (r & ~1) | int(binary_data[index])
                if index + 1 < len(binary_data):
                    g = (g & ~1) | int(binary_data[index + 1])
                if index + 2 < len(binary_data):
                    b = (b & ~1) | int(binary_data[index + 2])
                index += 3
                pixels[x, y] = (r, g, b)
    assert index >= len(binary_data), "test image too small for the payload"
    return png_bytes(image=image)


@pytest.mark.parametrize("mode,compressed", [
    pytest.param("alpha", False, id="stealth_pnginfo"),
    pytest.param("alpha", True, id="stealth_pngcomp"),
    pytest.param("rgb", False, id="stealth_rgbinfo"),
    pytest.param("rgb", True, id="stealth_rgbcomp"),
])
def test_a1111_stealth_pnginfo(mode, compressed):
    """Infotext hidden in the pixel LSBs (all four signatures) is read when no text chunk is left."""
    info = generator(stealth_png(A1111_TEXT, mode=mode, compressed=compressed))
    _check_a1111(info)
    signature = f"stealth_{'png' if mode == 'alpha' else 'rgb'}{'comp' if compressed else 'info'}"
    assert info.raw == {f"{mode}-lsb:{signature}": A1111_TEXT}


def test_plain_image_has_no_stealth_metadata():
    """An RGBA image whose alpha is all 255 (LSBs all 1) yields no generator."""
    image = Image.fromarray(random_pixels(96, 96))
    image.putalpha(255)
    assert read_image_metadata(decode_image(png_bytes(image=image))).generator is None


# --- NovelAI -----------------------------------------------------------------------------------
# PNG text chunks as NovelAI writes them (Title, Description, Software, Source, Comment JSON; the
# values of sd-parsers' novelai1 test image), and the same keys gzipped into the alpha LSBs by
# NovelAI/novelai-image-metadata nai_meta_writer.py (LSBInjector: column-major, 0xff/0xfe alpha).

NOVELAI_UC = "lowres, bad anatomy, bad hands, text, error, missing fingers"
NOVELAI_CHUNKS = {
    "Title": "AI generated image",
    "Description": "masterpiece, best quality,  cat, space, icon",
    "Software": "NovelAI",
    "Source": "Stable Diffusion 1D44365E",
    "Comment": json.dumps({"steps": 50, "sampler": "k_euler_ancestral", "seed": 2253955223, "strength": 0.4,
                           "noise": 0.0, "scale": 10.0, "uc": NOVELAI_UC}),
}


def _check_novelai(info: GeneratorInfo) -> None:
    assert info.tool == "NovelAI" and info.source == "api"
    assert info.prompt == "masterpiece, best quality,  cat, space, icon"
    assert info.negative_prompt == NOVELAI_UC
    assert (info.model, info.model_hash) == ("Stable Diffusion", "1D44365E")
    assert (info.sampler, info.steps, info.cfg, info.seed) == ("k_euler_ancestral", 50, 10.0, 2253955223)
    assert info.extra["strength"] == 0.4


def test_novelai_text_chunks():
    """NovelAI's Software/Source/Description/Comment chunks give prompt, model and settings."""
    _check_novelai(generator(png_bytes(NOVELAI_CHUNKS)))


def nai_inject(image: Image.Image, data: dict[str, str]) -> Image.Image:
    """nai_meta_writer.inject_data with serialize_metadata's JSON + gzip (Title dropped)."""
    payload = gzip.compress(json.dumps({k: v for k, v in data.items() if k != "Title"}).encode("utf-8"))
    buffer = bytearray(b"stealth_pngcomp") + (len(payload) * 8).to_bytes(4, "big") + payload
    pixels = np.array(image.convert("RGBA"))
    bits = np.unpackbits(np.frombuffer(bytes(buffer), dtype=np.uint8))
    alpha = pixels[..., -1].T
    h, w = alpha.shape
    alpha = alpha.reshape((-1,))
    alpha[:] = 0xFF
    alpha[: bits.shape[0]] = 0xFE
    alpha[: bits.shape[0]] = np.bitwise_or(alpha[: bits.shape[0]], bits)
    pixels[..., -1] = alpha.reshape((h, w)).T
    return Image.fromarray(pixels)


def test_novelai_stealth_alpha():
    """NovelAI's gzipped JSON in the alpha LSBs is read when its text chunks were stripped."""
    image = nai_inject(Image.fromarray(random_pixels(128, 128, seed=9)), NOVELAI_CHUNKS)
    info = generator(png_bytes(image=image))
    _check_novelai(info)
    assert list(info.raw) == ["alpha-lsb:stealth_pngcomp"]


# --- ComfyUI -----------------------------------------------------------------------------------
# ComfyUI SaveImage: PngInfo text "prompt" = json.dumps(API graph) and "workflow" = json.dumps(UI
# graph). The API graph is the default workflow of script_examples/basic_api_example.py; the UI
# graph is Comfy-Org/ComfyUI_frontend src/scripts/defaultGraph.ts.


def test_comfyui_prompt_graph():
    """The API graph is walked from the KSampler to its prompts, checkpoint and latent size."""
    info = generator(png_bytes({"prompt": json.dumps(COMFY_PROMPT), "workflow": json.dumps(COMFY_WORKFLOW)}))
    assert info.tool == "ComfyUI"
    assert (info.prompt, info.negative_prompt) == ("masterpiece best quality girl", "bad hands")
    assert info.model == "v1-5-pruned-emaonly.safetensors"
    assert (info.sampler, info.scheduler, info.steps, info.cfg, info.seed) == ("euler", "normal", 20, 8.0, 8566257)
    assert (info.width, info.height) == (512, 512)
    assert set(info.raw) == {"png:prompt", "png:workflow"}


def test_comfyui_workflow_graph_alone():
    """With only the UI graph, widget values and the links table give the same settings."""
    info = generator(png_bytes({"workflow": json.dumps(COMFY_WORKFLOW)}))
    assert info.tool == "ComfyUI"
    assert info.prompt == "beautiful scenery nature glass bottle landscape, , purple galaxy bottle,"
    assert info.negative_prompt == "text, watermark"
    assert (info.model, info.model_hash) == ("v1-5-pruned-emaonly.ckpt", COMFY_WORKFLOW["models"][0]["hash"])
    assert (info.seed, info.steps, info.cfg, info.sampler, info.scheduler) == (156680208700286, 20, 8.0, "euler",
                                                                             "normal")
    assert (info.width, info.height) == (512, 512)


def test_comfyui_loras_custom_nodes_and_cycles():
    """LoRA loaders on the model path are collected; unknown custom nodes and a cycle do not stop the walk."""
    graph = copy.deepcopy(COMFY_PROMPT)
    graph["10"] = {"class_type": "LoraLoader", "inputs": {
        "lora_name": "add_detail.safetensors", "strength_model": 0.7, "strength_clip": 1.0,
        "model": ["11", 0], "clip": ["4", 1]}}
    graph["11"] = {"class_type": "SomeCustomModelPatcher|pysssss", "inputs": {"model": ["4", 0], "loop": ["12", 0]}}
    graph["12"] = {"class_type": "CustomLoopNode", "inputs": {"back": ["11", 0], "weird": {"nested": [1, [2]]}}}
    graph["3"]["inputs"]["model"] = ["10", 0]
    graph["13"] = {"class_type": "UpscaleModelLoader", "inputs": {"model_name": "4x-UltraSharp.pth"}}
    graph["3"]["inputs"]["seed"] = ["14", 0]
    graph["14"] = {"class_type": "Seed (rgthree)", "inputs": {"seed": 42}}
    info = generator(png_bytes({"prompt": json.dumps(graph)}))
    assert info.model == "v1-5-pruned-emaonly.safetensors"
    assert [(lo.name, lo.weight) for lo in info.loras] == [("add_detail.safetensors", 0.7)]
    assert info.seed == 42
    assert info.upscaler == "4x-UltraSharp.pth"


def test_comfyui_sampler_custom_advanced():
    """SamplerCustomAdvanced: seed, cfg, sampler and steps come from its noise, guider, sampler and sigmas nodes."""
    graph = {
        "1": {"class_type": "UNETLoader", "inputs": {"unet_name": "flux1-dev.safetensors", "weight_dtype": "fp8"}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a fox in snow", "clip": ["9", 0]}},
        "3": {"class_type": "FluxGuidance", "inputs": {"conditioning": ["2", 0], "guidance": 3.5}},
        "4": {"class_type": "BasicGuider", "inputs": {"model": ["1", 0], "conditioning": ["3", 0]}},
        "5": {"class_type": "RandomNoise", "inputs": {"noise_seed": 1234}},
        "6": {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "euler"}},
        "7": {"class_type": "BasicScheduler", "inputs": {"scheduler": "simple", "steps": 25, "denoise": 1.0,
                                                         "model": ["1", 0]}},
        "8": {"class_type": "EmptySD3LatentImage", "inputs": {"width": 1024, "height": 768, "batch_size": 1}},
        "9": {"class_type": "DualCLIPLoader", "inputs": {"clip_name1": "t5xxl.safetensors"}},
        "10": {"class_type": "SamplerCustomAdvanced", "inputs": {
            "noise": ["5", 0], "guider": ["4", 0], "sampler": ["6", 0], "sigmas": ["7", 0], "latent_image": ["8", 0]}},
        "11": {"class_type": "VAEDecode", "inputs": {"samples": ["10", 0], "vae": ["12", 0]}},
        "12": {"class_type": "VAELoader", "inputs": {"vae_name": "ae.safetensors"}},
        "13": {"class_type": "SaveImage", "inputs": {"images": ["11", 0], "filename_prefix": "flux"}},
    }
    info = generator(png_bytes({"prompt": json.dumps(graph)}))
    assert (info.prompt, info.model) == ("a fox in snow", "flux1-dev.safetensors")
    assert (info.seed, info.sampler, info.scheduler, info.steps) == (1234, "euler", "simple", 25)
    assert (info.width, info.height, info.extra["guidance"]) == (1024, 768, 3.5)


# --- InvokeAI ----------------------------------------------------------------------------------
# invokeai/app/invocations/metadata.py CoreMetadata (3.x: model {model_name, base_model, model_type},
# loras [{lora, weight}]; 4.x+: ModelIdentifierField {key, hash, name, base, type}, loras [{model,
# weight}]); 2.x "sd-metadata"; 1.x/2.x "Dream". Values from sd-parsers' InvokeAI test images.

INVOKE_SD_METADATA = {
    "model": "stable diffusion", "model_weights": "deliberateForInvoke_v08",
    "model_hash": "56d1442a0feefd64836a19ac8e3527ec71c884fc962e246ddf67b03e42921272",
    "app_id": "invoke-ai/InvokeAI", "app_version": "2.3.0",
    "image": {"prompt": [{"prompt": "professional photo of a lighthouse, film grain [rendering, glowing eyes]",
                          "weight": 1.0}],
              "steps": 50, "cfg_scale": 5, "threshold": 0, "perlin": 0, "height": 768, "width": 512,
              "seed": 2980747362, "seamless": False, "hires_fix": False, "type": "txt2img",
              "postprocessing": [{"type": "esrgan", "scale": 4, "strength": 0.95}], "sampler": "k_lms",
              "variations": []},
}


@pytest.mark.parametrize("key,data,expected", [
    pytest.param("invokeai_metadata", INVOKE_V3,
                 ("digital artwork, oil painting. painterly brushstrokes, holidays,", "grainy+, photo, oversaturated",
                  "juggernautXL", None, [("pixel-art-xl", 0.75, None)], "euler", 35, 8.0, 3293022630, 1024, 1024),
                 id="invokeai_metadata-3.x"),
    pytest.param("invokeai_metadata", INVOKE_V5,
                 ("a castle", None, "Deliberate v2", "blake3:abcdef0123", [("film-grain", 0.5, "blake3:1234")],
                  "dpmpp_2m_k", 30, 7.5, 7, 512, 512),
                 id="invokeai_metadata-5.x"),
    pytest.param("sd-metadata", INVOKE_SD_METADATA,
                 ("professional photo of a lighthouse, film grain", "rendering, glowing eyes",
                  "deliberateForInvoke_v08", INVOKE_SD_METADATA["model_hash"], [], "k_lms", 50, 5.0, 2980747362,
                  512, 768),
                 id="sd-metadata-2.x"),
])
def test_invokeai_json_formats(key, data, expected):
    """InvokeAI's invokeai_metadata (3.x and 5.x model fields) and sd-metadata chunks."""
    info = generator(png_bytes({key: json.dumps(data)}))
    assert info.tool == "InvokeAI"
    sampler = info.sampler if key == "sd-metadata" else info.scheduler
    got = (info.prompt, info.negative_prompt, info.model, info.model_hash,
           [(lo.name, lo.weight, lo.hash) for lo in info.loras], sampler, info.steps, info.cfg, info.seed,
           info.width, info.height)
    assert got == expected


def test_invokeai_dream():
    """The legacy Dream command line gives prompt, [negative], steps, seed, size, cfg and sampler."""
    dream = ('"professional full body photo, film grain [rendering, glowing eyes, skinny]" '
             "-s 50 -S 2980747362 -W 512 -H 768 -C 5.0 -A k_lms -G 0.9 -U 4 0.9 -cf 0.75")
    info = generator(png_bytes({"Dream": dream}))
    assert (info.tool, info.prompt, info.negative_prompt) == ("InvokeAI", "professional full body photo, film grain",
                                                              "rendering, glowing eyes, skinny")
    assert (info.steps, info.seed, info.width, info.height, info.cfg, info.sampler) == (50, 2980747362, 512, 768,
                                                                                      5.0, "k_lms")
    assert info.extra == {"-G": "0.9", "-U": "4", "-cf": "0.75"}


# --- Fooocus -----------------------------------------------------------------------------------
# lllyasviel/Fooocus modules/meta_parser.py FooocusMetadataParser.parse_string (sorted JSON keys)
# in PNG "parameters" + "fooocus_scheme"; get_exif(): 0x9286 = the JSON, 0x0131 = "Fooocus v...",
# 0x927C = the scheme name.



@pytest.mark.parametrize("container", [pytest.param("png", id="png"), pytest.param("jpeg", id="jpeg-exif")])
def test_fooocus(container):
    """Fooocus's JSON scheme from PNG parameters + fooocus_scheme, or EXIF UserComment + MakerNote."""
    if container == "png":
        data = png_bytes({"parameters": json.dumps(FOOOCUS, sort_keys=True), "fooocus_scheme": "fooocus"})
    else:
        data = jpeg_bytes(exif=fooocus_exif())
    info = generator(data)
    assert (info.tool, info.prompt, info.model, info.model_hash) == ("Fooocus", "a red fox in the snow",
                                                                     "juggernautXL_v8Rundiffusion.safetensors",
                                                                     "aeb7e9e689")
    assert [(lo.name, lo.weight, lo.hash) for lo in info.loras] == [
        ("sd_xl_offset_example-lora_1.0.safetensors", 0.1, "4852686128")]
    assert (info.sampler, info.scheduler, info.steps, info.cfg, info.seed) == ("dpmpp_2m_sde_gpu", "karras", 30, 4.0,
                                                                             1234567890)
    assert (info.width, info.height, info.version) == (1152, 896, "Fooocus v2.5.5")
    assert info.extra["performance"] == "Speed"


# --- StableSwarmUI -----------------------------------------------------------------------------
# SwarmUI docs/Image Metadata Format.md: JSON in PNG "parameters" (iTXt) or JPEG UserComment.

SWARM = {
    "sui_image_params": {
        "prompt": "a photo of a cat", "model": "OfficialStableDiffusion/sd_xl_base_1.0", "seed": 1, "steps": 20,
        "cfgscale": 7.0, "aspectratio": "1:1", "width": 1024, "height": 1024, "automaticvae": True,
        "negativeprompt": "blurry", "loras": ["pixel-art-xl"], "loraweights": ["0.8"], "swarm_version": "0.9.3.1"},
    "sui_extra_data": {"date": "2025-01-25", "prep_time": "6.11 sec", "generation_time": "4.84 sec"},
    "sui_models": [{"name": "OfficialStableDiffusion/sd_xl_base_1.0.safetensors", "param": "model",
                    "hash": "0xd7a9105a900fd52748f20725fe52fe52b507fd36bee4fc107b1550a26e6ee1d7"}],
}


@pytest.mark.parametrize("container", [pytest.param("png", id="png-itxt"), pytest.param("jpeg", id="jpeg")])
def test_stableswarmui(container):
    """sui_image_params (with sui_models hashes) from PNG parameters or the JPEG UserComment."""
    text = json.dumps(SWARM, indent=2)
    data = png_bytes(itxt={"parameters": text}) if container == "png" else jpeg_bytes(exif=a1111_exif(text))
    info = generator(data)
    assert (info.tool, info.prompt, info.negative_prompt) == ("StableSwarmUI", "a photo of a cat", "blurry")
    assert (info.model, info.model_hash) == ("OfficialStableDiffusion/sd_xl_base_1.0",
                                             SWARM["sui_models"][0]["hash"])
    assert [(lo.name, lo.weight) for lo in info.loras] == [("pixel-art-xl", 0.8)]
    assert (info.seed, info.steps, info.cfg, info.width, info.height, info.version) == (1, 20, 7.0, 1024, 1024,
                                                                                      "0.9.3.1")
    assert info.extra["generation_time"] == "4.84 sec"


# --- Easy Diffusion ----------------------------------------------------------------------------
# easydiffusion save_utils.get_printable_request (TASK_TEXT_MAPPING keys) + sdkit save_dicts
# (output_format="embed"): PNG add_text(key, str(val)) per key; JPEG/WebP: piexif UserComment of
# json.dumps(metadata), encoding="unicode".

EASY = {
    "prompt": "a watercolor harbour", "negative_prompt": "people", "seed": 3141592,
    "use_stable_diffusion_model": "sd-v1-5", "clip_skip": False, "use_vae_model": "vae-ft-mse-840000-ema-pruned",
    "sampler_name": "euler_a", "width": 768, "height": 512, "num_inference_steps": 25, "guidance_scale": 7.5,
    "use_lora_model": ["watercolor_v1", "harbour_lora"], "lora_alpha": [0.6, 0.3], "tiling": None,
    "use_face_correction": None, "use_upscale": "RealESRGAN_x4plus", "upscale_amount": "4",
}


@pytest.mark.parametrize("container", [pytest.param("png", id="png-text"), pytest.param("jpeg", id="jpeg")])
def test_easy_diffusion(container):
    """Easy Diffusion's one-chunk-per-key PNG text (Python reprs) or JSON UserComment."""
    if container == "png":
        data = png_bytes({key: str(value) for key, value in EASY.items()})
    else:
        data = jpeg_bytes(exif=piexif.dump({"Exif": {
            piexif.ExifIFD.UserComment: piexif.helper.UserComment.dump(json.dumps(EASY), encoding="unicode")}}))
    info = generator(data)
    assert (info.tool, info.prompt, info.negative_prompt, info.model) == ("Easy Diffusion", "a watercolor harbour",
                                                                          "people", "sd-v1-5")
    assert [(lo.name, lo.weight) for lo in info.loras] == [("watercolor_v1", 0.6), ("harbour_lora", 0.3)]
    assert (info.sampler, info.steps, info.cfg, info.seed, info.width, info.height) == ("euler_a", 25, 7.5, 3141592,
                                                                                      768, 512)
    assert info.upscaler == "RealESRGAN_x4plus"


# --- Draw Things -------------------------------------------------------------------------------
# Draw Things writes XMP (PNG iTXt XML:com.adobe.xmp) with dc:description (A1111-like text),
# xmp:CreatorTool "Draw Things" and exif:UserComment holding its JSON configuration (c, uc, model,
# sampler, scale, seed, size, steps, strength, v2.loras), as other readers (sd-metadata,
# Dataset-Tools) document it. No official spec is published.

DRAW_THINGS_JSON = {"c": "a red cube on a table", "uc": "blue", "model": "sd_xl_base_1.0_f16.ckpt",
                    "sampler": "DPM++ 2M Karras", "scale": 4.5, "seed": 2441935286, "size": "1024x768",
                    "steps": 8, "strength": 1, "seed_mode": "Scale Alike",
                    "v2": {"loras": [{"file": "detail_slider_v4_f16.ckpt", "weight": 0.8, "mode": "all"}]}}


def draw_things_xmp(config: dict | None, description: str) -> str:
    comment = "" if config is None else (
        "<exif:UserComment><rdf:Alt><rdf:li xml:lang=\"x-default\">"
        + json.dumps(config).replace("&", "&amp;").replace("<", "&lt;") + "</rdf:li></rdf:Alt></exif:UserComment>")
    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 6.0.0">\n'
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        '  <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"'
        ' xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:exif="http://ns.adobe.com/exif/1.0/">\n'
        '   <dc:description><rdf:Alt><rdf:li xml:lang="x-default">'
        + description.replace("\n", "&#xA;") + "</rdf:li></rdf:Alt></dc:description>\n"
        "   <xmp:CreatorTool>Draw Things</xmp:CreatorTool>\n   " + comment + "\n"
        "  </rdf:Description>\n </rdf:RDF>\n</x:xmpmeta>\n"
    )


DRAW_THINGS_DESCRIPTION = ("a red cube on a table\n-blue\nSteps: 8, Sampler: DPM++ 2M Karras, Guidance Scale: 4.5, "
                           "Seed: 2441935286, Size: 1024x768, Model: sd_xl_base_1.0_f16.ckpt, Strength: 1.0")


def test_draw_things_xmp_usercomment():
    """Draw Things' JSON configuration in XMP exif:UserComment."""
    info = generator(png_bytes(itxt={"XML:com.adobe.xmp": draw_things_xmp(DRAW_THINGS_JSON, DRAW_THINGS_DESCRIPTION)}))
    assert (info.tool, info.prompt, info.negative_prompt, info.model) == ("Draw Things", "a red cube on a table",
                                                                          "blue", "sd_xl_base_1.0_f16.ckpt")
    assert [(lo.name, lo.weight) for lo in info.loras] == [("detail_slider_v4_f16.ckpt", 0.8)]
    assert (info.sampler, info.steps, info.cfg, info.seed, info.width, info.height) == (
        "DPM++ 2M Karras", 8, 4.5, 2441935286, 1024, 768)
    assert info.extra["seed_mode"] == "Scale Alike"


def test_draw_things_description_only():
    """Without the JSON, Draw Things' dc:description text ("-negative" line) is read."""
    info = generator(png_bytes(itxt={"XML:com.adobe.xmp": draw_things_xmp(None, DRAW_THINGS_DESCRIPTION)}))
    assert (info.tool, info.prompt, info.negative_prompt) == ("Draw Things", "a red cube on a table", "blue")
    assert (info.steps, info.cfg, info.seed, info.model) == (8, 4.5, 2441935286, "sd_xl_base_1.0_f16.ckpt")


# --- the registry ------------------------------------------------------------------------------


def test_registry_order_and_names():
    """Specific formats come before the general A1111 reader; the pixel scan is last."""
    names = [p.name for p in PARSERS]
    assert len(names) == len(set(names))
    assert names[0] == "provenance" and names[-1] == "stealth"
    for specific in ("StableSwarmUI", "Fooocus", "ComfyUI", "Draw Things"):
        assert names.index(specific) < names.index("AUTOMATIC1111")


def test_register_parser_inserts_and_rejects_duplicates():
    """register_parser adds before a named parser, and refuses a duplicate or unknown anchor."""
    def read_tagged(loaded, sources):
        text = sources.text.get("mytool")
        return GeneratorInfo(tool="MyTool", prompt=text, raw={"png:mytool": text}) if text else None

    before = list(PARSERS)
    try:
        register_parser("MyTool", read_tagged, before="AUTOMATIC1111")
        names = [p.name for p in PARSERS]
        assert names.index("MyTool") == names.index("AUTOMATIC1111") - 1
        info = generator(png_bytes({"mytool": "hello", "parameters": A1111_TEXT}))
        assert (info.tool, info.prompt) == ("MyTool", "hello")
        with pytest.raises(ValueError, match="already registered"):
            register_parser("MyTool", read_tagged)
        with pytest.raises(ValueError, match="no metadata parser named"):
            register_parser("Other", read_tagged, before="nope")
    finally:
        PARSERS[:] = before


def test_each_parser_runs_alone():
    """Every registry entry can be called on its own with just the loaded image."""
    loaded = decode_image(png_bytes({"parameters": A1111_TEXT}))
    results = {p.name: p.parse(loaded) for p in PARSERS}
    assert results["AUTOMATIC1111"] is not None and results["AUTOMATIC1111"].steps == 28
    assert all(v is None for k, v in results.items() if k != "AUTOMATIC1111")
