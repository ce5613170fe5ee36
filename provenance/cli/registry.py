"""``provenance registry list|show|export|reindex``: the local registry of stamped images."""
from __future__ import annotations

import logging
import os
import sys
from typing import Callable

from provenance.evidence import GENERATION_ASSERTION

from ._base import (EXIT_ERROR, EXIT_OK, add_command, add_group, add_json, add_registry_option, existing_registry,
                    positive_int, print_json)


log = logging.getLogger("provenance.cli")


def _registry_rows(args, query: Callable) -> tuple[list, str]:
    """``query(registry)`` on the registry if there is one (none yet: no rows), and where it is."""
    from provenance import registry_location

    registry, _note = existing_registry(args.registry)
    if registry is None:
        return [], registry_location(args.registry)
    with registry:
        return query(registry), registry.location


_limit = positive_int("a whole number of at least 1")


def cmd_registry_list(args) -> int:
    rows, path = _registry_rows(args, lambda reg: reg.list(limit=args.limit))
    if args.json:
        print_json([r.to_dict(with_manifest=False) for r in rows])
    else:
        for r in rows:
            print(f"{r.content_id}  {r.created_at}  {r.method:<9} {r.format:<4} {r.width}x{r.height}  {r.output_path}")
        print(f"{len(rows)} stamp(s) in {path}", file=sys.stderr)
    return EXIT_OK


def cmd_registry_show(args) -> int:
    rows, _path = _registry_rows(args, lambda reg: reg.find_by_prefix(args.content_id))
    if not rows:
        print(f"no stamp with content id {args.content_id!r} in the registry", file=sys.stderr)
        return EXIT_ERROR
    records = [r.to_dict() for r in rows]
    if args.json:
        print_json(records if len(records) > 1 else records[0])
        return EXIT_OK
    for r in records:
        print(f"content id:  {r['content_id']}\nstamped:     {r['created_at']} by {r['signer']}\n"
              f"watermark:   {r['method']}\nfile:        {r['output_path']} ({r['format']} {r['width']}x{r['height']})\n"
              f"source:      {r['source_path']}\nsha256:      {r['sha256']}\nphash:       {r['phash']}")
        generation = next((a["data"] for a in (r["manifest"] or {}).get("assertions", [])
                           if a["label"] == GENERATION_ASSERTION), {})
        for k, v in generation.items():
            print(f"  {k}: {v}")
    return EXIT_OK


def cmd_registry_export(args) -> int:
    from provenance import atomic_write, export_records

    rows, _path = _registry_rows(args, lambda reg: list(reg.iter_all()))
    text = export_records(rows, "json" if args.json else args.format)
    if args.output in (None, "-"):
        sys.stdout.write(text)
    else:
        atomic_write(args.output, text.encode("utf-8"), overwrite=args.overwrite)
        print(f"exported to {args.output}", file=sys.stderr)
    return EXIT_OK


def cmd_registry_reindex(args) -> int:
    """PDQ fingerprints for stamps recorded before the registry kept them, from their stamped files."""
    from provenance import ProvenanceError, load_image, open_registry, pdq_hash

    done = missing = 0
    with open_registry(args.registry) as reg:
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
        print_json(out)
    else:
        print(f"{done} of {len(todo)} stamps without a PDQ fingerprint indexed from their files"
              + (f"; {missing} files missing or unreadable (those stamps match by pHash only)" if missing else ""))
    return EXIT_OK


def register(commands) -> None:
    reg_sub = add_group(commands, "registry", "the registry of stamped images (a SQLite file, or a shared PostgreSQL "
                        "database: --registry / PROVENANCE_REGISTRY)",
                        "provenance registry list --limit 20\n  provenance registry export --format csv -o stamps.csv",
                        dest="registry_command")
    p = add_command(reg_sub, "list", cmd_registry_list, "list stamps, newest first", "provenance registry list --limit 20")
    add_registry_option(p)
    p.add_argument("--limit", type=_limit, metavar="N", help="only the N newest (N at least 1; default all)")
    add_json(p)
    p = add_command(reg_sub, "show", cmd_registry_show, "show one stamp (full content id or a prefix) with its manifest",
                    "provenance registry show 3f9a0c1b2d4e5f60")
    p.add_argument("content_id")
    add_registry_option(p)
    add_json(p)
    p = add_command(reg_sub, "export", cmd_registry_export, "export every stamp as JSON, JSONL or CSV",
                    "provenance registry export --format csv -o stamps.csv")
    p.add_argument("--format", choices=["json", "jsonl", "csv"], default="jsonl")
    add_registry_option(p)
    p.add_argument("-o", "--output", help="file to write (default: stdout)")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--json", action="store_true", help="same as --format json")
    p = add_command(reg_sub, "reindex", cmd_registry_reindex,
                    "compute the PDQ fingerprint (look-up by look, flips included) of stamps recorded before the "
                    "registry kept one, from their stamped files", "provenance registry reindex")
    add_registry_option(p)
    add_json(p)
