"""``provenance verify``: one verdict per image, with the evidence behind it."""
from __future__ import annotations

import sys

from ._base import (EXIT_ERROR, EXIT_FLAGGED, EXIT_OK, SEARCHED, add_command, add_json, add_verify_options,
                    existing_registry, print_json, resolvers)


def _print_report(report) -> None:
    from provenance.report import render_text, unread_error

    unread = unread_error(report)
    if unread:  # nothing was analysed, so there is no verdict to show
        print(f"provenance: error: {unread}", file=sys.stderr)
        return
    print(render_text(report))


def cmd_verify(args) -> int:
    from provenance import VerifyOptions, trust_anchors, verify_file

    pem, _sources = trust_anchors(args.trust)
    registry, note = (None, "registry lookup disabled") if args.no_registry else existing_registry(args.registry)
    options = VerifyOptions(trust_anchors_pem=pem, public_trust=not args.no_public_trust, registry=registry, forensics=not args.no_forensics,
                            watermark_methods=args.method or None, fast_watermarks=args.fast,
                            max_pixels=args.max_pixels, registry_note=note or "registry lookup disabled",
                            resolvers=resolvers(args))
    flagged = errored = False
    reports = []
    try:
        for f in args.files:
            report = verify_file(f, options=options)
            errored |= bool(report.errors)
            flagged |= bool(report.flags & args.fail_on) if args.fail_on else False
            reports.append(report.to_dict())
            if not args.json:
                _print_report(report)
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
                    "  provenance verify x.png --trust anchors.pem --fail-on ai,invalid   # exit 3 if flagged\n"
                    "  provenance verify stripped.jpg --resolver https://resolver.example   # recover its credentials")
    p.description += "\n\n" + SEARCHED
    p.add_argument("files", nargs="+", metavar="FILE")
    add_verify_options(p)
    add_json(p)
