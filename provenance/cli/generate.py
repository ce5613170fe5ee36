"""``provenance generate`` and ``provenance bench``: diffusers pipelines, stamped at the source."""
from __future__ import annotations

from ._base import (EXIT_ERROR, EXIT_OK, UsageError, add_command, add_json, add_key_options, add_registry_option,
                    print_json, signing_identity)


def _load_for_generation(args):
    from provenance.generate import LoraSpec, load_pipeline

    if not args.verbose:  # transformers' advice about optional backends (torchvision, ...) is not ours
        try:
            from transformers.utils import logging as transformers_logging

            transformers_logging.set_verbosity_error()
        except ImportError:
            pass

    return load_pipeline(
        args.model, single_file=args.single_file, loras=[LoraSpec.parse(s) for s in (args.lora or [])],
        dtype=args.dtype, device=args.device, offload=args.offload, vae_tiling=args.vae_tiling,
        vae_slicing=getattr(args, "vae_slicing", False), attention_slicing=getattr(args, "attention_slicing", False),
        scheduler=args.scheduler,
        quantization=args.quantize, local_files_only=True if args.offline else None,
        hash_model=not args.no_hash,
        task="image-to-image" if getattr(args, "init_image", None) else "text-to-image")


def _add_model_options(p) -> None:
    from provenance.generate import DTYPES, OFFLOAD_MODES, QUANTIZATIONS, SCHEDULER_ALIASES

    p.add_argument("--model", required=True,
                   help="hub id or local diffusers folder (with --single-file: the checkpoint's architecture)")
    p.add_argument("--single-file", metavar="FILE", help="single-file checkpoint (.safetensors/.ckpt) to load")
    p.add_argument("--lora", action="append", metavar="FILE[:WEIGHT]", help="LoRA file and weight (repeatable)")
    p.add_argument("--dtype", choices=DTYPES, default="fp32", help="weights and compute precision (default fp32)")
    p.add_argument("--device", help="torch device (default: cuda, then mps, then cpu)")
    p.add_argument("--offload", choices=OFFLOAD_MODES, help="CPU offload for small-VRAM GPUs")
    p.add_argument("--vae-tiling", action="store_true", help="decode in tiles (large images on small GPUs)")
    p.add_argument("--scheduler", metavar="NAME",
                   help=f"diffusers scheduler class name or one of {', '.join(SCHEDULER_ALIASES)}")
    p.add_argument("--quantize", choices=QUANTIZATIONS, help="bitsandbytes quantisation of the UNet/transformer")
    p.add_argument("--offline", action="store_true", help="never download (also: HF_HUB_OFFLINE=1)")
    p.add_argument("--no-hash", action="store_true", help="do not hash the model files for the record")
    p.add_argument("--workers", type=int, help="stamping worker processes (default: CPUs - 1, at most 4)")


def cmd_generate(args) -> int:
    from provenance import open_registry
    from provenance.generate import StampedPipeline, read_init_image

    if args.batch < 1:
        raise UsageError("--batch must be at least 1")
    if args.strength is not None and (args.init_image is None or not 0 < args.strength <= 1):
        raise UsageError("--strength needs --init-image and lies in (0, 1]")
    _check_generate_size(args)
    identity = signing_identity(args)
    call = {"prompt": args.prompt, "negative_prompt": args.negative_prompt, "num_inference_steps": args.steps,
            "guidance_scale": args.guidance, "width": args.width, "height": args.height,
            "num_images_per_prompt": args.batch}
    if args.init_image is not None:  # image-to-image: the size is the init image's
        call.update(image=read_init_image(args.init_image, width=call.pop("width"), height=call.pop("height")),
                    strength=args.strength, parent=args.init_image)
    loaded = _load_for_generation(args)
    if args.quiet_progress:
        loaded.pipe.set_progress_bar_config(disable=True)
    registry = None if args.no_registry else open_registry(args.registry)
    try:
        with StampedPipeline(loaded.pipe, identity=identity, out_dir=args.out_dir, registry=registry,
                             record=loaded.record, method=args.method, fmt=args.format,
                             workers=args.workers) as stamped:
            stamped(**{k: v for k, v in call.items() if v is not None}, seed=args.seed)
            images = stamped.last_images
    finally:
        if registry is not None:
            registry.close()
    from .stamp import publish_result

    failed = any([publish_result(i.stamp, args) for i in images])
    if args.json:
        print_json({"model": loaded.record.model, "load_seconds": loaded.load_seconds,
                     "images": [{"file": i.path, "seed": i.seed, "content_id": i.content_id,
                                 "sha256": i.stamp.sha256, "watermark_detected": i.watermark_detected,
                                 "record": i.record.to_dict(), "published": i.stamp.published} for i in images]})
    else:
        for i in images:
            missing = ", WATERMARK NOT DETECTABLE" if i.watermark_detected is False else ""
            print(f"{i.path}: seed {i.seed}, content id {i.content_id}, {i.stamp.width}x{i.stamp.height}, "
                  f"{i.record.seconds:.2f} s/image, signed by {i.stamp.signer}{missing}")
            for p in i.stamp.published:
                if "manifest_id" in p:
                    print(f"  published to {p['endpoint']} as {p['manifest_id']}")
    return EXIT_ERROR if failed else EXIT_OK


def _check_generate_size(args) -> None:
    """--width/--height that no pipeline accepts (not a multiple of 8) or that the watermark cannot
    carry (below the method's minimum) are usage errors, before any model is loaded."""
    from provenance.watermark import get_method

    min_w, min_h = get_method(args.method).min_size
    for flag, value, least in (("--width", args.width, min_w), ("--height", args.height, min_h)):
        if value is None:
            continue
        if value % 8:
            raise UsageError(f"{flag} {value}: must be a multiple of 8 (the VAE's factor); try {value // 8 * 8 or 8}")
        if value < least:
            raise UsageError(f"{flag} {value}: the {args.method} watermark needs at least {min_w}x{min_h}")


def cmd_bench(args) -> int:
    from provenance.generate import bench_generation

    if min(args.size + args.steps + args.batch) < 1 or min(args.repeats, args.rounds) < 1:
        raise UsageError("--size, --steps, --batch, --repeats and --rounds must be positive")
    loaded = _load_for_generation(args)
    loaded.pipe.set_progress_bar_config(disable=True)
    rows = bench_generation(loaded, sizes=args.size, steps=args.steps, batches=args.batch, repeats=args.repeats,
                            rounds=args.rounds, gpu_hour_cost=args.gpu_hour_cost, workers=args.workers)
    if args.json:
        print_json({"model": loaded.record.model, "device": loaded.record.device,
                     "torch_version": loaded.record.torch_version,
                     "diffusers_version": loaded.record.diffusers_version, "rows": [r.to_dict() for r in rows]})
        return EXIT_OK
    print(f"{loaded.record.model} on {loaded.record.device} ({loaded.record.precision})")
    cost = args.gpu_hour_cost is not None
    print(f"{'size':>5} {'steps':>5} {'batch':>5} {'s/img':>8} {'+stamp':>8} {'img/min':>8} {'overhead':>8} "
          f"{'steady':>8} {'peak MiB':>9}" + (f" {'$/1000':>8} {'+stamp':>8}" if cost else ""))
    for r in rows:
        vram = f"{r.peak_vram_mb:.0f}" if r.peak_vram_mb is not None else "-"
        line = (f"{r.size:>5} {r.steps:>5} {r.batch:>5} {r.s_per_image:>8.3f} {r.s_per_image_stamped:>8.3f} "
                f"{r.images_per_min:>8.1f} {r.overhead:>8.1%} {r.overhead_steady:>8.1%} {vram:>9}")
        if cost:
            line += f" {r.cost_per_1000:>8.3f} {r.cost_per_1000_stamped:>8.3f}"
        print(line)
    return EXIT_OK


def register(commands) -> None:
    from provenance.watermark import DEFAULT_METHOD, method_names

    p = add_command(commands, "generate", cmd_generate,
                    "generate images with a diffusers pipeline, each stamped (watermark, metadata, signed C2PA) and "
                    "recorded in the registry",
                    'provenance generate --model stabilityai/stable-diffusion-xl-base-1.0 --prompt "a lighthouse at dusk" '
                    "--steps 30 --seed 7 --width 1024 --height 1024 --batch 4 --dtype fp16 --out-dir out/\n"
                    "  provenance generate --model ./sd15-configs --single-file dreamshaper_8.safetensors "
                    '--lora cinematic.safetensors:0.8 --prompt "..." --out-dir out/\n'
                    '  provenance generate --model ./my-local-sd15 --init-image sketch.png --strength 0.6 --prompt "..."')
    _add_model_options(p)
    p.add_argument("--prompt", required=True)
    p.add_argument("--negative-prompt")
    p.add_argument("--steps", type=int, help="inference steps (default: the pipeline's)")
    p.add_argument("--guidance", type=float, help="CFG scale (default: the pipeline's)")
    p.add_argument("--seed", type=int, help="seed of the first image; the others count up (default: random)")
    p.add_argument("--width", type=int)
    p.add_argument("--height", type=int)
    p.add_argument("--batch", type=int, default=1, help="images in one call (default 1)")
    p.add_argument("--init-image", metavar="FILE",
                   help="image-to-image: start from this image (resized to --width/--height if given); it is "
                        "recorded as the C2PA parent ingredient")
    p.add_argument("--strength", type=float,
                   help="image-to-image: how much of the init image is repainted, 0-1 (default: the pipeline's)")
    p.add_argument("--out-dir", default="out", help="folder for the images (default out/)")
    p.add_argument("--format", choices=["png", "jpeg", "webp"], default="png", help="image format (default png)")
    p.add_argument("--method", default=DEFAULT_METHOD, choices=method_names(), help="watermark method")
    p.add_argument("--vae-slicing", action="store_true", help="decode a batch one image at a time")
    p.add_argument("--attention-slicing", action="store_true", help="compute attention in slices (less memory)")
    add_registry_option(p)
    p.add_argument("--no-registry", action="store_true", help="do not record the stamps in the registry")
    from .stamp import add_publish_options

    add_publish_options(p)
    p.add_argument("--quiet-progress", action="store_true", help="no progress bar on stderr")
    add_key_options(p)
    add_json(p)
    p = add_command(commands, "bench", cmd_bench,
                    "hardware cost of generating, alone and with stamping, in the same run: s/image, images/min, "
                    "peak VRAM, cost per 1,000 images",
                    "provenance bench --model ./my-local-sd15 --size 512 --steps 30 --batch 8 --gpu-hour-cost 2.5")
    _add_model_options(p)
    p.add_argument("--size", type=int, nargs="+", default=[512], help="square image sizes (default 512)")
    p.add_argument("--steps", type=int, nargs="+", default=[30], help="inference steps (default 30)")
    p.add_argument("--batch", type=int, nargs="+", default=[1], help="batch sizes (default 1)")
    p.add_argument("--repeats", type=int, default=2, help="batches timed per grid point (default 2)")
    p.add_argument("--rounds", type=int, default=1,
                   help="alternate plain and stamped measurements this many times (default 1); each round's "
                        "overhead is reported, so their spread shows the noise")
    p.add_argument("--gpu-hour-cost", type=float, help="price of an hour of this device, for cost per 1,000 images")
    add_json(p)
