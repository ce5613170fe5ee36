"""generate: tiny random-weight SD and SDXL pipelines loaded from disk, every image stamped and verified.

Offline throughout (HF_HUB_OFFLINE=1); 256x256 images (the watermark's minimum) from 2 steps.
"""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("diffusers")

from support.tiny_pipelines import make_tiny_models  # noqa: E402

import cli  # noqa: E402
from detectors.metadata._a1111 import a1111_info  # noqa: E402
from provenance import (  # noqa: E402
    GenerationRecord,
    MissingDependencyError,
    Registry,
    load_image,
    read_manifest,
)
from provenance._c2pa import GENERATION_ASSERTION  # noqa: E402
from provenance._errors import GenerationError, ModelNotFoundError  # noqa: E402
from support.read_back import read_metadata  # noqa: E402
from provenance.generate import (  # noqa: E402
    LoraSpec,
    StampedPipeline,
    a1111_lora_hash,
    a1111_short_hash,
    file_sha256,
    folder_sha256,
    load_pipeline,
)
from provenance.watermark import get_method  # noqa: E402

CALL = dict(prompt="a lighthouse at dusk", negative_prompt="blurry", num_inference_steps=2, width=256, height=256)
#: What every generated image's record must carry.
REQUIRED = ("generator", "generator_version", "prompt", "model", "model_hash", "pipeline",
            "scheduler", "scheduler_config", "steps", "guidance", "seed", "width", "height", "precision", "device",
            "torch_version", "diffusers_version", "seconds", "source")


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    return make_tiny_models(tmp_path_factory.mktemp("tiny-models"))


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """One intra-op thread: the tiny models gain nothing from more, and on a shared 2-core machine
    torch's threads wait on each other (one 2-step generation: 0.5 s with 1 thread, 2-10 s with 2)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def sd(tiny):
    """The tiny SD pipeline, loaded once through load_pipeline as `--model DIR` does."""
    loaded = load_pipeline(tiny.sd, local_files_only=True)
    loaded.pipe.set_progress_bar_config(disable=True)
    return loaded


def _verify(path, identity, *, content_id: str, seed: int) -> dict:
    """Trusted manifest, complete record, our watermark with the same id; returns the record."""
    data = Path(path).read_bytes()
    report = read_manifest(data, trust_anchors_pem=identity.anchors_pem)
    assert report.state == "Trusted", report.failures
    record = report.assertion(GENERATION_ASSERTION)
    missing = [k for k in REQUIRED if record.get(k) in (None, "", {})]
    assert not missing, f"record lacks {missing}: {record}"
    assert record["seed"] == seed and record["source"] == "local"
    assert report.assertion("c2pa.soft-binding")["blocks"][0]["value"] == content_id
    mark = get_method("provenanceWM").detect(load_image(path).rgb)
    assert mark.detected and mark.payload == content_id[:12]  # the mark carries the id's first 48 bits
    return record


def _generate(*args) -> dict:
    """Run `provenance generate ... --json` in-process; returns the parsed JSON."""
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = cli.main(["generate", *args, "--quiet-progress", "--json"])
    assert rc == 0
    return json.loads(out.getvalue())


# --- the wrapper ------------------------------------------------------------------------------

def test_stamped_pipeline_writes_verified_images(sd, identity, tmp_path):
    """Every image of a batch: trusted C2PA, full record, watermark, registry row, A1111 parameters."""
    with Registry(tmp_path / "reg.sqlite") as reg, StampedPipeline(
            sd.pipe, identity=identity, out_dir=tmp_path / "out", registry=reg, record=sd.record) as sp:
        out = sp(**CALL, num_images_per_prompt=2, seed=7)
        images = sp.last_images
        assert [i.seed for i in images] == [7, 8]
        for img, returned in zip(images, out.images):
            record = _verify(img.stamp.output, identity, content_id=img.content_id, seed=img.seed)
            assert record["prompt"] == CALL["prompt"] and record["negative_prompt"] == CALL["negative_prompt"]
            assert record["steps"] == 2 and record["width"] == 256 and record["guidance"] == 7.5
            assert record["pipeline"] == "StableDiffusionPipeline" and record["model"] == "tiny-sd"
            assert record["model_hash"] == folder_sha256(sd_dir(sd)) and record["precision"] == "fp32"
            assert np.array_equal(np.asarray(returned), load_image(img.path).rgb), "returned pixels = stamped file"
            row = reg.get(img.content_id)
            assert row is not None and row.sha256 == hashlib.sha256(Path(img.path).read_bytes()).hexdigest()
            params = read_metadata(Path(img.path).read_bytes())["text"]["parameters"]
            assert f"Seed: {img.seed}" in params and "Steps: 2" in params


def sd_dir(loaded) -> str:
    return loaded.pipe.config._name_or_path


def test_same_seed_same_pixels_and_per_image_seeds(sd, identity, tmp_path):
    """A seed reproduces its image; each image of a batch is reproducible from its own seed alone."""
    with StampedPipeline(sd.pipe, identity=identity, out_dir=tmp_path, executor="thread") as sp:
        a = sp(**CALL, seed=11, output_type="np").images
        b = sp(**CALL, seed=11, output_type="np").images
        batch = sp(**CALL, seed=[12, 11], num_images_per_prompt=2, output_type="np").images
    # each file carries its own content id in the watermark (a few levels per pixel: two marks of
    # RMS <= 2.45 differ by ~2 levels on average); the generation underneath is the same:
    for x in (b[0], batch[1]):
        assert np.abs(a[0] - x).mean() < 3.0 / 255 and np.abs(a[0] - x).max() <= 16 / 255
    assert np.abs(a[0] - batch[0]).mean() > 10 / 255, "another seed, another image"


def test_same_seed_identical_before_stamping(sd):
    """Without the watermark the per-image CPU generators give bit-identical pixels for a seed."""
    import torch

    def run(seed):
        return sd.pipe(**CALL, generator=[torch.Generator("cpu").manual_seed(seed)], output_type="np").images

    assert np.array_equal(run(3), run(3))


@pytest.mark.parametrize("output_type, kind, shape", [
    pytest.param("np", np.ndarray, (1, 256, 256, 3), id="np"),
    pytest.param("pt", "tensor", (1, 3, 256, 256), id="pt"),
])
def test_output_types_match_the_pipeline(sd, identity, tmp_path, output_type, kind, shape):
    """np and pt outputs keep the pipeline's layout and hold the stamped pixels."""
    import torch

    with StampedPipeline(sd.pipe, identity=identity, out_dir=tmp_path, executor="thread") as sp:
        images = sp(**CALL, seed=1, output_type=output_type).images
        path = sp.last_images[0].path
    assert isinstance(images, torch.Tensor if kind == "tensor" else kind) and tuple(images.shape) == shape
    arr = images.permute(0, 2, 3, 1).numpy() if kind == "tensor" else images
    assert np.array_equal((arr[0] * 255).round().astype(np.uint8), load_image(path).rgb)


def test_return_dict_false_gives_a_tuple(sd, identity, tmp_path):
    """return_dict=False returns the pipeline's tuple, images first."""
    with StampedPipeline(sd.pipe, identity=identity, out_dir=tmp_path, executor="thread") as sp:
        result = sp(**CALL, seed=1, return_dict=False)
    assert isinstance(result, tuple) and len(result) == 2 and len(result[0]) == 1


def test_pixels_are_converted_alike_from_a_tensor_an_array_or_pil_images():
    """The pipeline's images become uint8 the same way whatever form they come in: a tensor
    (converted where it lies, fp16 or fp32), an array, PIL images; NaN is black, values clip,
    halves round to even as numpy does."""
    import torch
    from PIL import Image

    from provenance.generate._pipeline import _to_uint8

    rng = np.random.default_rng(5)
    arr = rng.uniform(-0.2, 1.2, size=(2, 16, 16, 3)).astype(np.float32)
    arr[0, 0, :3, 0] = [np.nan, (10 + 0.5) / 255, (11 + 0.5) / 255]
    expected = _to_uint8(arr)
    assert expected[0, 0, 0, 0] == 0 and expected.dtype == np.uint8 and expected.shape == (2, 16, 16, 3)
    tensor = torch.from_numpy(arr).permute(0, 3, 1, 2)
    assert np.array_equal(_to_uint8(tensor), expected)
    half = tensor.half()  # an fp16 pipeline's output: converted from the fp16 values, like diffusers' np path
    assert np.array_equal(_to_uint8(half), _to_uint8(half.float().permute(0, 2, 3, 1).numpy()))
    assert np.array_equal(_to_uint8([Image.fromarray(x) for x in expected]), expected)
    grey = _to_uint8(tensor[:, :1])
    assert grey.shape == (2, 16, 16, 3) and np.array_equal(grey[..., 0], grey[..., 2])
    for bad in (torch.zeros(2, 4, 8, 8), np.zeros((2, 8, 8, 4))):
        with pytest.raises(GenerationError, match="expected N x"):
            _to_uint8(bad)


def test_workers_start_single_threaded_and_report_a_failed_start(sd, identity, tmp_path):
    """The stamping workers start with one thread per library (the GPU-feeding process keeps its
    cores) without changing the parent's environment; a worker that cannot stamp (here: a key that
    is not a key) is reported by wait_ready as a GenerationError."""
    import dataclasses
    import os

    before = os.environ.get("OPENCV_FOR_THREADS_NUM")
    with StampedPipeline(sd.pipe, identity=identity, out_dir=tmp_path / "a", workers=1) as sp:
        sp.wait_ready(timeout=120)
        assert sp._executor().submit(os.getenv, "OPENCV_FOR_THREADS_NUM").result(timeout=60) == (before or "1")
        assert sp._executor().submit(os.getenv, "OMP_NUM_THREADS").result(timeout=60) == (
            os.environ.get("OMP_NUM_THREADS") or "1")
    assert os.environ.get("OPENCV_FOR_THREADS_NUM") == before
    broken = dataclasses.replace(identity, key_pem=b"-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    with StampedPipeline(sd.pipe, identity=broken, out_dir=tmp_path / "b", workers=1) as sp:
        with pytest.raises(GenerationError, match="a stamping worker failed to start"):
            sp.wait_ready(timeout=120)


def test_latent_output_is_refused(sd, identity, tmp_path):
    """output_type="latent" fails before generating, saying who must stamp instead."""
    with StampedPipeline(sd.pipe, identity=identity, out_dir=tmp_path / "out", executor="thread") as sp:
        with pytest.raises(GenerationError, match="latent.*decodes these latents"):
            sp(**CALL, seed=1, output_type="latent")
    assert list((tmp_path / "out").iterdir()) == []


def test_generators_give_the_seeds(sd, identity, tmp_path):
    """One fresh generator per image records its seed; a single shared generator is refused."""
    import torch

    with StampedPipeline(sd.pipe, identity=identity, out_dir=tmp_path, executor="thread") as sp:
        sp(**CALL, generator=[torch.Generator("cpu").manual_seed(42)])
        assert sp.last_images[0].seed == 42 and sp.last_images[0].record.seed == 42
        with pytest.raises(GenerationError, match="one torch.Generator per image"):
            sp(**CALL, generator=torch.Generator("cpu").manual_seed(1))


def test_record_defaults_are_kept(sd, identity, tmp_path):
    """Record fields given by the caller (e.g. an upscaler) reach the manifest beside the measured ones."""
    defaults = sd.record.merged(upscaler="none", extra={"project": "test"})
    with StampedPipeline(sd.pipe, identity=identity, out_dir=tmp_path, record=defaults, executor="thread") as sp:
        sp(**CALL, seed=5)
        img = sp.last_images[0]
    record = _verify(img.path, identity, content_id=img.content_id, seed=5)
    assert record["upscaler"] == "none" and record["extra"]["project"] == "test"


# --- loading ----------------------------------------------------------------------------------

def test_missing_hub_model_offline_says_what_to_download(tmp_path):
    """An uncached hub id with downloads off: a ModelNotFoundError naming the download command, at once."""
    t0 = time.perf_counter()
    with pytest.raises(ModelNotFoundError, match=r"hf download nobody-here/no-such-model.*model_index.json"):
        load_pipeline("nobody-here/no-such-model")
    assert time.perf_counter() - t0 < 20


@pytest.mark.parametrize("which, message", [
    pytest.param("missing", "no such model folder", id="no-folder"),
    pytest.param("empty", "no model_index.json", id="not-diffusers"),
    pytest.param("single", "no such checkpoint file", id="no-checkpoint"),
    pytest.param("lora", "no such LoRA file", id="no-lora"),
])
def test_missing_local_files(tmp_path, tiny, which, message):
    """Missing folders and files are ModelNotFoundErrors that say which file."""
    (tmp_path / "empty").mkdir()
    kwargs = {
        "missing": dict(model=str(tmp_path / "nope")),
        "empty": dict(model=tmp_path / "empty"),
        "single": dict(model=tiny.sd, single_file=tmp_path / "dreamshaper_8.safetensors"),
        "lora": dict(model=tiny.sd, loras=[LoraSpec(tmp_path / "gone.safetensors", 0.5)]),
    }[which]
    with pytest.raises(ModelNotFoundError, match=message):
        load_pipeline(**kwargs)


def test_scheduler_by_alias_and_class_name(tiny):
    """A1111 names map to diffusers schedulers with their options; an unknown name fails before loading."""
    loaded = load_pipeline(tiny.sd, scheduler="dpm++2m_karras")
    assert loaded.record.scheduler == "DPMSolverMultistepScheduler"
    assert loaded.record.scheduler_config["use_karras_sigmas"] is True
    with pytest.raises(GenerationError, match="unknown scheduler 'warp9'"):
        load_pipeline(tiny.sd, scheduler="warp9")


@pytest.mark.slow
def test_bf16_and_memory_options_are_recorded(tiny, identity, tmp_path):
    """bf16 weights with VAE tiling/slicing and attention slicing still give verified images."""
    loaded = load_pipeline(tiny.sd, dtype="bf16", vae_tiling=True, vae_slicing=True, attention_slicing=True)
    assert loaded.pipe.unet.dtype.__str__() == "torch.bfloat16"
    loaded.pipe.set_progress_bar_config(disable=True)
    with StampedPipeline(loaded.pipe, identity=identity, out_dir=tmp_path, record=loaded.record,
                         executor="thread") as sp:
        sp(**CALL, seed=9)
        img = sp.last_images[0]
    assert _verify(img.path, identity, content_id=img.content_id, seed=9)["precision"] == "bf16"


def test_quantization_needs_bitsandbytes(tiny):
    """Asking for 8-bit weights without bitsandbytes names the package to install."""
    import importlib.util

    if importlib.util.find_spec("bitsandbytes") is not None:
        pytest.skip("bitsandbytes is installed")
    with pytest.raises(MissingDependencyError, match="pip install bitsandbytes"):
        load_pipeline(tiny.sd, quantization="8bit")


def test_offload_needs_a_gpu(tiny):
    """CPU offload without a CUDA GPU is a clear error, not a crash inside accelerate."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present")
    with pytest.raises(GenerationError, match="no CUDA GPU"):
        load_pipeline(tiny.sd, offload="model")


def test_model_hashes(tmp_path):
    """File sha256 and A1111's short hash; a folder's hash changes with any of its files."""
    f = tmp_path / "m.safetensors"
    f.write_bytes(b"weights" * 1000)
    sha = hashlib.sha256(f.read_bytes()).hexdigest()
    assert file_sha256(f) == sha and a1111_short_hash(sha) == sha[:10]
    (tmp_path / "model_index.json").write_text("{}")
    before = folder_sha256(tmp_path)
    (tmp_path / "model_index.json").write_text('{"a": 1}')
    assert folder_sha256(tmp_path) != before


# --- CLI --------------------------------------------------------------------------------------

def test_cli_generate_sdxl_batch(tiny, identity, tmp_path):
    """`generate --model DIR` on the tiny SDXL: a batch of verified images in the registry (process pool)."""
    out = _generate("--model", str(tiny.sdxl), "--prompt", "a red bicycle", "--steps", "2", "--seed", "21",
                    "--width", "256", "--height", "256", "--batch", "2", "--out-dir", str(tmp_path / "out"),
                    "--scheduler", "euler_a")
    assert [i["seed"] for i in out["images"]] == [21, 22]
    with Registry() as reg:
        for img in out["images"]:
            record = _verify(img["file"], identity, content_id=img["content_id"], seed=img["seed"])
            assert record["pipeline"] == "StableDiffusionXLPipeline" and record["model"] == "tiny-sdxl"
            assert record["scheduler"] == "EulerAncestralDiscreteScheduler" and record["prompt"] == "a red bicycle"
            assert reg.get(img["content_id"]) is not None


def test_cli_generate_with_lora(tiny, identity, tmp_path):
    """`--lora FILE:0.8` changes the image and is recorded with its weight and sha256 (A1111 tag too)."""
    common = ["--model", str(tiny.sd), "--prompt", "a lighthouse", "--steps", "2", "--seed", "3",
              "--width", "256", "--height", "256", "--no-registry", "--workers", "1"]
    plain = _generate(*common, "--out-dir", str(tmp_path / "plain"))["images"][0]
    styled = _generate(*common, "--out-dir", str(tmp_path / "lora"), "--lora", f"{tiny.lora}:0.8")["images"][0]
    record = _verify(styled["file"], identity, content_id=styled["content_id"], seed=3)
    short = _tensor_data_sha256(tiny.lora)[:12]
    assert record["loras"] == [{"name": "tiny_style", "weight": 0.8, "hash": file_sha256(tiny.lora),
                                "short_hash": short}]
    diff = np.abs(load_image(plain["file"]).rgb.astype(int) - load_image(styled["file"]).rgb.astype(int))
    assert diff.mean() > 5, "the LoRA must change the pixels"
    params = read_metadata(Path(styled["file"]).read_bytes())["text"]["parameters"]
    assert "<lora:tiny_style:0.8>" in params and f'Lora hashes: "tiny_style: {short}"' in params
    info = a1111_info(params, where="png:parameters")  # our own A1111 parser reads it back
    assert [(lo.name, lo.weight, lo.hash) for lo in info.loras] == [("tiny_style", 0.8, short)]


def _tensor_data_sha256(path) -> str:
    """sha256 of a safetensors file after its 8-byte length and JSON header, as A1111 hashes LoRAs."""
    data = Path(path).read_bytes()
    return hashlib.sha256(data[8 + int.from_bytes(data[:8], "little"):]).hexdigest()


def test_a1111_parameters_with_several_loras_parse_back():
    """Two LoRAs (one name with A1111's separators) and an img2img strength survive our A1111 parser."""
    from provenance._record import a1111_parameters

    record = GenerationRecord.from_dict({
        "prompt": "a fox", "steps": 20, "seed": 1, "width": 512, "height": 512, "model": "dreamshaper_8",
        "model_short_hash": "879db523c3", "extra": {"strength": 0.6},
        "loras": [{"name": "film grain", "weight": 0.5, "hash": "a" * 64, "short_hash": "0123456789ab"},
                  {"name": "style:v2, final", "weight": 1.0, "hash": "b" * 64}],
    })
    text = a1111_parameters(record)
    assert 'Lora hashes: "film grain: 0123456789ab, stylev2 final: bbbbbbbbbbbb"' in text
    info = a1111_info(text, where="png:parameters")
    assert info.model_hash == "879db523c3" and info.extra["Denoising strength"] == "0.6"
    assert [(lo.name, lo.weight, lo.hash) for lo in info.loras][0] == ("film grain", 0.5, "0123456789ab")


def test_a1111_lora_hash_ignores_the_metadata_header(tmp_path):
    """A LoRA's A1111 hash covers its tensors only: new metadata changes the sha256, not that hash."""
    import torch
    from safetensors.torch import save_file

    tensors = {"lora_unet_down.lora_up.weight": torch.arange(12.0).reshape(3, 4)}
    a, b, c = tmp_path / "a.safetensors", tmp_path / "b.safetensors", tmp_path / "c.safetensors"
    save_file(tensors, str(a), metadata={"ss_output_name": "a"})
    save_file(tensors, str(b), metadata={"ss_output_name": "a much longer name, and a note"})
    save_file({k: v + 1 for k, v in tensors.items()}, str(c), metadata={"ss_output_name": "a"})
    assert file_sha256(a) != file_sha256(b) and a1111_lora_hash(a) == a1111_lora_hash(b)
    assert a1111_lora_hash(a) == _tensor_data_sha256(a)[:12] != a1111_lora_hash(c)
    pt = tmp_path / "old.pt"
    pt.write_bytes(b"not safetensors")
    assert a1111_lora_hash(pt) == file_sha256(pt)[:12]


def test_cli_missing_model_exits_1(tmp_path, identity, capsys):
    """A missing model is an operational error (exit 1) with the download hint, not a traceback."""
    rc = cli.main(["generate", "--model", "nobody-here/no-such-model", "--prompt", "x",
                   "--out-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 1 and "hf download nobody-here/no-such-model" in err and "Traceback" not in err


#: (configs folder, single file, the file's stem, pipeline, components) of each tiny single-file checkpoint
SINGLE_FILES = {
    "sd1": (lambda t: t.sd, lambda t: t.single_file, "tiny_dreamshaper", "StableDiffusionPipeline",
            ("unet", "vae", "text_encoder")),
    "sdxl": (lambda t: t.sdxl, lambda t: t.sdxl_single_file, "tiny_juggernaut_xl", "StableDiffusionXLPipeline",
             ("unet", "vae", "text_encoder", "text_encoder_2")),
}


@pytest.mark.parametrize("arch", SINGLE_FILES)
def test_single_file_checkpoint_loads_the_same_weights(tiny, sd, arch):
    """An original-layout single file (DreamShaper-style for SD 1.x; for SDXL with the second text
    encoder in OpenCLIP's layout) with --model DIR's configs gives the folder's weights."""
    import torch

    folder, single, stem, pipeline, components = SINGLE_FILES[arch]
    want_pipe = sd if arch == "sd1" else load_pipeline(folder(tiny), local_files_only=True)
    loaded = load_pipeline(folder(tiny), single_file=single(tiny))
    assert type(loaded.pipe).__name__ == pipeline
    for name in components:
        want, got = getattr(want_pipe.pipe, name).state_dict(), getattr(loaded.pipe, name).state_dict()
        assert want.keys() == got.keys()
        assert all(torch.equal(want[k], got[k].reshape(want[k].shape)) for k in want), name
    sha = file_sha256(single(tiny))
    assert loaded.record.model == stem and loaded.record.model_hash == sha
    assert loaded.record.model_short_hash == sha[:10] and loaded.record.extra["model_config"] == folder(tiny).name


@pytest.mark.parametrize("arch", SINGLE_FILES)
def test_cli_generate_single_file(tiny, identity, tmp_path, arch):
    """`generate --model DIR --single-file FILE`: verified images recording the file's sha256 and A1111 hash."""
    folder, single, stem, pipeline, _ = SINGLE_FILES[arch]
    out = _generate("--model", str(folder(tiny)), "--single-file", str(single(tiny)), "--prompt", "a harbour",
                    "--steps", "2", "--seed", "5", "--width", "256", "--height", "256", "--no-registry",
                    "--out-dir", str(tmp_path))
    img = out["images"][0]
    record = _verify(img["file"], identity, content_id=img["content_id"], seed=5)
    sha = hashlib.sha256(single(tiny).read_bytes()).hexdigest()
    assert record["model"] == stem and record["model_hash"] == sha
    assert record["model_short_hash"] == sha[:10] and record["pipeline"] == pipeline
    params = read_metadata(Path(img["file"]).read_bytes())["text"]["parameters"]
    assert f"Model hash: {sha[:10]}, Model: {stem}" in params


@pytest.mark.parametrize("env", [
    pytest.param("offline", id="HF_HUB_OFFLINE"),
    pytest.param("unreachable", id="hub-unreachable"),
])
def test_single_file_alone_names_the_configs_to_download(tiny, monkeypatch, env):
    """A single file without --model and without the Hub: at once, which configs to fetch and how."""
    from huggingface_hub import constants

    if env == "unreachable":
        monkeypatch.delenv("HF_HUB_OFFLINE")
        monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # discard port: refused at once
    t0 = time.perf_counter()
    with pytest.raises(ModelNotFoundError, match=r"hf download stable-diffusion-v1-5/stable-diffusion-v1-5 "
                                                 r"--include '\*.json' '\*.txt'.*--model"):
        load_pipeline(tiny.single_file)  # a file given as --model is a single-file checkpoint
    assert time.perf_counter() - t0 < 5


def test_unreachable_hub_fails_fast_without_retries(monkeypatch, capsys):
    """No HF_HUB_OFFLINE, no network: one short probe, then the cache alone; no 25 s of retries."""
    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")
    t0 = time.perf_counter()
    with pytest.raises(ModelNotFoundError, match="cannot be reached.*hf download nobody-here/no-such-model"):
        load_pipeline("nobody-here/no-such-model")
    assert time.perf_counter() - t0 < 5
    assert "Retry" not in capsys.readouterr().err


def test_cli_image_to_image_keeps_the_parent(sd, tiny, identity, tmp_path):
    """`--init-image FILE --strength S`: img2img from the same model; the init image is the parent ingredient."""
    with StampedPipeline(sd.pipe, identity=identity, out_dir=tmp_path / "first", executor="thread") as sp:
        sp(**CALL, seed=1)
        parent = Path(sp.last_images[0].path)
    out = _generate("--model", str(tiny.sd), "--init-image", str(parent), "--strength", "0.5", "--steps", "4",
                    "--prompt", "the same lighthouse, at night", "--seed", "2", "--no-registry",
                    "--out-dir", str(tmp_path / "second"))
    img = out["images"][0]
    record = _verify(img["file"], identity, content_id=img["content_id"], seed=2)
    assert record["pipeline"] == "StableDiffusionImg2ImgPipeline" and (record["width"], record["height"]) == (256, 256)
    assert record["extra"]["strength"] == 0.5 and record["extra"]["mode"] == "image-to-image"
    assert record["extra"]["init_image"] == {"name": parent.name, "sha256": file_sha256(parent)}
    report = read_manifest(Path(img["file"]).read_bytes(), trust_anchors_pem=identity.anchors_pem)
    ingredients = report.active["ingredients"]
    assert [(i["title"], i["relationship"]) for i in ingredients] == [(parent.name, "parentOf")]
    assert ingredients[0].get("active_manifest"), "the parent's own Content Credentials travel with it"
    actions = [a["action"] for a in report.assertion("c2pa.actions.v2")["actions"]]
    assert actions[:2] == ["c2pa.opened", "c2pa.edited"]
    params = read_metadata(Path(img["file"]).read_bytes())["text"]["parameters"]
    assert "Denoising strength: 0.5" in params


def test_cli_strength_without_init_image_is_a_usage_error(tmp_path, capsys):
    """--strength alone is refused before any model is loaded (exit 2)."""
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["generate", "--model", "nobody-here/no-such-model", "--prompt", "x", "--strength", "0.5",
                  "--out-dir", str(tmp_path)])
    assert exit_info.value.code == 2 and "--strength needs --init-image" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_bench_cpu(tiny, capsys):
    """`bench --json` measures generation alone and with stamping in one run, with cost per 1,000 images."""
    rc = cli.main(["bench", "--model", str(tiny.sd), "--size", "256", "--steps", "2", "--batch", "2",
                   "--repeats", "1", "--rounds", "2", "--gpu-hour-cost", "2.5", "--workers", "1", "--json"])
    assert rc == 0
    row = json.loads(capsys.readouterr().out)["rows"][0]
    assert row["size"] == 256 and row["batch"] == 2 and row["images"] == 4 and row["device"].startswith("cpu")
    assert row["rounds"] == 2 and len(row["overhead_by_round"]) == len(row["overhead_steady_by_round"]) == 2
    assert row["s_per_image"] > 0 and row["s_per_image_stamped"] > 0 and row["stamp_ms_per_image"] > 0
    assert row["cost_per_1000"] == pytest.approx(row["s_per_image"] * 1000 / 3600 * 2.5, rel=1e-3)
    assert row["overhead"] == pytest.approx(row["s_per_image_stamped"] / row["s_per_image"] - 1, abs=1e-3)
    # steady state: the clock stops at the last batch generated; the drain is the rest of the wall time
    assert 0 < row["s_per_image_steady"] <= row["s_per_image_stamped"] and row["drain_s"] >= 0
    assert row["s_per_image_steady"] * 4 + row["drain_s"] * 2 == pytest.approx(row["s_per_image_stamped"] * 4, abs=4e-3)
    assert row["overhead_steady"] == pytest.approx(row["s_per_image_steady"] / row["s_per_image"] - 1, abs=1e-3)
    assert row["peak_vram_mb"] is None  # no CUDA here: absent, not zero


def test_generation_record_fields_exist():
    """Every field the generate record fills is a GenerationRecord field (not an `extra` key)."""
    names = set(GenerationRecord.__dataclass_fields__)
    assert set(REQUIRED) | {"loras", "offload", "quantization", "peak_vram_mb", "model_short_hash"} <= names



# --- sizes and the watermark's own check ------------------------------------------------------
# provenanceWM's mark needs room: at its smallest size (256², 2 x 2 tiles) a busy image can leave
# it below what the detector needs (measured on 166 shared generated images, resized to 256²: 10
# marks not found right after embedding, losslessly; 1 at 512²). Every written image is now
# checked with verify's own scan, and sizes nothing can carry are refused before generating.

#: Sizes generate accepts: multiples of 8 from the watermark's minimum (256), square and not.
SIZES = [(256, 256), (256, 264), (264, 256), (256, 320), (320, 256), (256, 512), (512, 256), (384, 384),
         (512, 512), (512, 768)]


@pytest.mark.slow
@pytest.mark.parametrize("width,height", [pytest.param(w, h, id=f"{w}x{h}") for w, h in SIZES])
def test_every_size_is_marked_and_found_by_verify(sd, identity, tmp_path, width, height):
    """At every size generate accepts, the written file has the size asked for, its mark is found by
    verify's default scan with the written id, and the generate-time check says so."""
    from provenance import VerifyOptions, verify_file

    with StampedPipeline(sd.pipe, identity=identity, out_dir=tmp_path, executor="thread") as sp:
        sp(**dict(CALL, width=width, height=height), seed=40)
        [img] = sp.last_images
    assert img.watermark_detected is True
    report = verify_file(img.path, options=VerifyOptions(forensics=False)).to_dict()
    assert (report["width"], report["height"]) == (width, height)
    [ours] = [w for w in report["watermarks"] if w["scheme"] == "provenanceWM"]
    assert ours["detected"] and img.content_id.startswith(ours["payload"])


@pytest.mark.slow
@pytest.mark.parametrize("method", ["provenanceWM", "dwtDctSvd", "dwtDct"])
def test_smallest_size_of_each_scanned_method(sd, identity, tmp_path, method):
    """Each method verify scans by default, at its own smallest size from the tiny pipeline: the
    file is that size, and the generate-time check agrees with the method's own detector (dwtDct,
    the fragile baseline, may miss: then the check says so rather than hiding it)."""
    m = get_method(method)
    width, height = m.min_size
    with StampedPipeline(sd.pipe, identity=identity, out_dir=tmp_path, method=method, executor="thread") as sp:
        sp(**dict(CALL, width=width, height=height), seed=41)
        [img] = sp.last_images
    rgb = load_image(img.path).rgb
    assert rgb.shape[:2] == (height, width)
    found = m.detect(rgb)
    detected = bool(found.detected and img.content_id.startswith(found.payload or "-"))
    assert img.watermark_detected is detected
    if method != "dwtDct":
        assert detected


@pytest.mark.slow
def test_smallest_size_of_rivagan(identity, tmp_path):
    """rivaGan (scanned only when named, so the generate-time check leaves it to the caller: None)
    at its smallest size on a photo-like image: its own detector finds the id prefix it carries.
    Measured, not hidden: at 256² it finds its mark for about 7 of 12 random ids on these images,
    and none on the tiny pipeline's noise-like images, so this uses one fixed id."""
    from support import natural_image
    from provenance.generate._worker import StampJob, run_stamp_job

    m = get_method("rivaGan")
    if not m.available():
        pytest.skip(f"rivaGan needs the {m.extra_name} extra")
    width, height = m.min_size
    job = StampJob(rgb=natural_image(width, height, seed=8), path=tmp_path / "riva.png", fmt="PNG",
                   identity=identity, record=GenerationRecord(), method="rivaGan", quality=95, overwrite=False,
                   content_id="5eed0f00dcafe123")
    outcome = run_stamp_job(job)
    found = m.detect(load_image(job.path).rgb)
    assert outcome.watermark_detected is None
    assert found.detected and outcome.result.content_id.startswith(found.payload)


def test_busy_image_at_the_smallest_size_is_reported_not_hidden(identity, tmp_path):
    """The stamping job checks the written pixels with verify's scan: binary noise at 256² leaves
    provenanceWM's mark undetectable, and the job says so (it used to say nothing); a natural
    image of the same size is found."""
    from support import natural_image
    from provenance.generate._worker import StampJob, run_stamp_job

    rng = np.random.default_rng(0)
    busy = (rng.integers(0, 2, (256, 256, 1)) * 255).repeat(3, axis=2).astype(np.uint8)
    for name, rgb, expected in (("busy.png", busy, False), ("natural.png", natural_image(256, 256, seed=8), True)):
        job = StampJob(rgb=rgb, path=tmp_path / name, fmt="PNG", identity=identity, record=GenerationRecord(),
                       method="provenanceWM", quality=95, overwrite=False)
        outcome = run_stamp_job(job)
        assert outcome.watermark_detected is expected and (tmp_path / name).exists()


@pytest.mark.parametrize("width,height,message", [
    pytest.param(128, 128, "below what the provenanceWM watermark needs", id="too-small"),
    pytest.param(256, 200, "below what the provenanceWM watermark needs", id="too-short"),
    pytest.param(260, 256, "not a positive multiple of 8", id="not-multiple-of-8"),
])
def test_sizes_nothing_can_carry_are_refused_before_generating(sd, identity, tmp_path, width, height, message):
    """A size below the method's minimum (it used to fail after generating) or not a multiple of
    the VAE's factor (an internal ValueError from diffusers) is a GenerationError before the
    pipeline runs: nothing is written."""
    with StampedPipeline(sd.pipe, identity=identity, out_dir=tmp_path / "out", executor="thread") as sp:
        t0 = time.perf_counter()
        with pytest.raises(GenerationError, match=message):
            sp(**dict(CALL, width=width, height=height), seed=1)
        assert time.perf_counter() - t0 < 0.5  # refused at once, not after the denoising steps
    assert not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize("flag,value,message", [
    pytest.param("--width", "260", "must be a multiple of 8", id="width-not-multiple-of-8"),
    pytest.param("--height", "128", "needs at least 256x256", id="height-too-small"),
])
def test_cli_generate_size_is_a_usage_error(tmp_path, capsys, flag, value, message):
    """Bad --width/--height are usage errors (exit 2) before any model is loaded."""
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["generate", "--model", "nobody-here/no-such-model", "--prompt", "x", flag, value,
                  "--out-dir", str(tmp_path)])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_cli_generate_json_reports_the_check(tiny, identity, tmp_path):
    """`generate --json` says, per image, whether verify's scan finds its mark."""
    out = _generate("--model", str(tiny.sd), "--prompt", "a lighthouse", "--steps", "2", "--seed", "5",
                    "--width", "256", "--height", "256", "--no-registry", "--workers", "1",
                    "--out-dir", str(tmp_path / "out"))
    assert out["images"][0]["watermark_detected"] is True


def test_offline_loading_shows_no_huggingface_hub_warning(tmp_path):
    """With HF_HUB_OFFLINE=1 a missing hub model is a clear error and huggingface_hub's deprecation
    warning about an argument diffusers passes (no user can act on it) is not shown."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ModelNotFoundError):
            load_pipeline("nobody-here/no-such-model", local_files_only=True)
    assert not [w for w in caught if "huggingface_hub" in (w.filename or "")], [str(w.message) for w in caught]
