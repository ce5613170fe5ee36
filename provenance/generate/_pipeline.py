"""StampedPipeline: call a diffusers pipeline as usual and get every image stamped at the source.

Each image is stamped once, after the final decode: watermark, EXIF/XMP/PNG metadata and a signed
C2PA manifest carrying the generation record, written atomically and added to the registry.
Latent output is refused, because whatever decodes those latents later (a refiner, an upscaler)
is what must stamp.

Stamping runs in a worker pool (``spawn`` processes by default: no GIL contention with the thread
feeding the GPU, and no forked CUDA state). ``__call__`` returns when every image is written;
``submit`` returns as soon as the pipeline has decoded, so the next batch can start on the GPU while
this one is stamped. The workers are started when the first batch starts generating, so their
start-up (about a second of imports each) overlaps the generation instead of following it.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import inspect
import json
import logging
import multiprocessing
import os
import re
import secrets
import threading
import time
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import GenerationError, OutputError, ProvenanceError
from .._imageio import WRITABLE_FORMATS
from .._keys import SigningIdentity
from .._metadata import DEFAULT_QUALITY
from .._record import GenerationRecord
from .._registry import StampRecord
from .._registry_backend import RegistryBackend
from .._stamp import StampResult
from .._threads import single_threaded_env
from ..watermark import DEFAULT_METHOD, get_method
from ._hashing import file_sha256
from ._load import device_name, json_safe
from ._require import require_diffusers
from ._worker import StampJob, StampOutcome, run_stamp_job, warm_up

log = logging.getLogger(__name__)

OUTPUT_TYPES = ("pil", "np", "pt")
EXECUTORS = ("process", "thread")
_MAX_SEED = 2**32 - 1  # what A1111 and ComfyUI draw from; fits torch.Generator.manual_seed
_INDEX = re.compile(r"^(\d{5,})-")


@dataclass
class StampedImage:
    """One generated image: where it was written, its seed, content id, stamp and record."""

    path: str
    seed: int
    content_id: str
    stamp: StampResult
    record: GenerationRecord
    #: Whether verify's default scan finds this image's mark (None: a method it does not scan).
    watermark_detected: bool | None = None


def describe_pipeline(pipe) -> GenerationRecord:
    """What can be read off any loaded pipeline: class, scheduler, dtype, device, versions, model name."""
    import diffusers
    import torch

    denoiser = getattr(pipe, "unet", None) or getattr(pipe, "transformer", None)
    dtype = getattr(denoiser, "dtype", None)
    precision = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}.get(dtype)
    device = str(getattr(pipe, "_execution_device", None) or getattr(pipe, "device", "cpu"))
    name = getattr(getattr(pipe, "config", None), "_name_or_path", None)
    scheduler = getattr(pipe, "scheduler", None)
    return GenerationRecord(
        generator="diffusers", generator_version=diffusers.__version__, pipeline=type(pipe).__name__,
        model=(Path(name).name if name and Path(name).exists() else name) or None,
        scheduler=type(scheduler).__name__ if scheduler is not None else None,
        scheduler_config=json_safe(dict(scheduler.config)) if scheduler is not None else None,
        precision=precision, device=device_name(device), torch_version=torch.__version__,
        diffusers_version=diffusers.__version__, source="local",
    )


def read_init_image(path: str | os.PathLike[str], *, width: int | None = None, height: int | None = None):
    """The init image of an image-to-image run as an RGB PIL image whose sides are multiples of 8.

    Resized to ``width`` x ``height`` when given (either alone keeps the aspect ratio); otherwise its
    own size rounded down to a multiple of 8, which the VAE needs.
    """
    from PIL import Image

    from .._imageio import load_image

    image = Image.fromarray(load_image(path).rgb)
    w, h = image.size
    if width and not height:
        height = round(h * width / w)
    elif height and not width:
        width = round(w * height / h)
    size = (max(8, (width or w) // 8 * 8), max(8, (height or h) // 8 * 8))
    return image if size == image.size else image.resize(size, Image.LANCZOS)


def _to_uint8(images: Any) -> np.ndarray:
    """Pipeline output to N x H x W x 3 uint8, rounding as diffusers does: a tensor N x C x H x W or
    an array N x H x W x C of floats in [0, 1], or a list of PIL images.

    A tensor is converted where it lies: on a GPU that is microseconds, and a quarter of the bytes
    cross to the host (numpy on the host spent ~90 ms per four 1024² images, between batches).
    """
    if hasattr(images, "detach"):  # a torch tensor, on any device
        import torch

        t = images.detach()
        if t.ndim == 3:
            t = t[None]
        if t.ndim != 4 or t.shape[1] not in (1, 3):
            raise GenerationError(f"the pipeline returned images of shape {tuple(t.shape)}; expected N x 3 x H x W")
        # a diverged fp16 run gives NaNs; stamp what a PIL conversion would show (nan_to_num copies)
        t = torch.nan_to_num(t.float(), nan=0.0).clamp_(0.0, 1.0).mul_(255).round_().to(torch.uint8)
        out = t.permute(0, 2, 3, 1).cpu().numpy()
    elif isinstance(images, (list, tuple)) and images and hasattr(images[0], "convert"):  # PIL images
        out = np.stack([np.asarray(im.convert("RGB")) for im in images])
    else:
        arr = np.asarray(images)
        if arr.ndim == 3:
            arr = arr[None]
        if arr.ndim != 4 or arr.shape[-1] not in (1, 3):
            raise GenerationError(f"the pipeline returned images of shape {arr.shape}; expected N x H x W x 3")
        arr = np.nan_to_num(arr, nan=0.0)
        out = (np.clip(arr, 0.0, 1.0) * 255).round().astype(np.uint8)
    return np.repeat(out, 3, axis=-1) if out.shape[-1] == 1 else out


def _first(value: Any, i: int, per_prompt: int) -> Any:
    if isinstance(value, (list, tuple)):
        return value[min(i // per_prompt, len(value) - 1)] if value else None
    return value


class PendingGeneration:
    """Images generated and queued for stamping; :meth:`result` waits and returns the pipeline output."""

    def __init__(self, owner: StampedPipeline, futures: list[Future], jobs: list[StampJob], seeds: list[int],
                 output_type: str, return_dict: bool, raw_output: Any) -> None:
        self._owner, self._futures, self._jobs, self._seeds = owner, futures, jobs, seeds
        self._output_type, self._return_dict, self._raw = output_type, return_dict, raw_output
        self._done: Any = None
        self.images: list[StampedImage] = []

    def result(self) -> Any:
        if self._done is not None:
            return self._done
        outcomes: list[StampOutcome | None] = []
        first_error: BaseException | None = None
        for fut in self._futures:  # wait for all, so no write is left running behind an error
            try:
                outcomes.append(fut.result())
            except BaseException as e:  # noqa: BLE001  (re-raised below, after the others finished)
                outcomes.append(None)
                first_error = first_error or e
        for job, seed, outcome in zip(self._jobs, self._seeds, outcomes):
            if outcome is None:
                continue
            try:
                self._owner._register(outcome, job)
            except ProvenanceError as e:
                first_error = first_error or e
                continue
            if outcome.watermark_detected is False:
                log.warning("%s: its %s mark is not found by the detector in the written pixels (too little "
                            "room for it in this image: busy content near the method's smallest size); its "
                            "C2PA manifest and the registry (sha256, perceptual hash) still identify it",
                            job.path, job.method)
            self.images.append(StampedImage(path=str(job.path), seed=seed, content_id=outcome.result.content_id,
                                            stamp=outcome.result, record=job.record,
                                            watermark_detected=outcome.watermark_detected))
        self._owner.last_images = self.images
        if first_error is not None:
            if isinstance(first_error, ProvenanceError):
                raise first_error
            raise GenerationError(f"stamping failed: {type(first_error).__name__}: {first_error}") from first_error
        self._done = self._owner._build_output(self._raw, [o.rgb for o in outcomes], self._output_type,
                                               self._return_dict)
        return self._done


class StampedPipeline:
    """Wrap a diffusers text-to-image or image-to-image pipeline so that every image is stamped.

    Call it exactly like the pipeline; it returns the same output type, with the stamped pixels.
    Extra keyword ``seed`` (an int for the first image, the next ones counting up, or one per image)
    sets per-image seeds; without it (and without ``generator``) seeds are drawn at random. Each image
    gets its own CPU ``torch.Generator``, so any single image can be reproduced from its seed alone.
    Extra keyword ``parent`` (image-to-image): the file the init ``image`` was read from; it becomes
    the manifest's parent ingredient (with its own Content Credentials, if any) and its name and
    sha256 go into the record.
    """

    def __init__(self, pipe, *, identity: SigningIdentity, out_dir: str | os.PathLike[str],
                 registry: RegistryBackend | None = None, record: GenerationRecord | None = None,
                 method: str = DEFAULT_METHOD, fmt: str = "PNG", quality: int = DEFAULT_QUALITY,
                 executor: str = "process", workers: int | None = None, overwrite: bool = False) -> None:
        require_diffusers()
        fmt = fmt.upper().replace("JPG", "JPEG")
        if fmt not in WRITABLE_FORMATS:
            raise GenerationError(f"fmt must be one of {', '.join(WRITABLE_FORMATS)}, got {fmt!r}")
        if executor not in EXECUTORS:
            raise GenerationError(f"executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
        get_method(method)  # an unknown method fails now, not in a worker
        self.pipe, self.identity, self.registry = pipe, identity, registry
        self.out_dir = Path(out_dir)
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OutputError(f"{self.out_dir}: cannot create the output folder ({e.strerror or e})") from e
        self.method, self.fmt, self.quality, self.overwrite = method, fmt, quality, overwrite
        self.defaults = record or GenerationRecord()
        self.executor_kind = executor
        self.workers = workers or max(1, min(4, (os.cpu_count() or 2) - 1))
        self._pool: Executor | None = None
        self._warm: list[Future] = []
        self._lock = threading.Lock()
        self._next_index = 1 + max((int(m.group(1)) for p in self.out_dir.iterdir()
                                    if (m := _INDEX.match(p.name))), default=0)
        self.last_images: list[StampedImage] = []

    # --- pool ---------------------------------------------------------------------------------

    def _executor(self) -> Executor:
        if self._pool is None:
            if self.executor_kind == "process":
                # Every worker starts now (one warm-up each), while the first batch generates, with
                # one thread per library: the process feeding the GPU keeps its cores.
                with single_threaded_env():
                    self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))
                    self._warm = [self._pool.submit(warm_up, self.method, self.identity)
                                  for _ in range(self.workers)]
            else:
                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="provenance-stamp")
        return self._pool

    def wait_ready(self, timeout: float | None = None) -> None:
        """Start the workers if they are not running and wait until each has warmed up (imports,
        watermark set-up, a first signature). Not needed before generating: a benchmark calls it
        so that the workers' start-up is not timed against the next batch."""
        self._executor()
        for fut in self._warm:
            try:
                fut.result(timeout=timeout)
            except Exception as e:  # noqa: BLE001  (a worker that cannot stamp: say so, typed)
                raise GenerationError(f"a stamping worker failed to start: {type(e).__name__}: {e}") from e

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
            self._warm = []

    def __enter__(self) -> StampedPipeline:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- calling ------------------------------------------------------------------------------

    def __call__(self, *args, **kwargs):
        return self.submit(*args, **kwargs).result()

    def _default(self, name: str) -> Any:
        param = inspect.signature(self.pipe.__call__).parameters.get(name)
        return None if param is None or param.default is inspect.Parameter.empty else param.default

    def _count(self, args: tuple, kwargs: dict) -> tuple[int, int]:
        """(number of images, images per prompt) for this call."""
        per_prompt = int(kwargs.get("num_images_per_prompt") or 1)
        prompt = kwargs.get("prompt", args[0] if args else None)
        if isinstance(prompt, (list, tuple)):
            prompts = len(prompt)
        elif prompt is None and kwargs.get("prompt_embeds") is not None:
            prompts = int(kwargs["prompt_embeds"].shape[0])
        else:
            prompts = 1
        return prompts * per_prompt, per_prompt

    def _seeds(self, seed: Any, generator: Any, n: int) -> tuple[list[int], list]:
        import torch

        if generator is not None:
            if seed is not None:
                raise GenerationError("give seed or generator, not both")
            gens = list(generator) if isinstance(generator, (list, tuple)) else None
            if gens is None or len(gens) != n:
                raise GenerationError(
                    f"pass one torch.Generator per image ({n}) so that each image's seed is known, or pass seed=")
            # initial_seed() is the seed a generator was created with: right only while it is unused
            return [int(g.initial_seed()) for g in gens], gens
        if seed is None:
            seeds = [secrets.randbelow(_MAX_SEED + 1) for _ in range(n)]
        elif isinstance(seed, (list, tuple)):
            if len(seed) != n:
                raise GenerationError(f"{len(seed)} seeds given for {n} images")
            seeds = [int(s) for s in seed]
        else:
            seeds = [int(seed) + i for i in range(n)]
        if any(not 0 <= s <= _MAX_SEED for s in seeds):
            raise GenerationError(f"seeds must be integers from 0 to {_MAX_SEED}")
        return seeds, [torch.Generator("cpu").manual_seed(s) for s in seeds]

    def _reserve(self, seed: int) -> Path:
        ext = WRITABLE_FORMATS[self.fmt][1][0]
        with self._lock:
            while True:
                path = self.out_dir / f"{self._next_index:05d}-{seed}{ext}"
                self._next_index += 1
                if self.overwrite or not path.exists():
                    return path

    def image_size(self, kwargs: dict) -> tuple[int | None, int | None]:
        """(width, height) a call with these keyword arguments makes: as asked, else the init
        image's (image-to-image), else the pipeline's default; None where it cannot be told."""
        width, height = kwargs.get("width"), kwargs.get("height")
        image = kwargs.get("image")
        if image is not None and (width is None or height is None):
            first = image[0] if isinstance(image, (list, tuple)) and image else image
            if hasattr(first, "size") and isinstance(first.size, tuple):  # PIL
                width, height = width or first.size[0], height or first.size[1]
            elif hasattr(first, "shape") and len(first.shape) >= 2:  # tensor C x H x W / array H x W x C
                h, w = (first.shape[-2], first.shape[-1]) if hasattr(first, "detach") else first.shape[:2]
                width, height = width or int(w), height or int(h)
        if width is None or height is None:
            scale = int(getattr(self.pipe, "vae_scale_factor", 8) or 8)
            sample = getattr(self.pipe, "default_sample_size", None) or getattr(
                getattr(getattr(self.pipe, "unet", None), "config", None), "sample_size", None)
            if isinstance(sample, (list, tuple)):
                sample = sample[0]
            if isinstance(sample, int):
                width, height = width or sample * scale, height or sample * scale
        return width, height

    def check_size(self, width: int | None, height: int | None) -> None:
        """Refuse, before any generating, a size the pipeline cannot make (not a multiple of its
        VAE's factor) or the watermark method cannot carry (below its ``min_size``)."""
        scale = int(getattr(self.pipe, "vae_scale_factor", 8) or 8)
        for name, value in (("width", width), ("height", height)):
            if value is not None and (value < scale or value % scale):
                raise GenerationError(f"{name} {value} is not a positive multiple of {scale} (the pipeline's VAE "
                                      f"factor); try {max(scale, round(value / scale) * scale)}")
        min_w, min_h = get_method(self.method).min_size
        if width is not None and height is not None and (width < min_w or height < min_h):
            raise GenerationError(f"{width}x{height} is below what the {self.method} watermark needs "
                                  f"({min_w}x{min_h} at least); generate at least that size")

    def submit(self, *args, seed: int | list[int] | None = None, parent: str | os.PathLike[str] | None = None,
               **kwargs) -> PendingGeneration:
        """Run the pipeline now and queue its images for stamping; ``.result()`` waits for them."""
        import torch

        parent_path = Path(parent) if parent is not None else None
        if parent_path is not None and not parent_path.is_file():
            raise GenerationError(f"{parent_path}: no such parent image")
        output_type = kwargs.pop("output_type", "pil")
        if output_type == "latent":
            raise GenerationError(
                'output_type="latent" is refused: images are stamped after the final decode, so the step that '
                "decodes these latents (a refiner, an upscaler) must stamp instead; wrap that pipeline, or use "
                'output_type "pil", "np" or "pt"')
        if output_type not in OUTPUT_TYPES:
            raise GenerationError(f"output_type must be one of {', '.join(OUTPUT_TYPES)}, got {output_type!r}")
        return_dict = kwargs.pop("return_dict", True)
        self.check_size(*self.image_size(kwargs))
        n, per_prompt = self._count(args, kwargs)
        seeds, generators = self._seeds(seed, kwargs.pop("generator", None), n)

        pool = self._executor()
        cuda = torch.cuda.is_available() and str(getattr(self.pipe, "_execution_device", "cpu")).startswith("cuda")
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        try:
            out = self.pipe(*args, generator=generators, output_type="pt", return_dict=True, **kwargs)
        except ValueError as e:  # diffusers' own argument checks (sizes, prompt lengths, strength, ...)
            raise GenerationError(f"the pipeline refused the call: {e}") from e
        if cuda:
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        peak = round(torch.cuda.max_memory_allocated() / 2**20, 1) if cuda else None
        pixels = _to_uint8(out.images)
        if len(pixels) != n:
            raise GenerationError(f"the pipeline returned {len(pixels)} images for {n} seeds")

        base = describe_pipeline(self.pipe).to_dict()
        base.update(self.defaults.to_dict())
        # per call, these describe the pipeline as it ran, whatever the defaults said
        base.update({k: v for k, v in describe_pipeline(self.pipe).to_dict().items()
                     if k in ("pipeline", "scheduler", "scheduler_config")})
        prompt = kwargs.get("prompt", args[0] if args else None)
        steps = kwargs.get("num_inference_steps", self._default("num_inference_steps"))
        guidance = kwargs.get("guidance_scale", self._default("guidance_scale"))
        extra = dict(base.get("extra") or {})
        extra.update(rng="torch.Generator(cpu) per image", batch_size=n)
        if "strength" in kwargs or "image" in kwargs:
            extra.update(mode="image-to-image", strength=kwargs.get("strength", self._default("strength")))
        if parent_path is not None:
            extra["init_image"] = {"name": parent_path.name, "sha256": file_sha256(parent_path)}
        jobs, futures = [], []
        for i, (rgb, s) in enumerate(zip(pixels, seeds)):
            rec = GenerationRecord.from_dict({
                **base, "prompt": _first(prompt, i, per_prompt),
                "negative_prompt": _first(kwargs.get("negative_prompt"), i, per_prompt),
                "steps": steps, "guidance": guidance, "seed": s, "width": int(rgb.shape[1]),
                "height": int(rgb.shape[0]), "seconds": round(seconds / n, 4), "peak_vram_mb": peak,
                "extra": extra,
            })
            job = StampJob(rgb=rgb, path=self._reserve(s), fmt=self.fmt, identity=self.identity, record=rec,
                           method=self.method, quality=self.quality, overwrite=self.overwrite, parent=parent_path)
            jobs.append(job)
            futures.append(pool.submit(run_stamp_job, job))
        log.debug("generated %d image(s) in %.2f s; stamping in %s workers", n, seconds, self.executor_kind)
        return PendingGeneration(self, futures, jobs, seeds, output_type, return_dict, out)

    # --- after stamping -------------------------------------------------------------------------

    def _register(self, outcome: StampOutcome, job: StampJob) -> None:
        if self.registry is None:
            return
        r = outcome.result
        row = StampRecord(
            content_id=r.content_id, sha256=r.sha256, phash=r.phash, method=r.method, format=r.format,
            width=r.width, height=r.height, signer=r.signer,
            created_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds"),
            output_path=str(job.path.resolve()), source_path=None,
            manifest_json=json.dumps(outcome.manifest, ensure_ascii=False), pdq=r.pdq, pdq_quality=r.pdq_quality,
        )
        try:
            self.registry.add(row, manifest=(r.manifest_id, r.manifest_store, r.bindings)
                              if r.manifest_id and r.manifest_store else None)
        except ProvenanceError:
            job.path.unlink(missing_ok=True)  # never leave a stamped file the registry does not know
            raise
        r.registry = self.registry.location

    @staticmethod
    def _build_output(raw: Any, stamped: list[np.ndarray], output_type: str, return_dict: bool) -> Any:
        if output_type == "pil":
            from PIL import Image

            images: Any = [Image.fromarray(a) for a in stamped]
        elif output_type == "np":
            images = np.stack(stamped).astype(np.float32) / 255.0
        else:
            import torch

            images = torch.from_numpy(np.stack(stamped)).permute(0, 3, 1, 2).float() / 255.0
        raw.images = images
        if return_dict:
            return raw
        return tuple(images if f.name == "images" else getattr(raw, f.name) for f in dataclasses.fields(raw))
