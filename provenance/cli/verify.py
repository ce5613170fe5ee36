"""``provenance verify``: one verdict per image, with the evidence behind it."""
from __future__ import annotations

import sys

from ._base import (EXIT_ERROR, EXIT_FLAGGED, EXIT_OK, SEARCHED, add_command, add_json, add_verify_options,
                    existing_registry, print_json)


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
    from provenance import trust_anchors
    from provenance import VerifyOptions, verify_file

    pem, _sources = trust_anchors(args.trust)
    registry, note = (None, "registry lookup disabled") if args.no_registry else existing_registry()
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
        print_json(reports)
    if flagged:
        return EXIT_FLAGGED
    return EXIT_ERROR if errored else EXIT_OK


def register(commands) -> None:
    p = add_command(commands, "verify", cmd_verify,
                    "one verdict about each image's origin, with the evidence behind it (C2PA, watermarks, "
                    "metadata, registry, forensics)",
                    "provenance verify photo.jpg\n  provenance verify a.png b.jpg --json\n"
                    "  provenance verify x.png --trust anchors.pem --fail-on ai,invalid   # exit 3 if flagged")
    p.description += "\n\n" + SEARCHED
    p.add_argument("files", nargs="+", metavar="FILE")
    add_verify_options(p)
    add_json(p)
