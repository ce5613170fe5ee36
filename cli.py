"""Command-line interface: a thin adapter over the ``provenance`` library.

Results go to stdout (``--json`` for machines), logs to stderr. Exit codes:
0 ok; 1 operational error; 2 usage error; 3 finished but something was flagged (with ``--fail-on``);
130 interrupted (Ctrl-C).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import textwrap
from pathlib import Path
from typing import Callable

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_FLAGGED = 0, 1, 2, 3
PASSPHRASE_ENV = "PROVENANCE_KEY_PASSPHRASE"

log = logging.getLogger("provenance.cli")


class UsageError(Exception):
    """A mistake in the command line that argparse cannot see (exit code 2)."""


def _print_json(obj) -> None:
    from provenance._text import dumps_json

    sys.stdout.write(dumps_json(obj, indent=2, default=str) + "\n")


def _passphrase(args) -> str | None:
    """The key's passphrase from ``--passphrase-file`` or the environment. A passphrase file that
    other users can read is refused, as ssh refuses such a private key: the passphrase is only as
    secret as the file."""
    from provenance import PassphraseError

    path = getattr(args, "passphrase_file", None)
    if path:
        try:
            mode = os.stat(path).st_mode
            if os.name == "posix" and mode & 0o077:
                raise PassphraseError(f"--passphrase-file {path}: readable by other users (mode {mode & 0o777:o}); "
                                      f"make it private first: chmod 600 {path}")
            return Path(path).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as e:
            raise UsageError(f"--passphrase-file {path}: cannot read ({e.strerror or e})") from e
    return os.environ.get(PASSPHRASE_ENV) or None


def _identity(args):
    from provenance import load_identity

    cert, key = getattr(args, "cert", None), getattr(args, "key", None)
    return load_identity(cert=Path(cert) if cert else None, key=Path(key) if key else None,
                         passphrase=_passphrase(args))


# --- keys -------------------------------------------------------------------------------------

def cmd_keys_init(args) -> int:
    from provenance import describe_keys, import_keys, init_keys

    if (args.cert is None) != (args.key is None):
        raise UsageError("give both --cert and --key to import your own key, or neither to create one")
    if args.cert:
        directory = import_keys(cert=Path(args.cert), key=Path(args.key), passphrase=_passphrase(args),
                                overwrite=args.overwrite)
    else:
        directory = init_keys(org=args.org, passphrase=_passphrase(args), overwrite=args.overwrite)
    info = describe_keys(directory)
    if args.json:
        _print_json(info)
    else:
        print(f"keys written to {directory}")
        _print_key_info(info)
        if info["trust_anchor"]:
            print(f"verifiers should trust: {info['trust_anchor']}")
    return EXIT_OK


def _print_key_info(info: dict) -> None:
    print(f"private key: {info['key_file']} (mode {info['key_mode']}, "
          f"{'encrypted' if info['key_encrypted'] else 'not encrypted'})")
    for i, c in enumerate(info["certificates"]):
        role = "signing certificate" if i == 0 else ("root CA" if c["is_ca"] else "certificate")
        print(f"{role}:\n  subject:  {c['subject']}\n  issuer:   {c['issuer']}\n"
              f"  valid:    {c['not_before']} .. {c['not_after']}\n  sha256:   {c['sha256_fingerprint']}")


def cmd_keys_show(args) -> int:
    from provenance import describe_keys

    info = describe_keys()
    _print_json(info) if args.json else _print_key_info(info)
    return EXIT_OK


# --- stamp ------------------------------------------------------------------------------------

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
            _print_json({"file": args.src, "output": args.output, "error": str(e), "error_type": type(e).__name__})
        raise


def _stamp(args) -> int:
    from provenance import Registry, stamp_file

    record = _record_from_args(args)
    identity = _identity(args)
    action = {"edited": "c2pa.edited", "resized": "c2pa.resized"}[args.parent_action]
    registry = None if args.no_registry else Registry()
    try:
        result = stamp_file(args.src, args.output, identity=identity, record=record, method=args.method,
                            fmt=args.format, quality=args.quality, overwrite=args.overwrite,
                            parent=args.parent, parent_action=action, thumbnail=args.thumbnail,
                            registry=registry, max_pixels=args.max_pixels)
    finally:
        if registry is not None:
            registry.close()
    if args.json:
        _print_json(result.to_dict())
    else:
        print(f"{result.output}: stamped ({result.format} {result.width}x{result.height}, "
              f"watermark {result.method}, content id {result.content_id}, signed by {result.signer})")
    return EXIT_OK


# --- watermark --------------------------------------------------------------------------------

def cmd_watermark_embed(args) -> int:
    from provenance import load_image, new_content_id
    from provenance._imageio import atomic_write, check_output_path, format_for_suffix
    from provenance._metadata import encode_image
    from provenance._payload import normalize_content_id
    from provenance.watermark import embed_watermark, get_method

    fmt = (args.format or format_for_suffix(args.dst) or "").upper().replace("JPG", "JPEG")
    if fmt not in ("PNG", "JPEG", "WEBP"):
        raise UsageError(f"{args.dst}: cannot tell the output format; use .png, .jpg or .webp, or --format")
    try:
        content_id = normalize_content_id(args.content_id) if args.content_id else new_content_id()
    except ValueError as e:
        raise UsageError(f"--content-id: {e}") from e
    check_output_path(args.dst, overwrite=args.overwrite)
    image = load_image(args.src)
    marked = embed_watermark(image.rgb, content_id, method=args.method)
    data = encode_image(marked, fmt, alpha=image.alpha, icc_profile=image.icc_profile, quality=args.quality)
    atomic_write(args.dst, data, overwrite=args.overwrite)
    codec = get_method(args.method).codec
    # What detect will report: the whole id, or (provenanceWM, 32-bit methods) the prefix it carries.
    out = {"file": str(args.dst), "scheme": args.method, "content_id": content_id,
           "payload": content_id[: codec.id_hex_len], "partial": codec.is_partial}
    carried = f" (the mark carries its first {codec.id_bits} bits)" if codec.is_partial else ""
    _print_json(out) if args.json else print(f"{args.dst}: watermark {args.method}, content id {content_id}{carried}")
    return EXIT_OK


def _write_watermark_map(rgb, wmap, path: str, *, overwrite: bool) -> dict:
    """provenanceWM's missing-mark map ``wmap`` of ``rgb``: its summary, and a PNG overlay at
    ``path`` (written atomically, only when the mark was found: without it there is nothing to map)."""
    from provenance._imageio import atomic_write
    from provenance._metadata import encode_image
    from provenance.watermark import render_map

    out = wmap.to_dict()
    out["file"] = None
    if wmap.detected:
        atomic_write(path, encode_image(render_map(rgb, wmap), "PNG"), overwrite=overwrite)
        out["file"] = path
    else:
        log.warning("%s: no provenanceWM mark found, so no map written", path)
    return out


def cmd_watermark_detect(args) -> int:
    from provenance import ProvenanceError, load_image
    from provenance._imageio import check_output_path
    from provenance.watermark import detect_watermarks, localize_watermark

    if args.map:
        if len(args.files) != 1:
            raise UsageError("--map needs exactly one FILE")
        check_output_path(args.map, overwrite=args.overwrite)
    results, failed = [], False
    for f in args.files:
        try:
            image = load_image(f)
            # The map detects provenanceWM (geometric search included) on its way: reported as
            # that method's result rather than detected a second time.
            wmap = localize_watermark(image.rgb) if args.map else None
            marks = detect_watermarks(image.rgb, methods=args.method or None, fast=args.fast,
                                      known={wmap.detection.scheme: wmap.detection} if wmap else None)
            results.append({"file": f, "watermarks": [m.to_dict() for m in marks]})
            if wmap is not None:
                results[-1]["map"] = _write_watermark_map(image.rgb, wmap, args.map, overwrite=args.overwrite)
        except ProvenanceError as e:
            failed = True
            results.append({"file": f, "error": str(e), "watermarks": []})
            if not args.json:  # said once, on stderr, as it happens; --json carries it in the output
                print(f"provenance: error: {e}", file=sys.stderr)
    if args.json:
        _print_json(results)
    else:
        for r in results:
            if "error" in r:
                continue
            found = [w for w in r["watermarks"] if w["detected"]]
            if not found:
                print(f"{r['file']}: no watermark found ({', '.join(w['scheme'] for w in r['watermarks'])})")
            for w in found:
                kind = "id prefix" if w["partial"] else "content id"
                print(f"{r['file']}: {w['scheme']} {kind} {w['payload']} ({w['bit_errors']} bit errors corrected, "
                      f"false-positive rate {w['false_positive_rate']:.1e})")
            m = r.get("map")
            if m and m["file"]:
                print(f"{r['file']}: provenanceWM mark missing in {m['blocks_missing']} of {m['rows'] * m['cols']} "
                      f"blocks of ~{m['block_px']:.0f} px ({100 * m['missing_share']:.0f}%; "
                      f"{m['blocks_uncertain']} too busy to tell); map: {m['file']}")
            elif m:
                print(f"{r['file']}: no provenanceWM mark, no map written")
    return EXIT_ERROR if failed else EXIT_OK


def cmd_watermark_methods(args) -> int:
    from provenance.watermark import DEFAULT_METHOD, get_method, method_names

    rows = []
    for name in method_names():
        m = get_method(name)
        rows.append({"name": name, "default": name == DEFAULT_METHOD, "summary": m.summary,
                     "payload_bits": m.codec.bits, "code": m.codec.name, "id_hex_digits": m.codec.id_hex_len,
                     "false_positive_rate": m.codec.false_positive_rate,
                     "min_size": list(m.min_size), "available": m.available(), "extra": m.extra_name,
                     "scanned_by_default": m.scan_by_default})
    if args.json:
        _print_json(rows)
    else:
        for r in rows:
            flag = " (default)" if r["default"] else ""
            avail = ("" if r["available"] else f"  [not installed: pip install 'provenance-tool[{r['extra']}]']") + \
                    ("" if r["scanned_by_default"] else "  [only with --method]")
            print(f"{r['name']}{flag}: {r['summary']}; {r['code']}, false-positive rate "
                  f"{r['false_positive_rate']:.1e}, min {r['min_size'][0]}x{r['min_size'][1]}{avail}")
    return EXIT_OK


# --- verify -----------------------------------------------------------------------------------

FAIL_ON = ("ai", "tampered", "invalid", "error", "unknown")
#: audit can also fail on images it did not analyse (hidden ones with --skip-hidden, links not followed).
AUDIT_FAIL_ON = FAIL_ON + ("skipped",)


def _fail_on_parser(choices: tuple[str, ...]) -> Callable[[str], set[str]]:
    def parse(text: str) -> set[str]:
        chosen = {t.strip() for t in text.split(",") if t.strip()}
        bad = chosen - set(choices)
        if bad or not chosen:
            raise argparse.ArgumentTypeError(f"choose from {','.join(choices)}; got {text!r}")
        return chosen
    return parse


_fail_on = _fail_on_parser(FAIL_ON)


def _print_report(r: dict) -> None:
    unread = [e for e in r["errors"] if e["collector"] == "read"]
    if unread:  # nothing was analysed, so there is no verdict to show
        print(f"provenance: error: {unread[0]['error']}", file=sys.stderr)
        return
    v = r["verdict"]
    print(f"{r['file']}: {v['label'].upper()} (confidence {v['confidence']:.2f})")
    print(f"  {v['summary']}")
    how = {k: val for k, val in v["how"].items() if val not in (None, "unknown", [])}
    if how:
        print("  how: " + ", ".join(f"{k}={val}" for k, val in how.items()))
    c = r["c2pa"]
    if c.get("status") != "absent":
        signer = (c.get("signer") or {}).get("common_name")
        print(f"  c2pa: {c['status']}" + (f", signed by {signer}" if signer else "")
              + (f", codes {', '.join(c['codes'])}" if c.get("codes") else ""))
    for w in r["watermarks"]:
        if w.get("detected"):
            kind = "id prefix " if w.get("partial") else ""
            flip = (w.get("extra") or {}).get("flip")
            print(f"  watermark: {w['scheme']} {kind}{w.get('payload')} "
                  f"(false-positive rate {w['false_positive_rate']:.1e}{'; the copy is flipped ' + flip if flip else ''})")
    gen = (r.get("metadata") or {}).get("generator")
    if gen:
        print(f"  metadata: written by {gen.get('tool')}" + (f", model {gen['model']}" if gen.get("model") else ""))
    reg = r["registry"]
    if reg.get("match") == "watermark":
        rec = reg.get("record") or {}
        print(f"  registry: watermark match, stamp {rec.get('content_id')} ({rec.get('output_path')})")
    elif reg.get("match") == "fingerprint":
        print("  registry: the stamped file itself" if reg.get("identical_file") else
              "  registry: looks like (by PDQ / pHash; not itself evidence of AI), best first:")
    for c in reg.get("candidates") or [] if reg.get("match") == "fingerprint" else []:
        dist = ", ".join(f"{name} distance {c[key]}" for name, key in
                         (("PDQ", "pdq_distance"), ("pHash", "phash_distance"), ("sha256", "distance"))
                         if c.get(key) is not None)
        print(f"    stamp {c['content_id']} ({dist}{'; ' + c['pdq_transform'] if c.get('pdq_transform') else ''}), "
              f"stamped {c.get('created_at')}, {c.get('output_path')}")
    f = r.get("forensics") or {}
    if f.get("p_ai") is not None:
        print(f"  forensics: p_ai={f['p_ai']:.2f} (an estimate)")
    for conflict in v["conflicts"]:
        print(f"  conflict: {conflict}")
    for e in r["errors"]:
        print(f"  error ({e['collector']}): {e['error']}")


def cmd_verify(args) -> int:
    from provenance._trust import trust_anchors
    from provenance._verify import VerifyOptions, verify_file

    pem, _sources = trust_anchors(args.trust)
    registry, note = (None, "registry lookup disabled") if args.no_registry else _existing_registry()
    options = VerifyOptions(trust_anchors_pem=pem, registry=registry, forensics=not args.no_forensics,
                            watermark_methods=args.method or None, fast_watermarks=args.fast,
                            max_pixels=args.max_pixels, registry_note=note or "registry lookup disabled")
    flagged = errored = False
    reports = []
    try:
        for f in args.files:
            report = verify_file(f, options=options)
            errored |= bool(report.errors)
            flagged |= bool(report.flags & args.fail_on) if args.fail_on else False
            reports.append(report.to_dict())
            if not args.json:
                _print_report(reports[-1])
    finally:
        if registry is not None:
            registry.close()
    if args.json:
        _print_json(reports)
    if flagged:
        return EXIT_FLAGGED
    return EXIT_ERROR if errored else EXIT_OK


# --- audit ------------------------------------------------------------------------------------

SKIPPED_SHOWN = 20  # skipped images the summary names (the reports list them all)


def cmd_audit(args) -> int:
    from provenance._errors import UnsafeOutputError
    from provenance._paths import registry_path
    from provenance._text import printable
    from provenance._trust import trust_anchors
    from provenance.audit import AuditOptions, audit_paths, default_cache_path

    if args.workers is not None and args.workers < 1:
        raise UsageError("--workers must be at least 1")
    if args.timeout < 0 or args.max_memory < 0:
        raise UsageError("--timeout and --max-memory must be positive (0: no limit)")
    if args.no_cache and args.cache:
        raise UsageError("give --cache FILE or --no-cache, not both")
    if args.csv == "-":
        raise UsageError("--csv needs a file; only --jsonl can go to stdout (-)")
    pem, _sources = trust_anchors(args.trust)
    reg_path, reg_note = None, "registry lookup disabled"
    if not args.no_registry:  # looking up must not create a registry (as verify)
        reg_path = registry_path()
        reg_path, reg_note = (str(reg_path), reg_note) if reg_path.exists() else \
            (None, f"no registry yet ({reg_path} does not exist)")
    options = AuditOptions(
        trust_anchors_pem=pem, registry_path=reg_path, registry_note=reg_note,
        forensics=not args.no_forensics, watermark_methods=args.method or None, fast_watermarks=args.fast,
        workers=args.workers or os.cpu_count() or 1, timeout=args.timeout or None, memory_mb=args.max_memory or None,
        cache_path=None if args.no_cache else str(args.cache or default_cache_path()),
        cache_is_default=not args.cache, follow_symlinks=args.follow_symlinks, skip_hidden=args.skip_hidden,
        allow_inside=args.allow_inside, fail_on=frozenset(args.fail_on), progress=True if args.progress else None,
        max_pixels=args.max_pixels)
    try:
        summary = audit_paths(args.dirs, options, jsonl=args.jsonl, csv_path=args.csv, html=args.html)
    except UnsafeOutputError as e:  # the command line contradicts itself: a usage error
        raise UsageError(str(e)) from e
    out = sys.stderr if args.jsonl == "-" else sys.stdout
    t = summary.totals
    c = t.cards
    print(f"audited {t.files} files: {c['ai']} AI-generated, {c['signed']} signed, {c['tampered']} tampered or "
          f"invalid, {c['camera']} camera, {c['unknown']} unknown, {c['error']} errors, {c['skipped']} skipped "
          f"({t.analysed} analysed, {t.cached} from the cache)", file=out)
    if t.skipped_images:
        gate = ("flagged by --fail-on skipped" if "skipped" in args.fail_on
                else "not flagged: --fail-on skipped would")
        print(f"{t.skipped_images} image(s) skipped, not analysed ({gate}):", file=out)
        for name in summary.skipped_images[:SKIPPED_SHOWN]:
            print(f"  {name}", file=out)
        if t.skipped_images > SKIPPED_SHOWN:
            print(f"  ... and {t.skipped_images - SKIPPED_SHOWN} more (the CSV and JSONL list every one)", file=out)
    for kind, path in summary.outputs.items():
        print(f"{kind}: {printable(path)}", file=out)
    if summary.flagged:
        print(f"{summary.flagged} file(s) flagged by --fail-on {','.join(sorted(args.fail_on))}", file=out)
        return EXIT_FLAGGED
    return EXIT_ERROR if summary.errors else EXIT_OK


# --- generate / bench -------------------------------------------------------------------------

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
    from provenance.generate._load import DTYPES, OFFLOAD_MODES, QUANTIZATIONS, SCHEDULER_ALIASES

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
    from provenance import Registry
    from provenance.generate import StampedPipeline, read_init_image

    if args.batch < 1:
        raise UsageError("--batch must be at least 1")
    if args.strength is not None and (args.init_image is None or not 0 < args.strength <= 1):
        raise UsageError("--strength needs --init-image and lies in (0, 1]")
    _check_generate_size(args)
    identity = _identity(args)
    call = {"prompt": args.prompt, "negative_prompt": args.negative_prompt, "num_inference_steps": args.steps,
            "guidance_scale": args.guidance, "width": args.width, "height": args.height,
            "num_images_per_prompt": args.batch}
    if args.init_image is not None:  # image-to-image: the size is the init image's
        call.update(image=read_init_image(args.init_image, width=call.pop("width"), height=call.pop("height")),
                    strength=args.strength, parent=args.init_image)
    loaded = _load_for_generation(args)
    if args.quiet_progress:
        loaded.pipe.set_progress_bar_config(disable=True)
    registry = None if args.no_registry else Registry()
    try:
        with StampedPipeline(loaded.pipe, identity=identity, out_dir=args.out_dir, registry=registry,
                             record=loaded.record, method=args.method, fmt=args.format,
                             workers=args.workers) as stamped:
            stamped(**{k: v for k, v in call.items() if v is not None}, seed=args.seed)
            images = stamped.last_images
    finally:
        if registry is not None:
            registry.close()
    if args.json:
        _print_json({"model": loaded.record.model, "load_seconds": loaded.load_seconds,
                     "images": [{"file": i.path, "seed": i.seed, "content_id": i.content_id,
                                 "sha256": i.stamp.sha256, "watermark_detected": i.watermark_detected,
                                 "record": i.record.to_dict()} for i in images]})
    else:
        for i in images:
            missing = ", WATERMARK NOT DETECTABLE" if i.watermark_detected is False else ""
            print(f"{i.path}: seed {i.seed}, content id {i.content_id}, {i.stamp.width}x{i.stamp.height}, "
                  f"{i.record.seconds:.2f} s/image, signed by {i.stamp.signer}{missing}")
    return EXIT_OK


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
        _print_json({"model": loaded.record.model, "device": loaded.record.device,
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


# --- registry ---------------------------------------------------------------------------------

def _existing_registry():
    """(the registry, None) when one exists; else (None, why): reading must not create it."""
    from provenance import Registry
    from provenance._paths import registry_path

    path = registry_path()
    if not path.exists():
        return None, f"no registry yet ({path} does not exist)"
    return Registry(path), None


def _registry_rows(query: Callable) -> tuple[list, str]:
    """``query(registry)`` on the registry if there is one (none yet: no rows), and its path."""
    from provenance._paths import registry_path

    registry, _note = _existing_registry()
    if registry is None:
        return [], str(registry_path())
    with registry:
        return query(registry), str(registry.path)


def _limit(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {text!r}")
    return n


def cmd_registry_list(args) -> int:
    rows, path = _registry_rows(lambda reg: reg.list(limit=args.limit))
    if args.json:
        _print_json([r.to_dict(with_manifest=False) for r in rows])
    else:
        for r in rows:
            print(f"{r.content_id}  {r.created_at}  {r.method:<9} {r.format:<4} {r.width}x{r.height}  {r.output_path}")
        print(f"{len(rows)} stamp(s) in {path}", file=sys.stderr)
    return EXIT_OK


def cmd_registry_show(args) -> int:
    rows, _path = _registry_rows(lambda reg: reg.find_by_prefix(args.content_id))
    if not rows:
        print(f"no stamp with content id {args.content_id!r} in the registry", file=sys.stderr)
        return EXIT_ERROR
    records = [r.to_dict() for r in rows]
    if args.json:
        _print_json(records if len(records) > 1 else records[0])
        return EXIT_OK
    for r in records:
        print(f"content id:  {r['content_id']}\nstamped:     {r['created_at']} by {r['signer']}\n"
              f"watermark:   {r['method']}\nfile:        {r['output_path']} ({r['format']} {r['width']}x{r['height']})\n"
              f"source:      {r['source_path']}\nsha256:      {r['sha256']}\nphash:       {r['phash']}")
        generation = next((a["data"] for a in (r["manifest"] or {}).get("assertions", [])
                           if a["label"] == "org.provenance.generation"), {})
        for k, v in generation.items():
            print(f"  {k}: {v}")
    return EXIT_OK


def cmd_registry_export(args) -> int:
    from provenance._imageio import atomic_write
    from provenance._registry import export_records

    rows, _path = _registry_rows(lambda reg: list(reg.iter_all()))
    text = export_records(rows, "json" if args.json else args.format)
    if args.output in (None, "-"):
        sys.stdout.write(text)
    else:
        atomic_write(args.output, text.encode("utf-8"), overwrite=args.overwrite)
        print(f"exported to {args.output}", file=sys.stderr)
    return EXIT_OK


def cmd_registry_reindex(args) -> int:
    """PDQ fingerprints for stamps recorded before the registry kept them, from their stamped files."""
    from provenance import ProvenanceError, Registry, load_image
    from provenance._fingerprint import pdq_hash

    done = missing = 0
    with Registry() as reg:
        todo = [r for r in reg.iter_all() if r.pdq is None]
        for r in todo:
            if not r.output_path or not os.path.exists(r.output_path):
                missing += 1
                continue
            try:
                look = pdq_hash(load_image(r.output_path).rgb)
            except ProvenanceError as e:
                log.warning("%s: %s", r.output_path, e)
                missing += 1
                continue
            reg.set_pdq(r.content_id, look.hash, look.quality)
            done += 1
    out = {"stamps_without_pdq": len(todo), "indexed": done, "file_missing_or_unreadable": missing}
    if args.json:
        _print_json(out)
    else:
        print(f"{done} of {len(todo)} stamps without a PDQ fingerprint indexed from their files"
              + (f"; {missing} files missing or unreadable (those stamps match by pHash only)" if missing else ""))
    return EXIT_OK


# --- forensics (detect, train, evaluate) -------------------------------------------------------

def cmd_detect(args) -> int:
    from provenance import ProvenanceError, load_image
    from detectors.forensics import analyze, load_default_model

    model = load_default_model(args.model)  # once for all files; a bad model is exit 1
    results, failed = [], False
    for f in args.files:
        try:
            r = analyze(load_image(f).rgb, model=model, all_features=args.features)
            results.append({"file": f, **r.to_dict(with_features=args.features)})
        except ProvenanceError as e:
            failed = True
            results.append({"file": f, "error": str(e)})
            if not args.json:  # said once, on stderr, as it happens; --json carries it in the output
                print(f"provenance: error: {e}", file=sys.stderr)
    if args.json:
        _print_json(results)
    else:
        for r in results:
            if "error" in r:
                continue
            fam, p_fam = next(iter(r["family_scores"].items()))
            print(f"{r['file']}: p(AI-generated) = {r['p_ai']:.2f} (estimate, model {r['model']}); "
                  f"if generated, most like {fam} ({p_fam:.2f})")
            for t in r["top_features"]:
                print(f"  {t['effect']:+.2f} {t['direction']}: {t['feature']}")
    return EXIT_ERROR if failed else EXIT_OK


def _train_config(args):
    from detectors.forensics import TrainConfig

    return TrainConfig(seed=args.seed)


def cmd_train(args) -> int:
    from provenance._imageio import check_output_path
    from detectors._classifier import MODEL_SUFFIX
    from detectors._train import train_from_data

    if not args.out.endswith(MODEL_SUFFIX):
        raise UsageError(f"--out {args.out}: the model file must end in {MODEL_SUFFIX} "
                         "(its sidecar .json goes beside it)")
    check_output_path(args.out, overwrite=args.overwrite)
    run = train_from_data(args.data, args.out, config=_train_config(args), cv_folds=0 if args.no_cv else args.folds,
                          leave_one_family_out=not args.no_lofo, workers=args.workers, cache_dir=args.cache_dir,
                          max_per_source=args.max_per_source)
    if args.plots and run.report:
        from detectors._evaluate import save_plots

        for path in save_plots(run.report, args.plots, prefix=args.plot_prefix):
            print(f"wrote {path}", file=sys.stderr)
    summary = {"model": args.out, "id": run.model.id, "sidecar": str(run.sidecar),
               "unreadable": run.errors, "evaluation": run.report.to_dict() if run.report else None}
    if args.json:
        _print_json(summary)
    else:
        print(f"model written to {args.out} ({run.model.id}), sidecar {run.sidecar}")
        if run.report:
            print(run.report.to_markdown())
    return EXIT_ERROR if run.errors else EXIT_OK


def cmd_evaluate(args) -> int:
    from provenance._imageio import atomic_write
    from detectors._evaluate import save_plots
    from detectors._train import evaluate_on_data
    from detectors.forensics import load_default_model

    model = load_default_model(args.model)
    report, errors = evaluate_on_data(args.data, model, cv=args.cv, cv_folds=args.folds,
                                      leave_one_family_out=not args.no_lofo, workers=args.workers,
                                      cache_dir=args.cache_dir, max_per_source=args.max_per_source)
    if args.plots:
        for path in save_plots(report, args.plots, prefix=args.plot_prefix):
            print(f"wrote {path}", file=sys.stderr)
    if args.markdown:
        atomic_write(args.markdown, report.to_markdown().encode("utf-8"), overwrite=True)
    if args.json:
        _print_json(report.to_dict())
    else:
        print(report.to_markdown())
        for note in report.notes:
            print(f"note: {note}")
    return EXIT_ERROR if errors else EXIT_OK


def _add_data_options(p) -> None:
    p.add_argument("--data", nargs="+", required=True, metavar="DIR_OR_MANIFEST",
                   help="MANIFEST.csv files, or folders holding one (or sub-folders that do)")
    p.add_argument("--folds", type=int, default=5, help="grouped cross-validation folds (default 5)")
    p.add_argument("--no-lofo", action="store_true", help="skip the leave-one-family-out runs")
    p.add_argument("--workers", type=int, default=1, help="processes extracting features (default 1)")
    p.add_argument("--cache-dir", help="folder to cache extracted features in (e.g. /tmp/forensics-cache)")
    p.add_argument("--max-per-source", type=int, metavar="N",
                   help="use at most N images of each source repository (a fixed choice; default all)")


# --- parser -----------------------------------------------------------------------------------

class _Formatter(argparse.RawDescriptionHelpFormatter):
    pass


def _quality(text: str) -> int:
    try:
        q = int(text)
    except ValueError:
        q = 0
    if not 1 <= q <= 100:
        raise argparse.ArgumentTypeError(f"quality must be an integer from 1 to 100, got {text!r}")
    return q


def _sub(subparsers, name: str, func: Callable[[argparse.Namespace], int], help: str, example: str):
    # ``help`` is %-formatted by argparse (so "1%%" there), the description is printed as written.
    p = subparsers.add_parser(name, help=help, description=help.replace("%%", "%"), epilog=f"example:\n  {example}",
                              formatter_class=_Formatter)
    p.set_defaults(func=func)
    return p


def _add_json(p) -> None:
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")


def _add_verify_options(p, *, fail_on: tuple[str, ...] = FAIL_ON) -> None:
    """Options shared by verify and audit (audit runs verify on every file)."""
    from provenance.watermark import method_names

    p.add_argument("--trust", action="append", metavar="PEM",
                   help="extra trust anchors (repeatable); the tool's own root CA is always trusted")
    p.add_argument("--fail-on", type=_fail_on_parser(fail_on), default=set(), metavar="LIST",
                   help=f"exit 3 when any file is flagged: comma-separated from {','.join(fail_on)}")
    p.add_argument("--method", action="append", choices=method_names(),
                   help="only these of our watermark methods (default: every one but rivaGan, which is "
                        "slow and must be named)")
    _add_fast(p)
    p.add_argument("--no-registry", action="store_true", help="skip the registry lookup")
    p.add_argument("--no-forensics", action="store_true", help="skip the forensic classifier")
    _add_max_pixels(p)


def _pixels(text: str) -> int:
    try:
        n = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be a positive number of pixels, got {text!r}")
    return n


def _add_max_pixels(p) -> None:
    from provenance._imageio import MAX_PIXELS

    p.add_argument("--max-pixels", type=_pixels, default=MAX_PIXELS, metavar="N",
                   help=f"largest image decoded, in pixels (default {MAX_PIXELS:,}); larger ones are refused "
                        "as possible decompression bombs")


#: What verify and audit look for, for their --help (wrapped: the help keeps line breaks).
SEARCHED = textwrap.fill(
    "What is searched: C2PA Content Credentials (offline); our watermarks, provenanceWM also in copies "
    "scaled 0.3-2x, rotated up to 7 degrees either way, stretched, cropped to a quarter of the area or "
    "flipped (horizontally, vertically), after re-encoding or filtering (--fast: at the stamped geometry "
    "only), dwtDctSvd and dwtDct (rivaGan only with --method rivaGan), and the public SD 1.x/2/SDXL marks; "
    "EXIF, XMP/IPTC and generator metadata; the local registry, by watermark id, by file hash and by look "
    "(PDQ, flips included, and pHash: a look-alike alone is reported as such and never makes an image "
    "AI-generated); the forensic classifier (an estimate that decides nothing until validated).", 100)


def _add_fast(p) -> None:
    p.add_argument("--fast", action="store_true",
                   help="our watermarks at the stamped geometry only: untouched, re-encoded, filtered or "
                        "cropped copies (about 20 ms less per unmarked 512² image on one core; default: the "
                        "full search, which also finds copies scaled 0.3-2x, rotated up to 7°, stretched, "
                        "cropped to a quarter or flipped)")


def _add_key_options(p) -> None:
    p.add_argument("--cert", help="PEM certificate chain to sign with (leaf first) instead of the keys folder")
    p.add_argument("--key", help="PEM private key matching --cert")
    p.add_argument("--passphrase-file", help=f"file holding the key's passphrase (or set {PASSPHRASE_ENV})")


def build_parser() -> argparse.ArgumentParser:
    from provenance._about import version_text
    from provenance.watermark import DEFAULT_METHOD, method_names

    parser = argparse.ArgumentParser(
        prog="provenance",
        description="Stamp images with invisible watermarks and signed C2PA Content Credentials, and check where images came from.",
        epilog="exit codes: 0 ok, 1 operational error, 2 usage error, 3 flagged (with --fail-on), "
               "130 interrupted (Ctrl-C)\n"
               "environment: PROVENANCE_HOME (keys and registry folder), " + PASSPHRASE_ENV,
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=version_text())
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages to stderr")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    # keys
    keys = commands.add_parser("keys", help="create or show the signing key and certificate chain")
    keys_sub = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    p = _sub(keys_sub, "init", cmd_keys_init, "create a root CA and an ES256 signing certificate (once)",
             'provenance keys init --org "Example Newsroom"')
    p.add_argument("--org", default="Provenance User", help="organisation name in the certificates")
    p.add_argument("--cert", help="import this PEM chain (leaf first) instead of creating one")
    p.add_argument("--key", help="import this PEM private key (with --cert)")
    p.add_argument("--passphrase-file", help=f"encrypt the private key with the passphrase in this file (or {PASSPHRASE_ENV})")
    p.add_argument("--overwrite", action="store_true", help="replace existing keys")
    _add_json(p)
    p = _sub(keys_sub, "show", cmd_keys_show, "print subject, issuer, validity and fingerprint of the keys",
             "provenance keys show --json")
    _add_json(p)

    # stamp
    p = _sub(commands, "stamp", cmd_stamp,
             "watermark an image, write EXIF/XMP/PNG metadata and a signed C2PA manifest, record it in the registry",
             'provenance stamp out.png -o out.stamped.png --model "sdxl-base-1.0" --params params.json')
    p.add_argument("src", help="image to stamp (PNG, JPEG, WebP, ...); never modified")
    p.add_argument("-o", "--output", required=True, help="stamped image to write (.png, .jpg or .webp)")
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
    p.add_argument("--quality", type=_quality, default=95, help="JPEG/WebP quality 1-100 (default 95)")
    p.add_argument("--parent", help="image this one was made from (added as a C2PA ingredient)")
    p.add_argument("--parent-action", choices=["edited", "resized"], default="edited",
                   help="what was done to the parent: resized for an upscale (default edited)")
    p.add_argument("--thumbnail", action="store_true", help="embed a C2PA thumbnail (slower, larger)")
    p.add_argument("--no-registry", action="store_true", help="do not record the stamp in the registry")
    p.add_argument("--overwrite", action="store_true", help="replace the output if it exists")
    _add_max_pixels(p)
    _add_key_options(p)
    _add_json(p)

    # watermark
    wm = commands.add_parser("watermark", help="embed or detect invisible watermarks alone")
    wm_sub = wm.add_subparsers(dest="watermark_command", metavar="ACTION", required=True)
    p = _sub(wm_sub, "embed", cmd_watermark_embed, "embed a content-id watermark (no metadata, no signature)",
             "provenance watermark embed in.png marked.png --method dwtDctSvd --json")
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("--method", default=DEFAULT_METHOD, choices=method_names())
    p.add_argument("--content-id", help="16 hex digits (default: a fresh random id)")
    p.add_argument("--format", choices=["png", "jpeg", "jpg", "webp"])
    p.add_argument("--quality", type=_quality, default=95)
    p.add_argument("--overwrite", action="store_true")
    _add_json(p)
    p = _sub(wm_sub, "detect", cmd_watermark_detect,
             "look for watermarks of every registered method (slow ones, e.g. rivaGan, only with --method); "
             "provenanceWM is found in copies scaled 0.3-2x, rotated up to 7°, stretched, cropped to a "
             "quarter, flipped",
             "provenance watermark detect out.stamped.png --json\n"
             "  provenance watermark detect edited.png --map edited.map.png --json")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--method", action="append", choices=method_names(),
                   help="only this method (repeatable); default: every method scanned by default")
    _add_fast(p)
    p.add_argument("--map", metavar="PNG",
                   help="one FILE only: write where provenanceWM's mark is missing (red blocks: edits; green: "
                        "present; untinted: too busy to tell) as a PNG overlay, and its summary under "
                        "\"map\" in --json")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --map file")
    _add_json(p)
    p = _sub(wm_sub, "methods", cmd_watermark_methods, "list the registered watermark methods",
             "provenance watermark methods --json")
    _add_json(p)

    # verify
    p = _sub(commands, "verify", cmd_verify,
             "one verdict about each image's origin, with the evidence behind it (C2PA, watermarks, "
             "metadata, registry, forensics)",
             "provenance verify photo.jpg\n  provenance verify a.png b.jpg --json\n"
             "  provenance verify x.png --trust anchors.pem --fail-on ai,invalid   # exit 3 if flagged")
    p.description += "\n\n" + SEARCHED
    p.add_argument("files", nargs="+", metavar="FILE")
    _add_verify_options(p)
    _add_json(p)

    # generate / bench
    p = _sub(commands, "generate", cmd_generate,
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
    p.add_argument("--no-registry", action="store_true", help="do not record the stamps in the registry")
    p.add_argument("--quiet-progress", action="store_true", help="no progress bar on stderr")
    _add_key_options(p)
    _add_json(p)
    p = _sub(commands, "bench", cmd_bench,
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
    _add_json(p)

    # forensics: detect, train, evaluate
    p = _sub(commands, "detect", cmd_detect,
             "estimate whether images are AI-generated, and by which family, from their pixels alone",
             "provenance detect photo.jpg render.png --json")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--model", help="a .npz model from 'provenance train' (default: the shipped one)")
    p.add_argument("--features", action="store_true", help="also print the raw feature values (with --json)")
    _add_json(p)
    p = _sub(commands, "train", cmd_train,
             "train the forensic classifier on labelled images (augmented, cross-validated by source)",
             "provenance train --data ../shared/data/real ../shared/data/generated --out my-model.npz "
             "--workers 2 --cache-dir /tmp/forensics-cache")
    _add_data_options(p)
    p.add_argument("--out", required=True, help="model file to write (.npz of plain arrays; a .json sidecar goes beside it)")
    p.add_argument("--no-cv", action="store_true", help="fit only, without cross-validation")
    p.add_argument("--seed", type=int, default=0, help="seed of the augmentations and models (default 0)")
    p.add_argument("--plots", metavar="DIR", help="write the cross-validation ROC and confusion-matrix PNGs here")
    p.add_argument("--plot-prefix", default="detection", help="file-name prefix of the plots (default detection)")
    p.add_argument("--overwrite", action="store_true", help="replace the model if it exists")
    _add_json(p)
    p = _sub(commands, "evaluate", cmd_evaluate,
             "measure a model: ROC AUC, TPR at 1%% and 0.1%% FPR, per-family results, as stored / JPEG q65 / resized 50%%",
             "provenance evaluate --data ../shared/data/real ../shared/data/generated --cv --plots docs/figures")
    _add_data_options(p)
    p.add_argument("--model", help="the .npz model (default: the shipped one)")
    p.add_argument("--cv", action="store_true",
                   help="re-run grouped cross-validation with the model's training settings instead of "
                        "scoring the model itself (use this on the data it was trained on)")
    p.add_argument("--plots", metavar="DIR", help="write ROC and confusion-matrix PNGs to this folder")
    p.add_argument("--plot-prefix", default="detection", help="file-name prefix of the plots (default detection)")
    p.add_argument("--markdown", metavar="FILE", help="also write the tables as Markdown to this file")
    _add_json(p)

    # audit
    p = _sub(commands, "audit", cmd_audit,
             "verify every image under folders in parallel, resumably (cached by content), with JSONL, CSV "
             "and self-contained HTML reports",
             "provenance audit samples/ --html out/report.html --trust samples/trust/demo-root.pem\n"
             "  provenance audit /mnt/archive --workers 8 --cache audit.sqlite --jsonl results.jsonl\n"
             "  provenance audit incoming/ --fail-on ai,tampered,error,skipped --jsonl -   # CI gate: exit 3 if flagged")
    p.description += "\n\n" + SEARCHED
    p.add_argument("dirs", nargs="+", metavar="DIR", help="folders (walked recursively) or files to audit")
    p.add_argument("--html", metavar="FILE", help="write a self-contained HTML report (no network needed)")
    p.add_argument("--jsonl", metavar="FILE",
                   help="one verify JSON object per file per line, skipped files included ('-': stdout)")
    p.add_argument("--csv", metavar="FILE", help="one flat summary row per file, skipped files included")
    p.add_argument("--workers", type=int, metavar="N", help="worker processes (default: the number of CPUs)")
    p.add_argument("--cache", metavar="FILE",
                   help="SQLite cache of results by content hash (default: audit-cache.sqlite in PROVENANCE_HOME "
                        "or the user cache folder); a re-run skips what is done")
    p.add_argument("--no-cache", action="store_true", help="analyse every file, read and write no cache")
    p.add_argument("--allow-inside", action="store_true",
                   help="allow reports and --cache inside an audited folder (they are left out of the audit); "
                        "an existing file that is not a report is never overwritten")
    _add_verify_options(p, fail_on=AUDIT_FAIL_ON)
    p.add_argument("--follow-symlinks", action="store_true", help="follow symbolic links (loops are detected)")
    p.add_argument("--skip-hidden", action="store_true",
                   help="do not analyse hidden files and folders (names starting with .): each hidden image is "
                        "a skipped row, which --fail-on skipped counts (default: hidden files are audited)")
    p.add_argument("--hidden", action="store_true", help=argparse.SUPPRESS)  # the default now; kept for old scripts
    p.add_argument("--timeout", type=float, default=120.0, metavar="S",
                   help="seconds per file before it becomes an error row (default 120; 0: no limit)")
    p.add_argument("--max-memory", type=int, default=4096, metavar="MB",
                   help="memory a worker may add while analysing one file (default 4096; 0: no guard)")
    p.add_argument("--progress", action="store_true", help="draw the progress bar even when stderr is not a terminal")

    # registry
    reg = commands.add_parser("registry", help="the local registry of stamped images")
    reg_sub = reg.add_subparsers(dest="registry_command", metavar="ACTION", required=True)
    p = _sub(reg_sub, "list", cmd_registry_list, "list stamps, newest first", "provenance registry list --limit 20")
    p.add_argument("--limit", type=_limit, metavar="N", help="only the N newest (N at least 1; default all)")
    _add_json(p)
    p = _sub(reg_sub, "show", cmd_registry_show, "show one stamp (full content id or a prefix) with its manifest",
             "provenance registry show 3f9a0c1b2d4e5f60")
    p.add_argument("content_id")
    _add_json(p)
    p = _sub(reg_sub, "export", cmd_registry_export, "export every stamp as JSON, JSONL or CSV",
             "provenance registry export --format csv -o stamps.csv")
    p.add_argument("--format", choices=["json", "jsonl", "csv"], default="jsonl")
    p.add_argument("-o", "--output", help="file to write (default: stdout)")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--json", action="store_true", help="same as --format json")
    p = _sub(reg_sub, "reindex", cmd_registry_reindex,
             "compute the PDQ fingerprint (look-up by look, flips included) of stamps recorded before the "
             "registry kept one, from their stamped files", "provenance registry reindex")
    _add_json(p)
    return parser


EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a command stopped by Ctrl-C


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:  # also while the imports load, before a command runs
        print("provenance: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 on usage errors
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="provenance: %(levelname)s: %(message)s", stream=sys.stderr)
    from provenance import ProvenanceError

    try:
        code = args.func(args)
        sys.stdout.flush()  # here, where a reader that left early (EPIPE) is caught, not at exit
        return code
    except BrokenPipeError:
        # The reader left early (`provenance verify a b c | head -1`). As the Python docs advise:
        # point stdout at devnull so the interpreter's last flush cannot fail again, and exit 1.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_ERROR
    except UsageError as e:
        parser.exit(EXIT_USAGE, f"provenance: error: {e}\n")
    except ProvenanceError as e:
        print(f"provenance: error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("provenance: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as e:  # a bug: say so briefly, without locals (they could hold key bytes)
        if args.debug:
            raise
        print(f"provenance: internal error: {type(e).__name__}: {e} (run with --debug for the traceback)",
              file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
