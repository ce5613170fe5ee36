"""``provenance watch``: stamp every new image in a generator's output folders, from its own metadata."""
from __future__ import annotations

import argparse
import sys

from ._base import EXIT_ERROR, EXIT_OK, UsageError, add_command, add_key_options, add_max_pixels, \
    add_registry_option, quality, signing_identity


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


def _record(args):
    from provenance import GenerationRecord

    record = GenerationRecord.from_json_file(args.params) if args.params else GenerationRecord()
    return record.merged(generator=args.generator)


def _printer(args):
    from provenance import dumps_json, printable

    def on_event(event) -> None:
        if args.json:
            sys.stdout.write(dumps_json(event.to_dict()) + "\n")
            sys.stdout.flush()
        if event.event == "stamped" and not args.json:
            tool = f"{event.generator}, " if event.generator else ""
            print(f"{printable(event.output or event.file)}: stamped from {printable(event.file)} "
                  f"({tool}content id {event.content_id})", flush=True)
            for p in event.published or ():
                if "manifest_id" in p:
                    print(f"  published to {p['endpoint']} as {p['manifest_id']}", flush=True)
        # errors are logged on stderr by the watcher; skips only with -v (and in --json)
    return on_event


def cmd_watch(args) -> int:
    import threading

    from provenance import open_registry
    from provenance.watch import Watcher, WatchOptions

    if bool(args.out_dir) == bool(args.in_place):
        raise UsageError("give one of --out-dir OUT and --in-place")
    if args.backup and not args.in_place:
        raise UsageError("--backup goes with --in-place")
    options = WatchOptions(dirs=args.dirs, out_dir=args.out_dir, in_place=args.in_place, backup=args.backup,
                           once=args.once, settle=args.settle, poll_interval=args.poll_interval,
                           backend="poll" if args.poll else "auto", record=_record(args), method=args.method,
                           quality=args.quality, max_pixels=args.max_pixels, exclude=tuple(args.exclude or ()),
                           publish=tuple(args.publish or ()), publish_token=_publish_token(args))
    identity = signing_identity(args)  # before watching: a missing key is an error now, not per file
    with open_registry(args.registry) as registry:
        watcher = Watcher(options, identity=identity, registry=registry, on_event=_printer(args))
        try:
            watcher.start()
            if not args.once:
                print(f"provenance: watching {', '.join(map(str, watcher.roots))} ({watcher.backend}); "
                      "Ctrl-C stops", file=sys.stderr)
            counts = watcher.run(threading.Event())
        finally:  # Ctrl-C included: the observer thread stops, the registry closes
            watcher.close()
    if args.once:
        unpublished = f", {watcher.unpublished} not published" if args.publish else ""
        print(f"provenance: {counts['stamped']} stamped, {counts['skipped']} skipped, {counts['error']} failed"
              f"{unpublished}", file=sys.stderr)
    return EXIT_ERROR if counts["error"] or watcher.unpublished else EXIT_OK


def _publish_token(args) -> str | None:
    from provenance._publish import publish_token

    if not args.publish:
        return None
    for url in args.publish:
        if not url.startswith(("http://", "https://")):
            raise UsageError(f"--publish {url}: give an http:// or https:// URL")
    return publish_token(args.publish_token_file)


def register(commands) -> None:
    from provenance.watermark import DEFAULT_METHOD, method_names

    p = add_command(commands, "watch", cmd_watch,
                    "stamp every new image saved under the folders (A1111/Forge, ComfyUI, InvokeAI, Fooocus "
                    "outputs), from the generation record the tool wrote into it",
                    "provenance watch ~/ComfyUI/output --out-dir ~/stamped\n"
                    "  provenance watch ~/ComfyUI/output --out-dir ~/stamped --publish https://credentials.example.org "
                    "--publish-token-file ~/.publish-token")
    p.add_argument("dirs", nargs="+", metavar="DIR", help="folders to watch, recursively")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--out-dir", metavar="OUT",
                       help="write stamped copies here, mirroring the folders' layout (the originals stay as they are)")
    where.add_argument("--in-place", action="store_true",
                       help="replace each file by its stamped self, atomically (PNG, JPEG, WebP)")
    p.add_argument("--backup", action="store_true", help="with --in-place: keep each original as NAME.bak")
    from .stamp import add_publish_options

    add_publish_options(p)
    p.add_argument("--once", action="store_true",
                   help="stamp what is there now, then exit (1 if any file failed)")
    p.add_argument("--exclude", action="append", metavar="GLOB",
                   help="leave alone files or folders matching this (repeatable; matched against the path under "
                        "the watched folder and each of its parts), e.g. thumbnails, '*-grids'")
    p.add_argument("--params", help="JSON file of record fields put over each file's own metadata")
    p.add_argument("--generator", help="the tool, for files that do not say (Fooocus saves no metadata by default)")
    p.add_argument("--settle", type=_seconds, default=0.5, metavar="S",
                   help="seconds a file's size must stay the same before it is read (default 0.5); it must "
                        "also be a whole image that decodes")
    p.add_argument("--poll", action="store_true",
                   help="poll instead of inotify (network file systems, where inotify misses remote writes)")
    p.add_argument("--poll-interval", type=_seconds, default=1.0, metavar="S",
                   help="seconds between scans when polling (default 1)")
    p.add_argument("--method", default=DEFAULT_METHOD, choices=method_names(), help="watermark method")
    p.add_argument("--quality", type=quality, default=95, help="JPEG/WebP quality 1-100 (default 95)")
    add_max_pixels(p)
    add_registry_option(p)
    add_key_options(p)
    p.add_argument("--json", action="store_true",
                   help="one JSON line per file on stdout: stamped, skipped (with the reason) or error")
