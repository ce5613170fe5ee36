"""Loading a diffusers pipeline the way people run Stable Diffusion locally, and recording how.

A model is a hub id or a local diffusers folder (``from_pretrained``), optionally with a single-file
checkpoint (``from_single_file``; the folder or hub id then gives the architecture's configs), LoRA
files with weights, a dtype, a scheduler, CPU offload, VAE tiling/slicing, attention slicing and
bitsandbytes quantisation. With ``HF_HUB_OFFLINE=1`` (or ``local_files_only=True``) nothing is
downloaded and a missing model is a :class:`ModelNotFoundError` that says what to fetch and where.
Without those, a hub id is first checked against the Hub with a short connection probe: when the
Hub cannot be reached, loading goes on from the cache alone instead of retrying for tens of seconds.
"""
from __future__ import annotations

import functools
import importlib.util
import json
import logging
import os
import platform
import re
import socket
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from .._errors import GenerationError, MissingDependencyError, ModelNotFoundError
from .._record import GenerationRecord, Lora
from ._hashing import a1111_lora_hash, a1111_short_hash, file_sha256, folder_sha256
from ._require import require_diffusers

log = logging.getLogger(__name__)

DTYPES = ("fp32", "fp16", "bf16")
OFFLOAD_MODES = ("model", "sequential")
QUANTIZATIONS = ("8bit", "4bit")
TASKS = ("text-to-image", "image-to-image")

#: A1111/ComfyUI sampler names people know, mapped to diffusers scheduler classes and options.
#: Any diffusers scheduler class name is accepted as well.
SCHEDULER_ALIASES: dict[str, tuple[str, dict[str, Any]]] = {
    "euler": ("EulerDiscreteScheduler", {}),
    "euler_a": ("EulerAncestralDiscreteScheduler", {}),
    "heun": ("HeunDiscreteScheduler", {}),
    "lms": ("LMSDiscreteScheduler", {}),
    "ddim": ("DDIMScheduler", {}),
    "pndm": ("PNDMScheduler", {}),
    "unipc": ("UniPCMultistepScheduler", {}),
    "dpm++2m": ("DPMSolverMultistepScheduler", {}),
    "dpm++2m_karras": ("DPMSolverMultistepScheduler", {"use_karras_sigmas": True}),
    "dpm++2m_sde_karras": ("DPMSolverMultistepScheduler", {"algorithm_type": "sde-dpmsolver++",
                                                          "use_karras_sigmas": True}),
}

_SINGLE_FILE_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin")


@dataclass
class LoraSpec:
    """A LoRA file and the weight to apply it with."""

    path: Path
    weight: float = 1.0

    @classmethod
    def parse(cls, text: str) -> LoraSpec:
        """``FILE`` or ``FILE:WEIGHT`` (the last colon separates the weight)."""
        path, sep, weight = text.rpartition(":")
        if sep and path:
            try:
                return cls(Path(path), float(weight))
            except ValueError:
                pass
        return cls(Path(text), 1.0)


@dataclass
class LoadedPipeline:
    """A ready pipeline and the part of the generation record that loading determined."""

    pipe: Any
    record: GenerationRecord
    device: str
    load_seconds: float
    adapters: list[str] = field(default_factory=list)


def hf_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


#: Seconds to wait for a TCP connection to the Hub before treating the machine as offline.
HUB_PROBE_TIMEOUT = 3.0


def hub_reachable(timeout: float = HUB_PROBE_TIMEOUT) -> bool:
    """Whether a TCP connection to the Hub endpoint (``HF_ENDPOINT``) opens within ``timeout`` seconds.

    huggingface_hub retries a failed request five times with back-off (23 s for one missing model
    on a machine without DNS) before diffusers falls back to the cache; one short probe decides up
    front. Behind a proxy the probe cannot tell, so it says yes and leaves it to the proxy.
    """
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True
    try:
        from huggingface_hub import constants

        endpoint = urlparse(constants.ENDPOINT)
    except (ImportError, AttributeError, ValueError):
        endpoint = urlparse("https://huggingface.co")
    host = endpoint.hostname or "huggingface.co"
    port = endpoint.port or (80 if endpoint.scheme == "http" else 443)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError:
        return False
    return True


def _probe_hub(model: str, offline: str | None) -> str | None:
    """``offline`` as it stands, or "unreachable" when ``model`` is a hub id (no such local path),
    downloads are allowed and the Hub does not answer the probe: then only the cache is used."""
    if offline is None and not Path(model).exists() and not hub_reachable():
        log.warning("the Hugging Face Hub cannot be reached; loading %s from the local cache only", model)
        return "unreachable"
    return offline


def _hf_cache_dir() -> str:
    try:
        from huggingface_hub import constants

        return str(constants.HF_HUB_CACHE)
    except (ImportError, AttributeError):
        return "~/.cache/huggingface/hub"


def _torch_dtype(name: str):
    import torch

    if name not in DTYPES:
        raise GenerationError(f"dtype must be one of {', '.join(DTYPES)}, got {name!r}")
    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[name]


def _dtype_kwarg() -> str:
    """diffusers renamed ``torch_dtype`` to ``dtype`` (the old name warns); use what this version takes."""
    try:
        from diffusers.utils.deprecation_utils import _resolve_dtype  # noqa: F401
    except ImportError:
        return "torch_dtype"
    return "dtype"


def default_device() -> str:
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def device_name(device: str) -> str:
    """``cuda: NVIDIA H200``, ``cpu: x86_64``: the kind of device and, for a GPU, its model."""
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return f"cuda: {torch.cuda.get_device_name(torch.device(device))}"
    return f"{device}: {platform.machine() or 'unknown'}"


def _looks_local(model: str) -> bool:
    return model.startswith((".", "/", "~")) or model.count("/") > 1 or "\\" in model or Path(model).suffix in _SINGLE_FILE_SUFFIXES


#: Why nothing is downloaded, as the missing-model message says it (None: downloads were tried).
_OFFLINE_REASONS = {"off": "downloads are off (HF_HUB_OFFLINE=1, --offline or local_files_only)",
                    "unreachable": "the Hugging Face Hub cannot be reached from this machine"}


def _missing_model(model: str, offline: str | None, cause: BaseException) -> ModelNotFoundError:
    how = _OFFLINE_REASONS.get(offline or "", "it could not be downloaded")
    return ModelNotFoundError(
        f"model {model!r} is not a local folder and is not in the Hugging Face cache ({_hf_cache_dir()}), and "
        f"{how}. On a machine with network, download it with `hf download {model}` (it goes to that cache; "
        f"set HF_HOME to move it), or pass --model a local diffusers folder (one with model_index.json). "
        f"[{type(cause).__name__}: {str(cause).splitlines()[0] if str(cause) else ''}]"
    )


def scheduler_class(diffusers, name: str) -> tuple[type, dict[str, Any]]:
    """The scheduler class and options for an alias or a diffusers class name (checked before loading)."""
    cls_name, options = SCHEDULER_ALIASES.get(name.lower(), (name, {}))
    cls = getattr(diffusers, cls_name, None)
    if not (isinstance(cls, type) and issubclass(cls, diffusers.SchedulerMixin)):
        known = ", ".join(SCHEDULER_ALIASES)
        raise GenerationError(f"unknown scheduler {name!r}: give a diffusers scheduler class name "
                              f"(e.g. DPMSolverMultistepScheduler) or one of {known}")
    return cls, options


def _adapter_name(path: Path, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_]", "_", path.stem) or "lora"
    name, i = base, 1
    while name in taken:
        i += 1
        name = f"{base}_{i}"
    taken.add(name)
    return name


def _quantization_config(diffusers, quantization: str, dtype, components: list[str]):
    if quantization not in QUANTIZATIONS:
        raise GenerationError(f"quantization must be one of {', '.join(QUANTIZATIONS)}, got {quantization!r}")
    if importlib.util.find_spec("bitsandbytes") is None:
        raise MissingDependencyError(
            f"{quantization} quantization needs bitsandbytes, which is not installed: "
            "pip install bitsandbytes (it needs a CUDA GPU)")
    if quantization == "8bit":
        backend, kwargs = "bitsandbytes_8bit", {"load_in_8bit": True}
    else:
        backend, kwargs = "bitsandbytes_4bit", {"load_in_4bit": True, "bnb_4bit_quant_type": "nf4",
                                                "bnb_4bit_compute_dtype": dtype}
    return diffusers.PipelineQuantizationConfig(quant_backend=backend, quant_kwargs=kwargs,
                                                components_to_quantize=components)


def _pipeline_class(diffusers, model: str, offline: str | None):
    """The pipeline class named in a model's model_index.json (folder or cached hub id)."""
    try:
        config = diffusers.DiffusionPipeline.load_config(model, local_files_only=offline is not None)
    except (OSError, ValueError) as e:
        raise _missing_model(model, offline, e) from e
    cls = getattr(diffusers, config.get("_class_name", ""), None)
    if cls is None:
        raise GenerationError(f"{model}: unknown pipeline class {config.get('_class_name')!r} in model_index.json")
    return cls, config


#: Pipeline classes for the architectures diffusers infers from a checkpoint (others: Stable Diffusion).
_SINGLE_FILE_PIPELINES = {"xl_base": "StableDiffusionXLPipeline", "xl_refiner": "StableDiffusionXLImg2ImgPipeline",
                          "playground-v2-5": "StableDiffusionXLPipeline"}


class _TensorShapes(dict):
    """Tensor names and shapes read from a safetensors header, without loading a single weight."""

    class _Shape:
        def __init__(self, shape: list[int]) -> None:
            self.shape = tuple(shape)

    def __init__(self, path: Path) -> None:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            super().__init__({k: self._Shape(f.get_slice(k).get_shape()) for k in f.keys()})


def _reference_model(checkpoint: Path) -> tuple[str | None, str | None]:
    """(hub id whose configs diffusers would use, pipeline class name) for a checkpoint's architecture.

    Read from the tensor names alone, with diffusers' own inference; (None, None) when it cannot tell
    (a ``.ckpt`` pickle, which cannot be read without loading it, or an architecture diffusers does
    not know). Knowing it up front lets an offline run say which configs to download.
    """
    if checkpoint.suffix.lower() != ".safetensors":
        return None, None
    try:
        from diffusers.loaders.single_file_utils import DIFFUSERS_DEFAULT_PIPELINE_PATHS, infer_diffusers_model_type

        kind = infer_diffusers_model_type(_TensorShapes(checkpoint))
        repo = DIFFUSERS_DEFAULT_PIPELINE_PATHS[kind]["pretrained_model_name_or_path"]
    except Exception as e:  # noqa: BLE001  (an unreadable header is diffusers' to report, with its message)
        log.debug("cannot infer the architecture of %s: %s", checkpoint, e)
        return None, None
    return repo, _SINGLE_FILE_PIPELINES.get(kind)


def _require_cached_configs(checkpoint: Path, repo: str | None, offline: str) -> None:
    """Offline, a single file without --model needs its reference model's configs in the cache."""
    if repo is not None:
        try:
            from huggingface_hub import try_to_load_from_cache

            if isinstance(try_to_load_from_cache(repo, "model_index.json"), str):
                return
        except ImportError:
            pass
    if repo:
        what = (f"diffusers reads it as the architecture of {repo}, whose configs are not in the Hugging Face "
                f"cache ({_hf_cache_dir()})")
    elif checkpoint.suffix.lower() == ".safetensors":
        what = "diffusers cannot tell its architecture from its tensor names"
    else:
        what = f"the architecture of a {checkpoint.suffix} file is only known once it is loaded"
    use_folder = ("pass --model with a local diffusers folder of the same architecture (its configs are used, "
                  "its weights are not)")
    fix = (f"On a machine with network run `hf download {repo} --include '*.json' '*.txt'` (configs and "
           f"tokenizer, no weights), or {use_folder}" if repo else use_folder[0].upper() + use_folder[1:])
    raise ModelNotFoundError(f"{checkpoint}: a single-file checkpoint needs the configs of its architecture; "
                             f"{what}, and {_OFFLINE_REASONS[offline]}. {fix}")


#: Warnings that diffusers' own calls into huggingface_hub cause and no user can act on (diffusers
#: still passes ``local_dir_use_symlinks``, which huggingface_hub deprecated): not shown.
_NOT_OURS = (r"The `local_dir_use_symlinks` argument is deprecated",)


def _without_foreign_warnings(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with warnings.catch_warnings():
            for message in _NOT_OURS:
                warnings.filterwarnings("ignore", message=message, category=UserWarning)
            return fn(*args, **kwargs)
    return wrapper


@_without_foreign_warnings
def load_pipeline(model: str | os.PathLike[str] | None, *, single_file: str | os.PathLike[str] | None = None,
                  loras: list[LoraSpec] | tuple[LoraSpec, ...] = (), dtype: str = "fp32", device: str | None = None,
                  offload: str | None = None, vae_tiling: bool = False, vae_slicing: bool = False,
                  attention_slicing: bool = False, scheduler: str | None = None, quantization: str | None = None,
                  task: str = "text-to-image", local_files_only: bool | None = None,
                  hash_model: bool = True) -> LoadedPipeline:
    """Load a pipeline for ``task`` and describe it as a :class:`GenerationRecord` (model, hashes, ...).

    ``model`` is a hub id or a local diffusers folder; with ``single_file`` it only supplies the
    configs of the checkpoint's architecture. It may then be None: diffusers infers the architecture
    from the checkpoint's tensor names and takes the configs of its reference model from the Hub
    (or the cache, which must then hold them).
    """
    diffusers = require_diffusers()
    import torch

    t0 = time.perf_counter()
    torch_dtype = _torch_dtype(dtype)
    if task not in TASKS:
        raise GenerationError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    if offload is not None and offload not in OFFLOAD_MODES:
        raise GenerationError(f"offload must be one of {', '.join(OFFLOAD_MODES)}, got {offload!r}")
    offline = "off" if (hf_offline() if local_files_only is None else local_files_only) else None
    model = os.fspath(model) if model is not None else None
    if model is not None and single_file is None and Path(model).is_file():
        model, single_file = None, model  # --model dreamshaper_8.safetensors
    if model is None and single_file is None:
        raise GenerationError("give a model (hub id or folder) or a single-file checkpoint")
    if model is not None and not Path(model).exists() and _looks_local(model):
        raise ModelNotFoundError(f"{model}: no such model folder (a diffusers folder has model_index.json)")
    if model is not None and Path(model).is_dir() and not (Path(model) / "model_index.json").is_file():
        raise ModelNotFoundError(f"{model}: not a diffusers model folder (no model_index.json); for a single "
                                 "checkpoint file use --single-file FILE with --model naming its architecture")
    loras = [lo if isinstance(lo, LoraSpec) else LoraSpec.parse(str(lo)) for lo in loras]
    for lo in loras:
        if not lo.path.is_file():
            raise ModelNotFoundError(f"{lo.path}: no such LoRA file")
    if offload and not torch.cuda.is_available():
        raise GenerationError(f"{offload} CPU offload moves weights between the CPU and a GPU; no CUDA GPU is available")
    scheduler_choice = scheduler_class(diffusers, scheduler) if scheduler else None
    auto = diffusers.AutoPipelineForText2Image if task == "text-to-image" else diffusers.AutoPipelineForImage2Image

    record: dict[str, Any] = {}
    if single_file is not None:
        sf = Path(single_file)
        if not sf.is_file():
            raise ModelNotFoundError(f"{sf}: no such checkpoint file")
        if quantization:
            raise GenerationError("quantization is applied while loading a model folder; it cannot be combined "
                                  "with a single-file checkpoint")
        config, cls_name = model, None
        if model is None:
            config, cls_name = _reference_model(sf)
        if config is not None:
            offline = _probe_hub(config, offline)
        if model is None and offline:
            _require_cached_configs(sf, config, offline)
        if model is not None:
            cls, _ = _pipeline_class(diffusers, model, offline)
        else:
            cls = getattr(diffusers, cls_name or "StableDiffusionPipeline")
        kwargs: dict[str, Any] = {_dtype_kwarg(): torch_dtype, "local_files_only": offline is not None}
        if config is not None:
            kwargs["config"] = config
        try:
            pipe = cls.from_single_file(str(sf), **kwargs)
        except (OSError, ValueError, KeyError) as e:
            if model is None:
                raise ModelNotFoundError(
                    f"{sf}: cannot load without its architecture's configs ({type(e).__name__}: "
                    f"{str(e).splitlines()[0] if str(e) else ''}); pass --model with a diffusers folder or hub id "
                    "of the same architecture (e.g. stable-diffusion-v1-5/stable-diffusion-v1-5), downloaded "
                    "beforehand") from e
            raise GenerationError(f"{sf}: cannot load as a {cls.__name__} checkpoint with the configs of "
                                  f"{model}: {type(e).__name__}: {e}") from e
        if task == "image-to-image":
            pipe = auto.from_pipe(pipe)
        sha = file_sha256(sf) if hash_model else None
        record.update(model=sf.stem, model_hash=sha, model_short_hash=a1111_short_hash(sha) if sha else None)
        if config is not None:
            record["extra"] = {"model_config": Path(config).name if Path(config).exists() else config}
    else:
        offline = _probe_hub(model, offline)
        kwargs = {_dtype_kwarg(): torch_dtype, "local_files_only": offline is not None}
        if quantization:
            _, config = _pipeline_class(diffusers, model, offline)
            components = [c for c in ("unet", "transformer") if c in config]
            kwargs["quantization_config"] = _quantization_config(diffusers, quantization, torch_dtype, components)
        try:
            pipe = auto.from_pretrained(model, **kwargs)
        except OSError as e:
            raise _missing_model(model, offline, e) from e
        local = Path(model)
        if hash_model:
            folder = local if local.is_dir() else _snapshot_folder(model)
            record["model_hash"] = folder_sha256(folder) if folder else None
        record["model"] = local.name if local.is_dir() else model

    if scheduler_choice is not None:
        pipe.scheduler = scheduler_choice[0].from_config(pipe.scheduler.config, **scheduler_choice[1])

    adapters: list[str] = []
    lora_records: list[dict[str, Any]] = []
    if loras:
        if importlib.util.find_spec("peft") is None:
            raise MissingDependencyError("LoRA adapters need peft: pip install peft (part of the generate extra)")
        taken: set[str] = set()
        for lo in loras:
            name = _adapter_name(lo.path, taken)
            try:
                pipe.load_lora_weights(str(lo.path.parent), weight_name=lo.path.name, adapter_name=name)
            except (OSError, ValueError, KeyError, RuntimeError) as e:
                raise GenerationError(f"{lo.path}: cannot load as a LoRA for {type(pipe).__name__}: {e}") from e
            adapters.append(name)
            lora_records.append(asdict(Lora(name=lo.path.stem, weight=lo.weight, hash=file_sha256(lo.path),
                                            short_hash=a1111_lora_hash(lo.path))))
        pipe.set_adapters(adapters, adapter_weights=[lo.weight for lo in loras])

    device = device or default_device()
    if offload == "model":
        pipe.enable_model_cpu_offload()
    elif offload == "sequential":
        pipe.enable_sequential_cpu_offload()
    elif not quantization:  # bitsandbytes places quantised weights itself
        pipe.to(device)
    vae = getattr(pipe, "vae", None)
    if vae_tiling and vae is not None:
        vae.enable_tiling()
    if vae_slicing and vae is not None:
        vae.enable_slicing()
    if attention_slicing:
        pipe.enable_attention_slicing()
    if dtype == "fp16" and device == "cpu":
        log.warning("fp16 on a CPU is slow and some operations may be unsupported; fp32 or bf16 is the usual choice")

    import diffusers as _d

    record.update(
        generator="diffusers", generator_version=_d.__version__, loras=lora_records, pipeline=type(pipe).__name__,
        scheduler=type(pipe.scheduler).__name__, scheduler_config=json_safe(dict(pipe.scheduler.config)),
        precision=dtype, quantization=f"bitsandbytes-{quantization}" if quantization else None, offload=offload,
        device=device_name(device if not offload else "cuda"), torch_version=torch.__version__,
        diffusers_version=_d.__version__, source="local",
    )
    return LoadedPipeline(pipe=pipe, record=GenerationRecord.from_dict(record), device=device,
                          load_seconds=round(time.perf_counter() - t0, 3), adapters=adapters)


def _snapshot_folder(model: str) -> Path | None:
    """The cached snapshot folder of a hub model that was just loaded, to hash it."""
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(model, local_files_only=True))
    except Exception as e:  # the hash is optional: a cache we cannot read must not stop generation
        log.warning("cannot find %s in the Hugging Face cache to hash it: %s", model, e)
        return None


def json_safe(value: Any) -> Any:
    """Scheduler configs hold tuples, numpy scalars and the like; keep them as plain JSON values."""
    return json.loads(json.dumps(value, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))
