"""``provenance audit``: verify whole folders in parallel, resumably, with reports."""
from __future__ import annotations

import argparse
import os
import sys

from ._base import (AUDIT_FAIL_ON, EXIT_ERROR, EXIT_FLAGGED, EXIT_OK, SEARCHED, UsageError, add_command,
                    add_verify_options, resolvers)


SKIPPED_SHOWN = 20  # skipped images the summary names (the reports list them all)


def cmd_audit(args) -> int:
    from provenance import UnsafeOutputError, open_existing_registry, printable, registry_location, trust_anchors
    from provenance.audit import AuditOptions, audit_paths, default_cache_path

    if args.shard_size < 1:
        raise UsageError("--shard-size must be at least 1")
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
        registry, missing = open_existing_registry(args.registry)  # a server that is down fails here, once
        if registry is None:
            reg_note = missing
        else:
            registry.close()
            reg_path = registry_location(args.registry)  # what the workers open (a URL keeps its password)
    options = AuditOptions(
        trust_anchors_pem=pem, public_trust=not args.no_public_trust, registry_path=reg_path, registry_note=reg_note,
        forensics=not args.no_forensics, watermark_methods=args.method or None, fast_watermarks=args.fast,
        workers=args.workers or (None if args.engine == "ray" else os.cpu_count() or 1), timeout=args.timeout or None, memory_mb=args.max_memory or None,
        cache_path=None if args.no_cache else str(args.cache or default_cache_path()),
        cache_is_default=not args.cache, follow_symlinks=args.follow_symlinks, skip_hidden=args.skip_hidden,
        allow_inside=args.allow_inside, fail_on=frozenset(args.fail_on), progress=True if args.progress else None,
        max_pixels=args.max_pixels, engine=args.engine, ray_address=args.ray_address, shard_size=args.shard_size,
        resolvers=tuple(r.url for r in resolvers(args)), resolver_timeout=args.resolver_timeout)
    if args.ray_address and args.engine != "ray":
        raise UsageError("--ray-address needs --engine ray")
    if not args.dirs and not args.input_list:
        raise UsageError("give folders or files to audit, or --input-list FILE")
    try:
        summary = audit_paths(args.dirs, options, jsonl=args.jsonl, csv_path=args.csv, html=args.html,
                              input_list=args.input_list, parquet=args.parquet)
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


def register(commands) -> None:
    p = add_command(commands, "audit", cmd_audit,
                    "verify every image under folders in parallel, resumably (cached by content), with JSONL, CSV "
                    "and self-contained HTML reports",
                    "provenance audit samples/ --html out/report.html --trust samples/trust/demo-root.pem\n"
                    "  provenance audit /mnt/archive --workers 8 --cache audit.sqlite --jsonl results.jsonl\n"
                    "  provenance audit incoming/ --fail-on ai,tampered,error,skipped --jsonl -   # CI gate: exit 3 if flagged\n"
                    "  provenance audit --engine ray --ray-address auto --input-list files.txt --jsonl results.jsonl")
    p.description += "\n\n" + SEARCHED
    p.add_argument("dirs", nargs="*", metavar="DIR", help="folders (walked recursively) or files to audit")
    p.add_argument("--input-list", metavar="FILE",
                   help="audit the files named in FILE, one path per line, without walking folders for them")
    p.add_argument("--html", metavar="FILE", help="write a self-contained HTML report (no network needed)")
    p.add_argument("--jsonl", metavar="FILE",
                   help="one verify JSON object per file per line, skipped files included ('-': stdout)")
    p.add_argument("--csv", metavar="FILE", help="one flat summary row per file, skipped files included")
    p.add_argument("--parquet", metavar="DIR",
                   help="the CSV's rows, typed, as Parquet shards in DIR (part-00000.parquet, ...; needs pyarrow)")
    p.add_argument("--workers", type=int, metavar="N",
                   help="worker processes (default: the number of CPUs; with --engine ray, of the cluster)")
    p.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="local: a process pool on this machine (default); ray: shards of files on a Ray cluster "
                        "(pip install 'provenance-tool[ray]'), retried when a node is lost")
    p.add_argument("--ray-address", metavar="ADDR",
                   help="with --engine ray: a running cluster (auto, HOST:PORT or ray://HOST:PORT; default: start "
                        "a local instance)")
    p.add_argument("--shard-size", type=int, default=16, metavar="N", help="with --engine ray: files per task (16)")
    p.add_argument("--cache", metavar="FILE",
                   help="SQLite cache of results by content hash (default: audit-cache.sqlite in PROVENANCE_HOME "
                        "or the user cache folder); a re-run skips what is done")
    p.add_argument("--no-cache", action="store_true", help="analyse every file, read and write no cache")
    p.add_argument("--allow-inside", action="store_true",
                   help="allow reports and --cache inside an audited folder (they are left out of the audit); "
                        "an existing file that is not a report is never overwritten")
    add_verify_options(p, fail_on=AUDIT_FAIL_ON)
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
