"""``provenance watermark embed|detect|methods``: the watermark methods alone."""
from __future__ import annotations

import logging

from ._base import (EXIT_ERROR, EXIT_OK, UsageError, add_command, add_fast, add_group, add_json, each_file,
                    print_json, quality)

log = logging.getLogger("provenance.cli")


def cmd_watermark_embed(args) -> int:
    from provenance import (atomic_write, check_output_path, encode_image, format_for_suffix, load_image,
                            new_content_id, normalize_content_id)
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
    print_json(out) if args.json else print(f"{args.dst}: watermark {args.method}, content id {content_id}{carried}")
    return EXIT_OK


def _write_watermark_map(rgb, wmap, path: str, *, overwrite: bool) -> dict:
    """provenanceWM's missing-mark map ``wmap`` of ``rgb``: its summary, and a PNG overlay at
    ``path`` (written atomically, only when the mark was found: without it there is nothing to map)."""
    from provenance import atomic_write, encode_image
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
    from provenance import check_output_path, load_image
    from provenance.watermark import detect_watermarks, localize_watermark

    if args.map:
        if len(args.files) != 1:
            raise UsageError("--map needs exactly one FILE")
        check_output_path(args.map, overwrite=args.overwrite)

    def analyse(f: str) -> dict:
        image = load_image(f)
        # The map detects provenanceWM (geometric search included) on its way: reported as
        # that method's result rather than detected a second time.
        wmap = localize_watermark(image.rgb) if args.map else None
        marks = detect_watermarks(image.rgb, methods=args.method or None, fast=args.fast,
                                  known={wmap.detection.scheme: wmap.detection} if wmap else None)
        out = {"watermarks": [m.to_dict() for m in marks]}
        if wmap is not None:
            out["map"] = _write_watermark_map(image.rgb, wmap, args.map, overwrite=args.overwrite)
        return out

    results, failed = each_file(args.files, analyse, quiet=args.json, on_error={"watermarks": []})
    if args.json:
        print_json(results)
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
        print_json(rows)
    else:
        for r in rows:
            flag = " (default)" if r["default"] else ""
            avail = ("" if r["available"] else f"  [not installed: pip install 'provenance-tool[{r['extra']}]']") + \
                    ("" if r["scanned_by_default"] else "  [only with --method]")
            print(f"{r['name']}{flag}: {r['summary']}; {r['code']}, false-positive rate "
                  f"{r['false_positive_rate']:.1e}, min {r['min_size'][0]}x{r['min_size'][1]}{avail}")
    return EXIT_OK


def register(commands) -> None:
    from provenance.watermark import DEFAULT_METHOD, method_names

    wm_sub = add_group(commands, "watermark", "embed or detect invisible watermarks alone",
                       "provenance watermark embed in.png marked.png --json\n"
                       "  provenance watermark detect marked.png --json", dest="watermark_command")
    p = add_command(wm_sub, "embed", cmd_watermark_embed, "embed a content-id watermark (no metadata, no signature)",
                    "provenance watermark embed in.png marked.png --method dwtDctSvd --json")
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("--method", default=DEFAULT_METHOD, choices=method_names())
    p.add_argument("--content-id", help="16 hex digits (default: a fresh random id)")
    p.add_argument("--format", choices=["png", "jpeg", "jpg", "webp"])
    p.add_argument("--quality", type=quality, default=95)
    p.add_argument("--overwrite", action="store_true")
    add_json(p)
    p = add_command(wm_sub, "detect", cmd_watermark_detect,
                    "look for watermarks of every registered method (slow ones, e.g. rivaGan, only with --method); "
                    "provenanceWM is found in copies scaled 0.3-2x, rotated up to 7°, stretched, cropped to a "
                    "quarter, flipped",
                    "provenance watermark detect out.stamped.png --json\n"
                    "  provenance watermark detect edited.png --map edited.map.png --json")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--method", action="append", choices=method_names(),
                   help="only this method (repeatable); default: every method scanned by default")
    add_fast(p)
    p.add_argument("--map", metavar="PNG",
                   help="one FILE only: write where provenanceWM's mark is missing (red blocks: edits; green: "
                        "present; untinted: too busy to tell) as a PNG overlay, and its summary under "
                        "\"map\" in --json")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --map file")
    add_json(p)
    p = add_command(wm_sub, "methods", cmd_watermark_methods, "list the registered watermark methods",
                    "provenance watermark methods --json")
    add_json(p)
