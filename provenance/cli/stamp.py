"""``provenance stamp``: watermark, metadata and a signed C2PA manifest on an existing image."""
from __future__ import annotations

from ._base import (EXIT_ERROR, EXIT_OK, add_command, add_json, add_key_options, add_max_pixels, add_registry_option,
                    print_json, quality, signing_identity)


def _record_from_args(args):
    from provenance import GenerationRecord

    record = GenerationRecord.from_json_file(args.params) if args.params else GenerationRecord()
    return record.merged(
        model=args.model, prompt=args.prompt, negative_prompt=args.negative_prompt, seed=args.seed,
        steps=args.steps, guidance=args.guidance, scheduler=args.scheduler, source=args.source,
        generator=args.generator,
        loras=[_parse_lora(s) for s in args.lora] if args.lora else None,
    )


def _parse_lora(text: str) -> dict:
    name, sep, weight = text.rpartition(":")
    if not sep:
        return {"name": text}
    try:
        return {"name": name, "weight": float(weight)}
    except ValueError:
        return {"name": text}


def cmd_stamp(args) -> int:
    from provenance import ProvenanceError

    try:
        return _stamp(args)
    except ProvenanceError as e:
        if args.json:  # a script reading stdout gets an answer either way
            print_json({"file": args.src, "output": args.output, "error": str(e), "error_type": type(e).__name__})
        raise


def _stamp(args) -> int:
    from provenance import open_registry, stamp_file

    record = _record_from_args(args)
    identity = signing_identity(args)
    action = {"edited": "c2pa.edited", "resized": "c2pa.resized"}[args.parent_action]
    registry = None if args.no_registry else open_registry(args.registry)
    try:
        result = stamp_file(args.src, args.output, identity=identity, record=record, method=args.method,
                            fmt=args.format, quality=args.quality, overwrite=args.overwrite,
                            parent=args.parent, parent_action=action, thumbnail=args.thumbnail,
                            registry=registry, max_pixels=args.max_pixels, from_metadata=args.from_metadata)
    finally:
        if registry is not None:
            registry.close()
    failed = publish_result(result, args)
    if args.json:
        print_json(result.to_dict())
    else:
        print(f"{result.output}: stamped ({result.format} {result.width}x{result.height}, "
              f"watermark {result.method}, content id {result.content_id}, signed by {result.signer})")
        for p in result.published:
            print(f"  published to {p['endpoint']} as {p['manifest_id']}" if "manifest_id" in p
                  else f"  not published to {p['endpoint']}: {p['error']}")
    return EXIT_ERROR if failed else EXIT_OK


def publish_result(result, args) -> bool:
    """Publish a stamp to every --publish service, recording each outcome in ``result.published``;
    True when one failed (the stamp itself stands: the file and the local registry have it)."""
    import sys

    from provenance import ProvenanceError
    from provenance._publish import publish_stamp, publish_token

    if not args.publish:
        return False
    token = publish_token(args.publish_token_file)
    failed = False
    for url in args.publish:
        try:
            if not result.manifest_store:
                raise ProvenanceError("no manifest store to publish")
            result.published.append(publish_stamp(url, result.manifest_store, result.bindings, token=token))
        except ProvenanceError as e:
            failed = True
            result.published.append({"endpoint": url, "error": str(e)})
            print(f"provenance: error: {result.output}: not published to {url}: {e}", file=sys.stderr)
    return failed


def add_publish_options(p) -> None:
    p.add_argument("--publish", action="append", metavar="URL",
                   help="also publish the signed manifest and its soft bindings to this Soft Binding Resolution "
                        "service (provenance serve; repeatable)")
    p.add_argument("--publish-token-file", metavar="F",
                   help="file holding the service's store token (or set PROVENANCE_PUBLISH_TOKEN)")


def register(commands) -> None:
    from provenance.watermark import DEFAULT_METHOD, method_names

    p = add_command(commands, "stamp", cmd_stamp,
                    "watermark an image, write EXIF/XMP/PNG metadata and a signed C2PA manifest, record it in the registry",
                    'provenance stamp out.png -o out.stamped.png --model "sdxl-base-1.0" --params params.json')
    p.add_argument("src", help="image to stamp (PNG, JPEG, WebP, ...); never modified")
    p.add_argument("-o", "--output", required=True, help="stamped image to write (.png, .jpg or .webp)")
    p.add_argument("--from-metadata", action="store_true",
                   help="start the generation record from the image's own generator metadata (AUTOMATIC1111/Forge "
                        "parameters, ComfyUI prompt/workflow, InvokeAI, Fooocus, ...): tool, prompts, every "
                        "checkpoint with its role and hash, LoRAs, ControlNets, sampler, steps, CFG, seed, size, "
                        "upscaler; --params and the flags below override it; the source's metadata is kept")
    p.add_argument("--params", help="JSON file with the generation record (prompt, seed, steps, loras, ...)")
    p.add_argument("--model", help="model name or id")
    p.add_argument("--prompt")
    p.add_argument("--negative-prompt")
    p.add_argument("--seed", type=int)
    p.add_argument("--steps", type=int)
    p.add_argument("--guidance", type=float, help="CFG scale")
    p.add_argument("--scheduler", help="sampler / scheduler name")
    p.add_argument("--lora", action="append", metavar="NAME[:WEIGHT]", help="LoRA used (repeatable)")
    p.add_argument("--generator", help="tool that made the image (diffusers, A1111, ComfyUI, an API name)")
    p.add_argument("--source", choices=["local", "api"], help="generated locally or by an API")
    p.add_argument("--method", default=DEFAULT_METHOD, choices=method_names(), help="watermark method")
    p.add_argument("--format", choices=["png", "jpeg", "jpg", "webp"], help="output format (default: from the name)")
    p.add_argument("--quality", type=quality, default=95, help="JPEG/WebP quality 1-100 (default 95)")
    p.add_argument("--parent", help="image this one was made from (added as a C2PA ingredient)")
    p.add_argument("--parent-action", choices=["edited", "resized"], default="edited",
                   help="what was done to the parent: resized for an upscale (default edited)")
    p.add_argument("--thumbnail", action="store_true", help="embed a C2PA thumbnail (slower, larger)")
    add_registry_option(p)
    p.add_argument("--no-registry", action="store_true", help="do not record the stamp in the registry")
    p.add_argument("--overwrite", action="store_true", help="replace the output if it exists")
    add_publish_options(p)
    add_max_pixels(p)
    add_key_options(p)
    add_json(p)
